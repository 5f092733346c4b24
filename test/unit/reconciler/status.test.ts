import { describe, expect, it } from 'vitest';
import { appFailureReason, converged, issueRow, podStatusRow, stepReason } from '../../../src/reconciler/status.js';
import type { PodRecord } from '../../../src/reconciler/records.js';

function record(over: Partial<PodRecord> = {}): PodRecord {
  return {
    version: 1,
    uid: 'u1',
    key: 'default/web',
    namespace: 'default',
    name: 'web',
    hash: 'h',
    source: { file: '/specs/web.yaml', doc: 0, line: 1, column: 1 },
    pod: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        containers: [
          { name: 'a', image: 'img' },
          { name: 'b', image: 'img' },
        ],
        restartPolicy: 'Always',
        terminationGracePeriodSeconds: 30,
        hostNetwork: false,
      },
    },
    networks: [],
    createdAt: 1_000,
    updatedAt: 1_000,
    phase: 'running',
    lastError: null,
    netns: '/run/netns/berth-u1',
    attachments: [{ network: 'podnet', interface: 'eth0', ips: ['10.87.0.5/16'] }],
    initDone: true,
    apps: {
      a: { image: 'img', containerId: 'berth-u1-a', state: 'running', restartCount: 0 },
      b: { image: 'img', containerId: 'berth-u1-b', state: 'running', restartCount: 1 },
    },
    ...over,
  };
}

const running = (pid: number) => ({ containerId: 'x', state: 'running' as const, pid });

describe('pod status (kubectl words)', () => {
  it('is Running with every app running', () => {
    const row = podStatusRow(record(), { a: running(10), b: running(11) });
    expect(row).toMatchObject({ status: 'Running', ready: '2/2', restarts: 1, ips: ['10.87.0.5'] });
    expect(row.networks).toEqual([{ name: 'podnet', interface: 'eth0', ips: ['10.87.0.5/16'] }]);
    expect(row.apps.map((a) => a.pid)).toEqual([10, 11]);
    expect(converged(row)).toBe(true);
  });

  it('is CrashLoopBackOff while an app waits to be restarted', () => {
    const rec = record();
    rec.apps.b = { ...rec.apps.b!, state: 'backoff', backoffMs: 10_000, restartCount: 2, lastExit: { exitCode: 1, finishedAt: 5 } };
    const row = podStatusRow(rec, { a: running(10), b: { containerId: 'x', state: 'exited', exitCode: 1, startedAt: 1 } });
    expect(row).toMatchObject({ status: 'CrashLoopBackOff', ready: '1/2', restarts: 2, reason: 'CrashLoopBackOff' });
    expect(row.message).toContain('exit code 1');
    expect(converged(row)).toBe(false);
  });

  it('is ErrImagePull, then ImagePullBackOff', () => {
    const err = { step: 'pull', code: 'Unavailable', message: 'registry down' };
    expect(podStatusRow(record({ phase: 'stepFailed', lastError: err }), {}).status).toBe('ErrImagePull');
    expect(podStatusRow(record({ phase: 'setupBackoff', lastError: err }), {}).status).toBe('ImagePullBackOff');
  });

  it("gives a failed setup step kubectl's reason word, never the step name", () => {
    const at = (phase: PodRecord['phase'], step: string, code = 'Unavailable') =>
      podStatusRow(record({ phase, lastError: { step, code, message: 'why' } }), {});
    expect(at('stepFailed', 'pull')).toMatchObject({ status: 'ErrImagePull', reason: 'ErrImagePull', message: 'why' });
    expect(at('setupBackoff', 'render')).toMatchObject({ status: 'ImagePullBackOff', reason: 'ImagePullBackOff' });
    expect(at('setupBackoff', 'sandbox')).toMatchObject({ status: 'ContainerCreating', reason: 'FailedCreatePodSandBox' });
    expect(at('setupBackoff', 'attach')).toMatchObject({ status: 'ContainerCreating', reason: 'FailedCreatePodSandBox' });
    expect(at('setupBackoff', 'init')).toMatchObject({ reason: 'CreateContainerError' });
    expect(at('failed', 'pull', 'PermissionDenied')).toMatchObject({ status: 'ErrImagePull', reason: 'ErrImagePull' });
    expect(at('failed', 'deadline', 'DeadlineExceeded')).toMatchObject({ status: 'DeadlineExceeded', reason: 'DeadlineExceeded' });
    expect(at('failed', 'init', 'InitFailed')).toMatchObject({ status: 'Error', reason: 'Error' });
    expect(stepReason({ step: 'teardown', code: 'Unavailable' })).toBe('FailedKillPod');
    expect(stepReason({ step: 'init', code: 'InvalidArgument', reason: 'CreateContainerConfigError' })).toBe('CreateContainerConfigError');
  });

  it("names the app whose start failed in the message; the reason is the kubelet's word", () => {
    expect(appFailureReason({ state: 'backoff', lastError: { reason: 'ErrImagePull' } })).toBe('ImagePullBackOff');
    expect(appFailureReason({ state: 'failed', lastError: { reason: 'ErrImagePull' } })).toBe('ErrImagePull');
    expect(appFailureReason({ state: 'backoff', lastError: {} })).toBe('CreateContainerError');
    expect(appFailureReason({ state: 'failed', lastError: { reason: 'CreateContainerConfigError' } })).toBe('CreateContainerConfigError');
    expect(appFailureReason({ state: 'backoff', lastError: null, backoffMs: 10_000 })).toBe('CrashLoopBackOff');
    expect(appFailureReason({ state: 'running', lastError: null })).toBeNull();
  });

  it('is Completed when every app exited 0 under OnFailure', () => {
    const rec = record();
    rec.pod.spec.restartPolicy = 'OnFailure';
    const exited = { containerId: 'x', state: 'exited' as const, exitCode: 0, startedAt: 1 };
    expect(podStatusRow(rec, { a: exited, b: exited }).status).toBe('Completed');
  });

  it('is what the host shows once an app is seen, whatever setup phase the record was left in', () => {
    const rec = record({ phase: 'setupBackoff', lastError: { step: 'pull', code: 'Unavailable', message: 'no such layout' } });
    expect(podStatusRow(rec, { a: running(10), b: running(11) })).toMatchObject({ status: 'Running', ready: '2/2', message: null });
    // nothing seen yet: the record tells how far setup got
    expect(podStatusRow(rec, {}).status).toBe('ImagePullBackOff');
  });

  it('shows an execution that exited before it was started (the agent killed in its start) as waiting, not as an exit', () => {
    const rec = record();
    rec.apps.b = { ...rec.apps.b!, state: 'starting' };
    const row = podStatusRow(rec, { a: running(10), b: { containerId: 'x', state: 'exited', exitCode: 255 } });
    expect(row).toMatchObject({ status: 'ContainerCreating', ready: '1/2' });
    expect(row.apps[1]).toMatchObject({ state: 'waiting', reason: 'ContainerCreating', exitCode: null });
  });

  it("is ImagePullBackOff when an app's restart waits for its image", () => {
    const rec = record();
    rec.apps.b = {
      ...rec.apps.b!,
      state: 'backoff',
      backoffMs: 1000,
      lastError: { code: 'Unavailable', message: 'no such layout', reason: 'ErrImagePull' },
    };
    const row = podStatusRow(rec, { a: running(10), b: { containerId: 'x', state: 'exited', exitCode: 1, startedAt: 1 } });
    expect(row).toMatchObject({ status: 'ImagePullBackOff', reason: 'ImagePullBackOff', message: 'app b: no such layout' });
  });

  it('takes the network from the host when given: no netns handle, no address', () => {
    const row = podStatusRow(record(), { a: running(10), b: running(11) }, undefined, {
      netns: null,
      attachments: [{ network: 'podnet', interface: 'eth0', ips: [] }],
    });
    expect(row).toMatchObject({ netns: null, ips: [], networks: [{ name: 'podnet', interface: 'eth0', ips: [] }] });
  });

  it('is InvalidSpec with file and line when the current document is bad', () => {
    const row = podStatusRow(
      record(),
      { a: running(1), b: running(2) },
      { severity: 'error', file: '/specs/web.yaml', line: 8, column: 7, path: 'spec.containers[0]', message: 'unknown field "comand"' },
    );
    expect(row.status).toBe('InvalidSpec');
    expect(row.message).toBe('/specs/web.yaml:8:7: spec.containers[0]: unknown field "comand" (the last good spec keeps running)');
  });

  it('has rows for inputs that never applied', () => {
    expect(
      issueRow({ severity: 'error', file: '/s/x.yaml', line: 3, path: 'metadata', message: 'duplicate', key: 'ns1/x' }, 'Conflict'),
    ).toMatchObject({
      namespace: 'ns1',
      name: 'x',
      status: 'Conflict',
      uid: null,
    });
  });
});
