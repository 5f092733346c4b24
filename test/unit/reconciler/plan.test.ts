import { describe, expect, it } from 'vitest';
import { diff, formatPlan, hasChanges } from '../../../src/reconciler/plan.js';
import type { PodRecord } from '../../../src/reconciler/records.js';
import type { DesiredSet, LoadedPod } from '../../../src/api/types.js';

const pod = (name: string, hash: string, file = `/specs/${name}.yaml`): LoadedPod => ({
  kind: 'Pod',
  key: `default/${name}`,
  namespace: 'default',
  name,
  hash,
  source: { file, doc: 0, line: 1, column: 1 },
  networks: [],
  pod: {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      containers: [{ name: 'main', image: 'oci:/img' }],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      hostNetwork: false,
    },
  },
});

const rec = (p: LoadedPod, uid: string): PodRecord => ({
  version: 1,
  uid,
  key: p.key,
  namespace: p.namespace,
  name: p.name,
  hash: p.hash,
  source: p.source,
  pod: p.pod,
  networks: [],
  createdAt: 0,
  updatedAt: 0,
  phase: 'running',
  lastError: null,
  netns: null,
  attachments: [],
  initDone: true,
  apps: { main: { image: 'oci:/img', containerId: `berth-${uid}-main` } },
});

const desired = (pods: LoadedPod[], extra: Partial<DesiredSet> = {}): DesiredSet => ({
  pods,
  networks: [],
  conflicts: [],
  issues: [],
  invalidKeys: [],
  invalidFiles: [],
  ...extra,
});

const uidOf = (p: LoadedPod) => `uid-${p.name}-${p.hash}`;

describe('diff (desired vs applied)', () => {
  it('creates new pods, keeps unchanged ones, deletes removed ones', () => {
    const a = pod('a', 'h1');
    const b = pod('b', 'h1');
    const gone = pod('gone', 'h1');
    const plan = diff(desired([a, b]), [rec(a, uidOf(a)), rec(gone, uidOf(gone))], uidOf);
    expect(plan).toEqual([
      { action: 'keep', key: 'default/a', uid: 'uid-a-h1', pod: a, invalid: false },
      { action: 'create', key: 'default/b', uid: 'uid-b-h1', pod: b },
      { action: 'delete', key: 'default/gone', uid: 'uid-gone-h1', reason: 'removed' },
    ]);
    expect(hasChanges(plan)).toBe(true);
  });

  it('replaces a pod whose spec changed (stop, then start again)', () => {
    const old = pod('a', 'h1');
    const now = pod('a', 'h2');
    expect(diff(desired([now]), [rec(old, uidOf(old))], uidOf)).toEqual([
      { action: 'update', key: 'default/a', uid: 'uid-a-h2', oldUid: 'uid-a-h1', pod: now, fields: [] },
    ]);
  });

  it('restarts only the apps whose container spec changed when the pod-level spec is the same (same uid)', () => {
    const old = pod('a', 'h1');
    const now = pod('a', 'h2');
    now.pod = {
      ...now.pod,
      spec: { ...now.pod.spec, containers: [{ name: 'main', image: 'oci:/img2', env: [{ name: 'X', value: '1' }] }] },
    };
    const sameUid = () => 'uid-a';
    const plan = diff(desired([now]), [rec(old, 'uid-a')], sameUid);
    expect(plan).toEqual([
      { action: 'update-apps', key: 'default/a', uid: 'uid-a', pod: now, apps: [{ name: 'main', fields: ['env', 'image'] }] },
    ]);
    expect(formatPlan(plan)).toEqual([
      'restart app  default/a/main  (container spec changed: env, image; the pod and its other apps keep running)',
    ]);
    expect(hasChanges(plan)).toBe(true);
  });

  it('keeps a pod applied under an older uid scheme when its content is the same', () => {
    const a = pod('a', 'h1');
    expect(diff(desired([a]), [rec(a, 'legacy-uid')], uidOf)).toEqual([
      { action: 'keep', key: 'default/a', uid: 'legacy-uid', pod: a, invalid: false },
    ]);
  });

  it('names the pod-level fields that changed', () => {
    const old = pod('a', 'h1');
    const now = pod('a', 'h2');
    now.pod = { ...now.pod, metadata: { ...now.pod.metadata, labels: { x: 'y' } }, spec: { ...now.pod.spec, hostNetwork: true } };
    const [a] = diff(desired([now]), [rec(old, uidOf(old))], uidOf);
    expect(a).toMatchObject({ action: 'update', fields: ['metadata.labels', 'spec.hostNetwork'] });
    expect(formatPlan([a!])[0]).toContain('pod-level spec changed: metadata.labels, spec.hostNetwork;');
  });

  it('keeps the last good spec running when the document became invalid', () => {
    const a = pod('a', 'h1');
    expect(diff(desired([], { invalidKeys: ['default/a'] }), [rec(a, 'u1')], uidOf)).toEqual([
      { action: 'keep', key: 'default/a', uid: 'u1', invalid: true },
    ]);
  });

  it('keeps pods of a file that failed to parse as a whole', () => {
    const a = pod('a', 'h1', '/specs/broken.yaml');
    const plan = diff(desired([], { invalidFiles: ['/specs/broken.yaml'] }), [rec(a, 'u1')], uidOf);
    expect(plan.map((x) => x.action)).toEqual(['keep']);
    expect(hasChanges(plan)).toBe(false);
  });

  it('removes duplicates left by an interrupted update', () => {
    const a1 = pod('a', 'h1');
    const a2 = pod('a', 'h2');
    const plan = diff(desired([a2]), [rec(a1, uidOf(a1)), rec(a2, uidOf(a2))], uidOf);
    expect(plan.map((x) => x.action)).toEqual(['delete', 'keep']);
  });

  it.each([
    ['Always', 0, true],
    ['Always', 1, true],
    ['OnFailure', 0, false],
    ['OnFailure', 2, true],
    ['Never', 1, false],
  ] as const)('plans an app restart under %s after exit %i: %s', (policy, code, restart) => {
    const a = pod('a', 'h1');
    a.pod.spec.restartPolicy = policy;
    const plan = diff(desired([a]), [rec(a, uidOf(a))], uidOf, { [uidOf(a)]: { main: { state: 'exited', exitCode: code } } });
    expect(plan.some((x) => x.action === 'restart-app')).toBe(restart);
  });

  it('prints a plan line per change', () => {
    const lines = formatPlan([
      { action: 'create', key: 'default/b', uid: 'u2', pod: pod('b', 'h') },
      { action: 'delete', key: 'default/c', uid: 'u3', reason: 'removed' },
      { action: 'restart-app', key: 'default/a', uid: 'u1', app: 'main', exitCode: 1 },
    ]);
    expect(lines).toEqual([
      'create  default/b  (/specs/b.yaml, uid u2)',
      'delete  default/c  (spec removed, uid u3)',
      'restart app  default/a/main  (exited with code 1)',
    ]);
  });
});
