/**
 * The pure parts of the volume sources: downwardAPI file contents (the kubelet's formats),
 * the fsGroup decision and modes, the emptyDir backings and sizes, and the API server's
 * checks of downwardAPI items.
 */
import { describe, expect, it } from 'vitest';
import { downwardApiFiles, formatMap, goQuote, resourceValue, type NodeAllocatable } from '../../../src/reconciler/downward-api.js';
import { backingOf, diskImageBytes, memoryVolumeBytes, podMemoryLimit } from '../../../src/reconciler/emptydir.js';
import { fsGroupMode, needsOwnershipChange } from '../../../src/runtime/volume-ownership.js';
import { parseFile } from '../../../src/api/parse.js';
import type { Container, Pod } from '../../../src/api/pod.js';

const node: NodeAllocatable = { cpuCores: 2, memoryBytes: 8 * 2 ** 30, ephemeralStorageBytes: 100 * 2 ** 30 };
const id = { name: 'web', namespace: 'shop', uid: '1234-abcd' };
const c = (name: string, resources?: Container['resources'], extra: Record<string, unknown> = {}) =>
  ({ name, image: 'busybox', ...(resources ? { resources } : {}), ...extra }) as Container;
const pod = (spec: Partial<Pod['spec']>, metadata: Partial<Pod['metadata']> = {}): Pod =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'shop', ...metadata },
    spec: { containers: [c('app')], ...spec },
  }) as Pod;

describe('downwardAPI files', () => {
  it('labels and annotations as the kubelet formats them: sorted key="quoted" lines, no final newline', () => {
    expect(formatMap({ tier: 'front', app: 'web', 'a.b/c': 'x"y\\z\nw' })).toBe('a.b/c="x\\"y\\\\z\\nw"\napp="web"\ntier="front"');
    expect(formatMap(undefined)).toBe('');
    expect(goQuote('tab\there é\u0007')).toBe('"tab\\there é\\a"');
  });

  it('renders every supported field with modes and nested paths', () => {
    const p = pod(
      {
        containers: [c('app', { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '250m' } })],
        volumes: [
          {
            name: 'info',
            downwardAPI: {
              defaultMode: 0o600,
              items: [
                { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
                { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
                { path: 'meta/name', fieldRef: { fieldPath: 'metadata.name' } },
                { path: 'meta/namespace', fieldRef: { fieldPath: 'metadata.namespace' } },
                { path: './meta/uid', fieldRef: { fieldPath: 'metadata.uid' } },
                { path: 'tier', fieldRef: { fieldPath: "metadata.labels['tier']" }, mode: 0o444 },
                { path: 'cpu_limit', resourceFieldRef: { containerName: 'app', resource: 'limits.cpu', divisor: '1m' } },
                { path: 'cpu_limit_cores', resourceFieldRef: { containerName: 'app', resource: 'limits.cpu' } },
                { path: 'cpu_request', resourceFieldRef: { containerName: 'app', resource: 'requests.cpu', divisor: '1m' } },
                { path: 'mem_limit', resourceFieldRef: { containerName: 'app', resource: 'limits.memory', divisor: '1Mi' } },
                { path: 'mem_request', resourceFieldRef: { containerName: 'app', resource: 'requests.memory' } },
              ],
            },
          },
        ],
      },
      { labels: { tier: 'front', app: 'web' }, annotations: { note: 'hi' } },
    );
    const files = downwardApiFiles(p, p.spec.volumes![0]!, id, node);
    expect(Object.fromEntries(files.map((f) => [f.path, [f.data, f.mode.toString(8)]]))).toEqual({
      labels: ['app="web"\ntier="front"', '600'],
      annotations: ['note="hi"', '600'],
      'meta/name': ['web', '600'],
      'meta/namespace': ['shop', '600'],
      'meta/uid': ['1234-abcd', '600'],
      tier: ['front', '444'],
      cpu_limit: ['500', '600'],
      cpu_limit_cores: ['1', '600'], // rounded up, as the kubelet does
      cpu_request: ['250', '600'],
      mem_limit: ['64', '600'],
      mem_request: [String(64 * 2 ** 20), '600'], // requests default to limits
    });
  });

  it('unset limits are the node allocatable, unset requests without a limit are 0; default mode 0644', () => {
    const app = c('app');
    expect(resourceValue(app, 'limits.cpu', undefined, node)).toBe('2');
    expect(resourceValue(app, 'limits.memory', '1Gi', node)).toBe('8');
    expect(resourceValue(app, 'limits.ephemeral-storage', '1Gi', node)).toBe('100');
    expect(resourceValue(app, 'requests.cpu', '1m', node)).toBe('0');
    const p = pod({ volumes: [{ name: 'i', downwardAPI: { items: [{ path: 'n', fieldRef: { fieldPath: 'metadata.name' } }] } }] });
    expect(downwardApiFiles(p, p.spec.volumes![0]!, id, node)[0]!.mode).toBe(0o644);
  });

  it('refuses paths that leave the volume, even when validation was skipped', () => {
    for (const path of ['../x', '/etc/x', 'a/../../x', '..data/x']) {
      const p = pod({ volumes: [{ name: 'i', downwardAPI: { items: [{ path, fieldRef: { fieldPath: 'metadata.name' } }] } }] });
      expect(() => downwardApiFiles(p, p.spec.volumes![0]!, id, node), path).toThrow(/downwardAPI volume "i": path/);
    }
  });
});

describe('downwardAPI validation (as the API server)', () => {
  const yaml = (items: string) =>
    [
      'apiVersion: v1',
      'kind: Pod',
      'metadata: {name: p}',
      'spec:',
      '  containers: [{name: app, image: busybox}]',
      `  volumes: [{name: i, downwardAPI: {items: ${items}}}]`,
      '',
    ].join('\n');
  const errs = (items: string) =>
    parseFile(yaml(items), 'a.yaml')
      .issues.filter((i) => i.severity === 'error')
      .map((i) => `${i.path}: ${i.message}`);

  it('accepts the supported fields', () => {
    expect(
      errs(
        '[{path: l, fieldRef: {fieldPath: metadata.labels}}, {path: t, fieldRef: {fieldPath: "metadata.annotations[\'a\']"}}, {path: c, resourceFieldRef: {containerName: app, resource: limits.cpu, divisor: 1m}}]',
      ),
    ).toEqual([]);
  });

  it.each([
    ['[{path: ../x, fieldRef: {fieldPath: metadata.name}}]', "spec.volumes[0].downwardAPI.items[0].path: must not contain '..'"],
    ['[{path: ..x, fieldRef: {fieldPath: metadata.name}}]', "spec.volumes[0].downwardAPI.items[0].path: must not start with '..'"],
    ['[{path: /x, fieldRef: {fieldPath: metadata.name}}]', 'spec.volumes[0].downwardAPI.items[0].path: must be a relative path'],
    [
      '[{path: x, fieldRef: {fieldPath: status.podIP}}]',
      'spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath: "status.podIP" is not supported in a downwardAPI volume',
    ],
    [
      '[{path: x, resourceFieldRef: {resource: limits.cpu}}]',
      'spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName: required in a downwardAPI volume',
    ],
    ['[{path: x, resourceFieldRef: {containerName: nope, resource: limits.cpu}}]', 'no container named "nope" in the pod'],
    [
      '[{path: x, resourceFieldRef: {containerName: app, resource: limits.cpu, divisor: 1Mi}}]',
      'divisor: must be one of 1m, 1 for limits.cpu',
    ],
    ['[{path: x}]', 'give exactly one of fieldRef and resourceFieldRef'],
  ])('refuses %s', (items, message) => {
    expect(errs(items).join('\n')).toContain(message);
  });

  it('emptyDir medium HugePages is refused with the reason', () => {
    const text = [
      'apiVersion: v1',
      'kind: Pod',
      'metadata: {name: p}',
      'spec:',
      '  containers: [{name: app, image: busybox}]',
      '  volumes: [{name: h, emptyDir: {medium: HugePages-2Mi}}]',
      '',
    ].join('\n');
    const issues = parseFile(text, 'a.yaml').issues.filter((i) => i.severity === 'error');
    expect(issues.map((i) => [i.path, i.message])).toEqual([
      [
        'spec.volumes[0].emptyDir.medium',
        expect.stringContaining('medium HugePages-2Mi is not supported by berth: berth does not reserve huge pages'),
      ],
    ]);
  });

  it('image volumes, downwardAPI volumes and fsGroupChangePolicy are accepted', () => {
    const text = [
      'apiVersion: v1',
      'kind: Pod',
      'metadata: {name: p}',
      'spec:',
      '  securityContext: {fsGroup: 2000, fsGroupChangePolicy: OnRootMismatch}',
      '  containers: [{name: app, image: busybox, volumeMounts: [{name: img, mountPath: /img}]}]',
      '  volumes: [{name: img, image: {reference: busybox, pullPolicy: IfNotPresent}}, {name: d, downwardAPI: {items: [{path: n, fieldRef: {fieldPath: metadata.name}}]}}]',
      '',
    ].join('\n');
    const parsed = parseFile(text, 'a.yaml');
    expect(parsed.issues.filter((i) => i.severity === 'error')).toEqual([]);
    expect(parsed.pods).toHaveLength(1);
  });
});

describe('fsGroup ownership decision (kubelet SetVolumeOwnership)', () => {
  it('Always changes every time; OnRootMismatch only when the root lacks the group, the bits or setgid', () => {
    const ok = { gid: 2000, mode: 0o42770, isDir: true };
    expect(needsOwnershipChange(ok, 2000, 'Always')).toBe(true);
    expect(needsOwnershipChange(ok, 2000, 'OnRootMismatch')).toBe(false);
    expect(needsOwnershipChange({ ...ok, gid: 0 }, 2000, 'OnRootMismatch')).toBe(true);
    expect(needsOwnershipChange({ ...ok, mode: 0o40770 }, 2000, 'OnRootMismatch')).toBe(true); // no setgid
    expect(needsOwnershipChange({ ...ok, mode: 0o42750 }, 2000, 'OnRootMismatch')).toBe(true); // no group write
    expect(needsOwnershipChange({ ...ok, mode: 0o42550 }, 2000, 'OnRootMismatch', true)).toBe(false); // read-only volume: r-x is enough
    expect(needsOwnershipChange({ ...ok, isDir: false }, 2000, 'OnRootMismatch')).toBe(true);
  });

  it('modes: files get group rw (read-only: r), directories also search and setgid', () => {
    expect(fsGroupMode(0o644, false, false).toString(8)).toBe('664');
    expect(fsGroupMode(0o600, false, true).toString(8)).toBe('640');
    expect(fsGroupMode(0o755, true, false).toString(8)).toBe('2775');
    expect(fsGroupMode(0o777, true, false).toString(8)).toBe('2777');
    expect(fsGroupMode(0o4755, false, false).toString(8)).toBe('4775');
  });
});

describe('emptyDir backings', () => {
  it('medium Memory: the smallest of node memory, the pod limit (when every container has one) and sizeLimit', () => {
    const v = (sizeLimit?: string) => ({ name: 'm', emptyDir: { medium: 'Memory' as const, ...(sizeLimit ? { sizeLimit } : {}) } });
    const limited = pod({ containers: [c('a', { limits: { memory: '64Mi' } }), c('b', { limits: { memory: '32Mi' } })] });
    expect(podMemoryLimit(limited)).toBe(96 * 2 ** 20);
    expect(memoryVolumeBytes(limited, v(), 2 ** 30)).toBe(96 * 2 ** 20);
    expect(memoryVolumeBytes(limited, v('16Mi'), 2 ** 30)).toBe(16 * 2 ** 20);
    expect(memoryVolumeBytes(limited, v('1Gi'), 2 ** 30)).toBe(96 * 2 ** 20); // sizeLimit above the pod's limit: the limit
    const partly = pod({ containers: [c('a', { limits: { memory: '64Mi' } }), c('b')] });
    expect(podMemoryLimit(partly)).toBeUndefined();
    expect(memoryVolumeBytes(partly, v(), 2 ** 30)).toBe(2 ** 30);
    // init containers run alone (their peak counts), sidecars run beside the apps (they add up)
    const withInit = pod({
      containers: [c('a', { limits: { memory: '64Mi' } })],
      initContainers: [c('i', { limits: { memory: '128Mi' } }), c('s', { limits: { memory: '16Mi' } }, { restartPolicy: 'Always' })],
    });
    expect(podMemoryLimit(withInit)).toBe(128 * 2 ** 20);
    expect(backingOf(limited, v('8Mi'))).toEqual({ kind: 'tmpfs', bytes: 8 * 2 ** 20 });
  });

  it('on disk: a size-limited filesystem with sizeLimit, a directory without', () => {
    expect(backingOf(pod({}), { name: 'd', emptyDir: { sizeLimit: '10Mi' } })).toEqual({ kind: 'disk', limit: 10 * 2 ** 20 });
    expect(backingOf(pod({}), { name: 'd', emptyDir: {} })).toEqual({ kind: 'dir' });
    const img = diskImageBytes(10 * 2 ** 20);
    expect(img % 4096).toBe(0);
    expect(img).toBeGreaterThan(10 * 2 ** 20);
  });
});
