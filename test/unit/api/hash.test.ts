import { describe, expect, it } from 'vitest';
import { canonicalJson, parseFile } from '../../../src/api/index.js';
import { podYaml } from './helpers.js';

const hashOf = (text: string): string => {
  const { pods, issues } = parseFile(text, 'h.yaml');
  expect(issues).toEqual([]);
  return pods[0]!.hash;
};

const base = podYaml('web');

describe('LoadedPod.hash', () => {
  it('is a sha256 hex digest', () => {
    expect(hashOf(base)).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    [
      'keys in another order',
      'kind: Pod\nspec:\n  containers:\n    - image: busybox\n      name: app\nmetadata:\n  name: web\napiVersion: v1\n',
    ],
    [
      'flow style and comments',
      '# the web pod\n{apiVersion: v1, kind: Pod, metadata: {name: web}, spec: {containers: [{name: app, image: busybox}]}}\n',
    ],
    [
      'JSON',
      JSON.stringify({
        spec: { containers: [{ image: 'busybox', name: 'app' }] },
        metadata: { name: 'web' },
        kind: 'Pod',
        apiVersion: 'v1',
      }),
    ],
    [
      'defaults spelled out',
      podYaml('web', { namespace: 'default', spec: '  restartPolicy: Always\n  terminationGracePeriodSeconds: 30\n  hostNetwork: false' }),
    ],
  ])('is equal for the same content with %s', (_what, text) => {
    expect(hashOf(text)).toBe(hashOf(base));
  });

  it.each([
    ['the image', base.replace('image: busybox', 'image: busybox:1.36')],
    ['the name', podYaml('web2')],
    ['the namespace', podYaml('web', { namespace: 'other' })],
    ['the restart policy', podYaml('web', { spec: '  restartPolicy: Never' })],
    ['an annotation', podYaml('web', { annotation: 'podnet' })],
    ['a label', base.replace('  name: web', '  name: web\n  labels: {a: b}')],
    ['args', base.replace('image: busybox', 'image: busybox\n      args: [a]')],
    ['the order of args', base.replace('image: busybox', 'image: busybox\n      args: [b, a]')],
  ])('changes when %s changes', (_what, text) => {
    expect(hashOf(text)).not.toBe(hashOf(base));
  });
});

describe('canonicalJson', () => {
  it.each([
    [{ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } }, '{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}'],
    [{ a: undefined, b: [undefined] }, '{"b":[null]}'],
    ['x', '"x"'],
  ])('%j → %s', (value, json) => {
    expect(canonicalJson(value)).toBe(json);
  });
});
