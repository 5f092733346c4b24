/** kubectl's status words for pods with init containers and sidecars (printers.go printPod), from records and live states. */
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { containerId, podStatusRow, type PodRecord } from '../../../src/reconciler/index.js';
import { initWord } from '../../../src/reconciler/status.js';
import type { AppStatus } from '../../../src/runtime/types.js';
import { Pod } from '../../../src/api/pod.js';

const uid = '0000-words';
function rec(
  phase: PodRecord['phase'],
  apps: Record<string, Partial<PodRecord['apps'][string]>>,
  initDone = false,
  lastError: PodRecord['lastError'] = null,
): PodRecord {
  const pod = Pod.parse(
    YAML.parse(`apiVersion: v1
kind: Pod
metadata: {name: words}
spec:
  initContainers:
    - {name: proxy, image: "oci:/img:latest", restartPolicy: Always}
    - {name: setup, image: "oci:/img:latest"}
  containers: [{name: a, image: "oci:/img:latest"}]
`),
  );
  const all: PodRecord['apps'] = {};
  for (const n of ['proxy', 'setup', 'a'])
    all[n] = { image: 'oci:/img:latest', containerId: containerId(uid, n), restartCount: 0, ...apps[n] };
  return {
    version: 1,
    uid,
    key: 'default/words',
    namespace: 'default',
    name: 'words',
    hash: 'h',
    source: { file: 'w.yaml' } as PodRecord['source'],
    pod,
    networks: [],
    createdAt: 1,
    updatedAt: 1,
    phase,
    lastError,
    netns: null,
    attachments: [],
    initDone,
    apps: all,
  };
}
const running = (n: string): AppStatus => ({ containerId: containerId(uid, n), state: 'running', pid: 9, startedAt: 1 });
const exited = (n: string, exitCode: number): AppStatus => ({
  containerId: containerId(uid, n),
  state: 'exited',
  exitCode,
  startedAt: 1,
  finishedAt: 2,
});
const on = { state: 'running' as const, started: true, ready: true };

describe('status words with init containers', () => {
  it('Init:0/2 while the images are pulled, Init:ErrImagePull when that fails', () => {
    expect(podStatusRow(rec('pulling', {}), {}).status).toBe('Init:0/2');
    expect(podStatusRow(rec('setupBackoff', {}, false, { step: 'pull', code: 'Unavailable', message: 'registry down' }), {}).status).toBe(
      'Init:ImagePullBackOff',
    );
  });

  it('Init:0/2 while the sidecar runs but has not started (startup probe), Init:1/2 once it has', () => {
    expect(podStatusRow(rec('initializing', { proxy: { ...on, started: false, ready: false } }), { proxy: running('proxy') }).status).toBe(
      'Init:0/2',
    );
    const r = podStatusRow(rec('initializing', { proxy: on, setup: { state: 'running' } }), {
      proxy: running('proxy'),
      setup: running('setup'),
    });
    expect(r).toMatchObject({ status: 'Init:1/2', ready: '1/2' });
  });

  it('Init:Error after a failed run, Init:CrashLoopBackOff while it backs off; init restarts counted while initializing', () => {
    const failed = rec('initializing', {
      proxy: on,
      setup: { state: 'exited', lastExit: { exitCode: 2, finishedAt: 2 }, restartCount: 3 },
    });
    const r = podStatusRow(failed, { proxy: running('proxy'), setup: exited('setup', 2) });
    expect(r).toMatchObject({ status: 'Init:Error', reason: 'Error', restarts: 3 });
    const backoff = rec('initializing', {
      proxy: on,
      setup: { state: 'backoff', backoffMs: 20_000, lastExit: { exitCode: 2, finishedAt: 2 }, restartCount: 3 },
    });
    expect(podStatusRow(backoff, { proxy: running('proxy'), setup: exited('setup', 2) }).status).toBe('Init:CrashLoopBackOff');
  });

  it('PodInitializing once init is done and the apps are not started yet; then the apps decide', () => {
    const done = { proxy: on, setup: { state: 'succeeded' as const, lastExit: { exitCode: 0, finishedAt: 2 }, restartCount: 1 } };
    expect(podStatusRow(rec('running', { ...done, a: { state: 'starting' } }, true), { proxy: running('proxy') }).status).toBe(
      'PodInitializing',
    );
    const up = podStatusRow(rec('running', { ...done, a: on }, true), { proxy: running('proxy'), a: running('a') });
    // the completed init container's restart is not counted any more (kubectl)
    expect(up).toMatchObject({ status: 'Running', ready: '2/2', restarts: 0 });
    expect(up.initContainers.map((c) => [c.name, c.state, c.reason, c.sidecar])).toEqual([
      ['proxy', 'running', null, true],
      ['setup', 'terminated', 'Completed', false],
    ]);
  });

  it('initWord skips completed and started ones', () => {
    const base = {
      pid: null,
      restartCount: 0,
      image: 'i',
      imageDigest: null,
      startedAt: null,
      ready: false,
      started: false,
      exitCode: null,
    };
    expect(initWord([{ ...base, name: 'x', state: 'terminated', reason: 'Completed', exitCode: 0, sidecar: false }])).toBeNull();
    expect(initWord([{ ...base, name: 'x', state: 'terminated', reason: 'OOMKilled', exitCode: 137, sidecar: false }])).toBe(
      'Init:OOMKilled',
    );
  });
});
