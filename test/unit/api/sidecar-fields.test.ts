/** Pod fields of issue 9 items 3 and 6 that berth now honours: sidecars, activeDeadlineSeconds, readinessGates — accepted, and checked as the API server does. */
import { describe, expect, it } from 'vitest';
import { parseFile } from '../../../src/api/index.js';
import { errors, podYaml } from './helpers.js';

const parse = (spec: string) => parseFile(podYaml('p', { spec }), 'p.yaml');

describe('sidecars, activeDeadlineSeconds and readinessGates in the spec', () => {
  it('accepts them', () => {
    const f = parse(
      [
        '  activeDeadlineSeconds: 600',
        '  readinessGates: [{conditionType: example.com/lb-ready}, {conditionType: warm}]',
        '  initContainers:',
        '    - {name: proxy, image: busybox, restartPolicy: Always}',
        '    - {name: setup, image: busybox}',
      ].join('\n'),
    );
    expect(errors(f.issues)).toEqual([]);
  });

  it.each([
    ['an activeDeadlineSeconds of 0', '  activeDeadlineSeconds: 0', 'spec.activeDeadlineSeconds', 'must be at least 1'],
    [
      'a readiness gate that is not a qualified name',
      '  readinessGates: [{conditionType: "a//b"}]',
      'spec.readinessGates[0].conditionType',
      'a qualified name',
    ],
    [
      'an init container restartPolicy other than Always',
      '  initContainers: [{name: i, image: busybox, restartPolicy: OnFailure}]',
      'spec.initContainers[0].restartPolicy',
      'Always',
    ],
  ])('refuses %s', (_what, spec, path, message) => {
    const e = errors(parse(spec).issues);
    expect(e.map((i) => i.path)).toContain(path);
    expect(e.find((i) => i.path === path)?.message).toContain(message);
  });
});
