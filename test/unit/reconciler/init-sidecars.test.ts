/**
 * Init containers, sidecars, termination order and activeDeadlineSeconds (issue 9 items 2, 3,
 * 6): the pod machine with the real pod actors on the fake host, time from its SimulatedClock.
 */
import { rm } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createActor, waitFor, type Actor } from 'xstate';
import YAML from 'yaml';
import { silentLogger } from '../../../src/common/logger.js';
import { containerId, podStatusRow, type Layout, type PodRecord } from '../../../src/reconciler/index.js';
import { createPodActors, newResources } from '../../../src/reconciler/pod-actors.js';
import { isSidecar } from '../../../src/reconciler/pod-stop.js';
import { Pod } from '../../../src/api/pod.js';
import { podMachine, type PodAppInput } from '../../../src/state-machines/pod.machine.js';
import { fakeHost, tempLayout } from '../../fakes/host.js';

type F = ReturnType<typeof fakeHost>;

function recordOf(yaml: string): PodRecord {
  const pod = Pod.parse(YAML.parse(yaml));
  const uid = `0000-${pod.metadata.name}`;
  const apps: PodRecord['apps'] = {};
  for (const c of pod.spec.initContainers ?? []) apps[c.name] = { image: c.image, containerId: containerId(uid, c.name), init: true };
  for (const c of pod.spec.containers) apps[c.name] = { image: c.image, containerId: containerId(uid, c.name) };
  return {
    version: 1,
    uid,
    key: `default/${pod.metadata.name}`,
    namespace: 'default',
    name: pod.metadata.name,
    hash: 'h',
    source: { file: 'x.yaml' } as PodRecord['source'],
    pod,
    networks: [],
    createdAt: Date.now(),
    updatedAt: Date.now(),
    phase: 'pending',
    lastError: null,
    netns: null,
    attachments: [],
    initDone: false,
    apps,
  };
}

function startPod(f: F, rec: PodRecord, clock: F['clock'], extra: { deadlineMs?: number } = {}) {
  const apps: PodAppInput[] = [
    ...(rec.pod.spec.initContainers ?? []).map((c) => ({
      name: c.name,
      kind: isSidecar(c) ? ('sidecar' as const) : ('init' as const),
      restartCount: 0,
      backoffStep: 0,
      observed: { state: 'none' as const },
    })),
    ...rec.pod.spec.containers.map((c) => ({
      name: c.name,
      kind: 'app' as const,
      restartCount: 0,
      backoffStep: 0,
      observed: { state: 'none' as const },
    })),
  ];
  const machine = podMachine.provide({ actors: createPodActors(f.host, rec, newResources(), silentLogger()) });
  const actor = createActor(machine, {
    clock,
    input: { uid: rec.uid, key: rec.key, restartPolicy: rec.pod.spec.restartPolicy, apps, initDone: false, ...extra },
  });
  // keep the record as the worker does, for the status rows
  actor.subscribe((snap) => {
    rec.phase = (typeof snap.value === 'string' ? snap.value : Object.keys(snap.value)[0]) as PodRecord['phase'];
    rec.lastError = snap.context.lastError;
    rec.initDone = snap.context.initDone;
    for (const [n, s] of Object.entries(snap.context.apps)) rec.apps[n] = { ...rec.apps[n]!, ...s };
  });
  return actor.start();
}

const started = (f: F) => f.runtime.starts.map((s) => s.appName);
const until = (a: Actor<typeof podMachine>, fn: (s: ReturnType<Actor<typeof podMachine>['getSnapshot']>) => boolean) =>
  waitFor(a, fn, { timeout: 2000 });
const settle = () => new Promise((r) => setTimeout(r, 20));
async function rowOf(f: F, rec: PodRecord) {
  const live: Record<string, Awaited<ReturnType<F['runtime']['status']>>> = {};
  for (const c of [...(rec.pod.spec.initContainers ?? []), ...rec.pod.spec.containers])
    live[c.name] = await f.runtime.status(containerId(rec.uid, c.name));
  return podStatusRow(rec, live);
}

const pod = (name: string, body: string, extra = '') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 10
${extra}${body}`;
const c = (name: string, more = '') => `    - {name: ${name}, image: "oci:/img:latest", command: [sleep, "1000"]${more}}\n`;

describe('init containers and sidecars (pod machine, fake host)', () => {
  let root: string;
  let layout: Layout;
  let f: F;
  let actor: Actor<typeof podMachine> | undefined;

  beforeEach(async () => {
    ({ root, layout } = await tempLayout('berth-init-'));
    f = fakeHost(layout);
  });
  afterEach(async () => {
    actor?.stop();
    actor = undefined;
    await rm(root, { recursive: true, force: true });
  });

  it('runs init containers in order, each to completion, before the apps; status says Init:N/M', async () => {
    const rec = recordOf(pod('ordered', `  initContainers:\n${c('one')}${c('two')}  containers:\n${c('app')}`));
    const clock = f.clock;
    actor = startPod(f, rec, clock);
    await until(actor, () => started(f).length === 1);
    expect(started(f)).toEqual(['one']);
    expect((await rowOf(f, rec)).status).toBe('Init:0/2');
    f.runtime.exit(containerId(rec.uid, 'one'), 0);
    await until(actor, () => started(f).length === 2);
    await settle();
    expect(started(f)).toEqual(['one', 'two']);
    // a completed init container is removed (its log stays); the record keeps its exit
    expect(await f.runtime.status(containerId(rec.uid, 'one'))).toMatchObject({ state: 'unknown' });
    const row = await rowOf(f, rec);
    expect(row.status).toBe('Init:1/2');
    expect(row.initContainers[0]).toMatchObject({ name: 'one', state: 'terminated', exitCode: 0, reason: 'Completed' });
    expect(row.conditions.find((x) => x.type === 'Initialized')).toMatchObject({ status: 'False' });
    f.runtime.exit(containerId(rec.uid, 'two'), 0);
    await until(actor, (s) => s.value === 'running' && s.context.apps['app']?.state === 'running');
    expect(started(f)).toEqual(['one', 'two', 'app']);
    const up = await rowOf(f, rec);
    expect(up).toMatchObject({ status: 'Running', ready: '1/1' });
    expect(up.conditions.map((x) => `${x.type}=${x.status}`)).toEqual([
      'PodReadyToStartContainers=True',
      'Initialized=True',
      'Ready=True',
      'ContainersReady=True',
      'PodScheduled=True',
    ]);
  });

  it('restarts a failing init container alone with back-off (restartPolicy Always), not the pod set-up from the top', async () => {
    const rec = recordOf(pod('retry', `  initContainers:\n${c('setup')}  containers:\n${c('app')}`));
    const clock = f.clock;
    actor = startPod(f, rec, clock);
    await until(actor, () => started(f).length === 1);
    f.runtime.exit(containerId(rec.uid, 'setup'), 1);
    await until(actor, () => started(f).length === 2); // the first restart is immediate
    f.runtime.exit(containerId(rec.uid, 'setup'), 1);
    await until(actor, (s) => s.context.apps['setup']?.state === 'backoff');
    expect(actor.getSnapshot().context.apps['setup']).toMatchObject({ backoffMs: 10_000, restartCount: 1 });
    expect((await rowOf(f, rec)).status).toBe('Init:CrashLoopBackOff');
    await clock.advance(9_999);
    expect(started(f)).toEqual(['setup', 'setup']);
    await clock.advance(1);
    await until(actor, () => started(f).length === 3);
    f.runtime.exit(containerId(rec.uid, 'setup'), 0);
    await until(actor, (s) => s.context.apps['app']?.state === 'running');
    expect(started(f)).toEqual(['setup', 'setup', 'setup', 'app']);
    expect(f.images.pulls).toHaveLength(1); // no set-up from the top
    expect((await rowOf(f, rec)).initContainers[0]).toMatchObject({ restartCount: 2, exitCode: 0 });
  });

  it('fails the pod when an init container fails under restartPolicy Never: Init:Error, no app started', async () => {
    const rec = recordOf(pod('never', `  initContainers:\n${c('setup')}  containers:\n${c('app')}`, '  restartPolicy: Never\n'));
    const clock = f.clock;
    actor = startPod(f, rec, clock);
    await until(actor, () => started(f).length === 1);
    f.runtime.exit(containerId(rec.uid, 'setup'), 3);
    await until(actor, (s) => s.value === 'failed');
    expect(actor.getSnapshot().context.lastError).toMatchObject({ step: 'init', code: 'InitFailed' });
    expect(started(f)).toEqual(['setup']);
    const row = await rowOf(f, rec);
    expect(row.status).toBe('Init:Error');
    expect(row.initContainers[0]).toMatchObject({ state: 'terminated', exitCode: 3, reason: 'Error' });
  });

  it('starts sidecars in order, each once started, keeps them beside the apps and restarts a killed one', async () => {
    const rec = recordOf(pod('side', `  initContainers:\n${c('proxy', ', restartPolicy: Always')}${c('setup')}  containers:\n${c('app')}`));
    const clock = f.clock;
    actor = startPod(f, rec, clock);
    await until(actor, () => started(f).length === 2);
    expect(started(f)).toEqual(['proxy', 'setup']);
    expect((await rowOf(f, rec)).status).toBe('Init:1/2');
    f.runtime.exit(containerId(rec.uid, 'setup'), 0);
    await until(actor, (s) => s.context.apps['app']?.state === 'running');
    expect(await rowOf(f, rec)).toMatchObject({ status: 'Running', ready: '2/2' });
    f.runtime.exit(containerId(rec.uid, 'proxy'), 137);
    await until(actor, () => started(f).length === 4);
    expect(started(f)).toEqual(['proxy', 'setup', 'app', 'proxy']);
    await until(actor, (s) => s.context.apps['proxy']?.state === 'running');
    expect(actor.getSnapshot().value).toBe('running');
    expect(await rowOf(f, rec)).toMatchObject({ status: 'Running', ready: '2/2', restarts: 1 });
  });

  it('waits for a sidecar until its startup probe passed before the next init container (C4 started)', async () => {
    const probe = ', startupProbe: {exec: {command: [ready]}, periodSeconds: 1, failureThreshold: 30}, restartPolicy: Always';
    const rec = recordOf(pod('gated', `  initContainers:\n${c('proxy', probe)}${c('setup')}  containers:\n${c('app')}`));
    let ok = false;
    f.runtime.execHandler = () => ({ exitCode: ok ? 0 : 1, stdout: '', stderr: '', timedOut: false });
    const clock = f.clock;
    actor = startPod(f, rec, clock);
    await until(actor, (s) => s.context.apps['proxy']?.state === 'running');
    for (let i = 0; i < 3; i++) {
      await clock.advance(1000);
    }
    expect(f.runtime.execs.length).toBeGreaterThan(0);
    expect(started(f)).toEqual(['proxy']);
    expect((await rowOf(f, rec)).status).toBe('Init:0/2');
    ok = true;
    for (let i = 0; i < 3 && !started(f).includes('setup'); i++) {
      await clock.advance(1000);
    }
    await until(actor, () => started(f).includes('setup'));
    expect(started(f)).toEqual(['proxy', 'setup']);
  });

  it('stops the apps in parallel, then the sidecars in reverse order', async () => {
    const rec = recordOf(
      pod(
        'order',
        `  initContainers:\n${c('s1', ', restartPolicy: Always')}${c('s2', ', restartPolicy: Always')}  containers:\n${c('a')}${c('b')}`,
      ),
    );
    const clock = f.clock;
    actor = startPod(f, rec, clock);
    await until(actor, (s) => s.context.apps['a']?.state === 'running' && s.context.apps['b']?.state === 'running');
    actor.send({ type: 'pod.stop' });
    await until(actor, (s) => s.status === 'done');
    const order = f.runtime.stops.map((s) => s.containerId.slice(containerId(rec.uid, '').length));
    expect(order.slice(0, 2).sort()).toEqual(['a', 'b']);
    expect(order.slice(2)).toEqual(['s2', 's1']);
    expect(f.runtime.stops.every((s) => s.graceMs > 0 && s.graceMs <= 10_000)).toBe(true);
    expect(f.runtime.running()).toEqual([]);
  });

  it('ends the pod at activeDeadlineSeconds: apps killed, phase Failed, DeadlineExceeded event', async () => {
    const rec = recordOf(
      pod(
        'deadline',
        `  initContainers:\n${c('proxy', ', restartPolicy: Always')}  containers:\n${c('app')}`,
        '  activeDeadlineSeconds: 30\n',
      ),
    );
    const clock = f.clock;
    actor = startPod(f, rec, clock, { deadlineMs: 30_000 });
    await until(actor, (s) => s.context.apps['app']?.state === 'running');
    await clock.advance(29_999);
    expect(actor.getSnapshot().value).toBe('running');
    await clock.advance(1);
    await until(actor, (s) => s.value === 'failed');
    expect(actor.getSnapshot().context.lastError).toMatchObject({ step: 'deadline', code: 'DeadlineExceeded' });
    expect(f.runtime.running()).toEqual([]);
    expect(f.runtime.stops.map((s) => s.containerId)).toEqual([containerId(rec.uid, 'app'), containerId(rec.uid, 'proxy')]);
    expect(f.events.events).toContainEqual(
      expect.objectContaining({
        reason: 'DeadlineExceeded',
        type: 'Warning',
        message: 'Pod was active on the node longer than the specified deadline',
      }),
    );
    const row = await rowOf(f, rec);
    expect(row).toMatchObject({ status: 'DeadlineExceeded', reason: 'DeadlineExceeded' });
    // a restart is not a second chance
    await clock.advance(60_000);
    expect(f.runtime.starts).toHaveLength(2);
  });

  it('kills the sidecars once the apps completed (restartPolicy OnFailure) and completes', async () => {
    const rec = recordOf(
      pod('job', `  initContainers:\n${c('proxy', ', restartPolicy: Always')}  containers:\n${c('app')}`, '  restartPolicy: OnFailure\n'),
    );
    const clock = f.clock;
    actor = startPod(f, rec, clock);
    await until(actor, (s) => s.context.apps['app']?.state === 'running');
    f.runtime.exit(containerId(rec.uid, 'app'), 0);
    await until(actor, (s) => s.value === 'completed');
    expect(f.runtime.running()).toEqual([]);
    expect((await rowOf(f, rec)).status).toBe('Completed');
  });
});
