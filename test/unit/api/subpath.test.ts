/**
 * subPath and subPathExpr are local descending paths, as the API server checks them: never
 * absolute, never a `..` component, and not both on one mount.
 */
import { describe, expect, it } from 'vitest';
import { descendingPathProblem } from '../../../src/api/security.js';
import { parseFile } from '../../../src/api/index.js';
import { errors, podYaml } from './helpers.js';

const withMount = (mount: string): string =>
  podYaml('p', { spec: '  volumes: [{name: data, emptyDir: {}}]' }).replace(
    'image: busybox',
    `image: busybox\n      volumeMounts: [${mount}]`,
  );

describe('subPath validation', () => {
  it.each([
    ['{name: data, mountPath: /d, subPath: ../../../etc}', 'spec.containers[0].volumeMounts[0].subPath', "must not contain '..'"],
    ['{name: data, mountPath: /d, subPath: a/../../b}', 'spec.containers[0].volumeMounts[0].subPath', "must not contain '..'"],
    ['{name: data, mountPath: /d, subPath: /etc}', 'spec.containers[0].volumeMounts[0].subPath', 'must be a relative path'],
    ['{name: data, mountPath: /d, subPathExpr: "$(POD)/.."}', 'spec.containers[0].volumeMounts[0].subPathExpr', "must not contain '..'"],
    ['{name: data, mountPath: /d, subPathExpr: /$(POD)}', 'spec.containers[0].volumeMounts[0].subPathExpr', 'must be a relative path'],
    ['{name: data, mountPath: /d, subPath: a, subPathExpr: b}', 'spec.containers[0].volumeMounts[0].subPathExpr', 'mutually exclusive'],
  ])('refuses %s', (mount, path, message) => {
    const parsed = parseFile(withMount(mount), 's.yaml');
    expect(parsed.pods).toEqual([]);
    const issues = errors(parsed.issues);
    expect(issues.map((i) => i.path)).toEqual([path]);
    expect(issues[0]?.message).toContain(message);
    expect(issues[0]?.line).toBe(10);
  });

  it.each([
    '{name: data, mountPath: /d, subPath: a/b}',
    '{name: data, mountPath: /d, subPath: ./a..b/c}',
    '{name: data, mountPath: /d, subPathExpr: "logs/$(POD_NAME)"}',
  ])('accepts %s', (mount) => {
    const parsed = parseFile(withMount(mount), 's.yaml');
    expect(parsed.issues).toEqual([]);
    expect(parsed.pods).toHaveLength(1);
  });

  it('descendingPathProblem', () => {
    expect(descendingPathProblem(undefined)).toBeUndefined();
    expect(descendingPathProblem('')).toBeUndefined();
    expect(descendingPathProblem('..')).toBe("must not contain '..'");
    expect(descendingPathProblem('...')).toBeUndefined();
    expect(descendingPathProblem('/x')).toBe('must be a relative path');
  });
});
