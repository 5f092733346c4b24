/**
 * Agent restarts seen by the machines (issue 14 items 5 and 9): an execution that never
 * reached "started" is not an app exit, an exit already answered is not counted twice, and a
 * pod whose apps were seen on the host is adopted without pulling or rendering its images.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock, waitFor } from 'xstate';
import {
  appMachine,
  type AppExited,
  type AppMachineInput,
  type AppStarted,
  type AppStartInput,
} from '../../../src/state-machines/app.machine.js';
import {
  podMachine,
  type AttachOut,
  type PodMachineInput,
  type PodStepInput,
  type SandboxOut,
  type InitFinishInput,
  type PodKillInput,
} from '../../../src/state-machines/pod.machine.js';
import { BerthError } from '../../../src/common/errors.js';

const tick = () => new Promise((r) => setTimeout(r, 2));

function fakeApps(clock: SimulatedClock) {
  const starts: AppStartInput[] = [];
  const actors = {
    startApp: fromPromise<AppStarted, AppStartInput>(async ({ input }) => {
      starts.push(input);
      return { pid: 100 + starts.length, startedAt: clock.now() };
    }),
    waitExit: fromPromise<AppExited, { app: string }>(() => new Promise<AppExited>(() => undefined)),
  };
  return { starts, actors };
}

function app(input: Partial<AppMachineInput> & Pick<AppMachineInput, 'observed'>) {
  const clock = new SimulatedClock();
  const host = fakeApps(clock);
  const actor = createActor(appMachine.provide({ actors: host.actors }), {
    clock,
    input: { app: 'a', restartPolicy: 'Always', restartCount: 0, backoffStep: 0, ...input },
  }).start();
  return { clock, host, actor };
}

describe('app machine after an agent restart', () => {
  it('starts again, without counting a restart, an execution whose start was interrupted (exit 255, never started)', async () => {
    const { host, actor } = app({ restartCount: 2, backoffStep: 1, observed: { state: 'exited', exitCode: 255, finishedAt: 50 } });
    await tick();
    expect(host.starts).toEqual([{ app: 'a', execution: 2 }]);
    expect(actor.getSnapshot().matches('running')).toBe(true);
    expect(actor.getSnapshot().context.restartCount).toBe(2);
    actor.stop();
  });

  it('keeps the last real exit of the record when the interrupted execution is redone', async () => {
    const lastExit = { exitCode: 1, finishedAt: 40 };
    const { actor } = app({
      restartCount: 1,
      observed: { state: 'exited', exitCode: 137, finishedAt: 50 },
      recorded: { state: 'starting', lastExit },
    });
    await tick();
    expect(actor.getSnapshot().context.lastExit).toEqual(lastExit);
    expect(actor.getSnapshot().context.restartCount).toBe(1);
    actor.stop();
  });

  it('counts an exit of a started execution once', async () => {
    const { host, actor } = app({ restartCount: 0, observed: { state: 'exited', exitCode: 1, startedAt: 10, finishedAt: 50 } });
    await tick();
    expect(host.starts).toEqual([{ app: 'a', execution: 1 }]);
    expect(actor.getSnapshot().context.restartCount).toBe(1);
    actor.stop();
  });

  it('does not count again an exit whose restart the record already counted', async () => {
    const exit = { exitCode: 1, finishedAt: 50 };
    const { host, actor } = app({
      restartCount: 3,
      backoffStep: 2,
      observed: { state: 'exited', ...exit, startedAt: 10 },
      recorded: { state: 'starting', lastExit: exit },
    });
    await tick();
    expect(host.starts).toEqual([{ app: 'a', execution: 3 }]);
    expect(actor.getSnapshot().context).toMatchObject({ restartCount: 3, backoffStep: 2 });
    actor.stop();
  });

  it('resumes a back-off the record was waiting out, counting the restart once and the step not again', async () => {
    const exit = { exitCode: 1, finishedAt: 0 };
    const { clock, host, actor } = app({
      restartCount: 3,
      backoffStep: 2,
      observed: { state: 'exited', ...exit, startedAt: -100 },
      recorded: { state: 'backoff', lastExit: exit, backoffMs: 10_000 },
      now: 4_000,
    });
    await tick();
    expect(actor.getSnapshot().value).toBe('backoff');
    expect(actor.getSnapshot().context.backoffMs).toBe(6_000);
    clock.increment(6_000);
    await tick();
    expect(host.starts).toEqual([{ app: 'a', execution: 4 }]);
    expect(actor.getSnapshot().context).toMatchObject({ restartCount: 4, backoffStep: 2 });
    actor.stop();
  });
});

describe('pod machine adoption', () => {
  const input: PodMachineInput = {
    uid: 'u1',
    key: 'default/web',
    restartPolicy: 'Always',
    apps: [{ name: 'a', restartCount: 0, backoffStep: 0, observed: { state: 'running', pid: 7, startedAt: 1 } }],
    initDone: true,
    adopt: true,
  };

  function host(clock: SimulatedClock, failSandbox = 0) {
    const calls: string[] = [];
    const apps = fakeApps(clock);
    const step = (name: string) =>
      fromPromise<void, PodStepInput>(async () => {
        calls.push(name);
      });
    const actors = {
      pullImages: step('pull'),
      verifyImages: step('verify'),
      renderImages: step('render'),
      createSandbox: fromPromise<SandboxOut, PodStepInput>(async () => {
        calls.push('sandbox');
        if (failSandbox-- > 0) throw new BerthError('Unavailable', 'busy');
        return { netns: '/run/netns/berth-x' };
      }),
      attachNetworks: fromPromise<AttachOut, PodStepInput>(async () => {
        calls.push('attach');
        return { attachments: [] };
      }),
      prepareApps: step('init'),
      finishInit: fromPromise<void, InitFinishInput>(async () => void calls.push('finishInit')),
      killPod: fromPromise<void, PodKillInput>(async () => void calls.push('kill')),
      teardown: step('teardown'),
      app: appMachine.provide({ actors: apps.actors }),
    };
    return { calls, actors, apps };
  }

  it('adopts running apps without pulling or rendering their images', async () => {
    const clock = new SimulatedClock();
    const h = host(clock);
    const actor = createActor(podMachine.provide({ actors: h.actors }), { clock, input }).start();
    await waitFor(actor, (s) => s.context.apps.a?.state === 'running', { timeout: 1000 });
    expect(h.calls).toEqual(['sandbox', 'attach']);
    expect(h.apps.starts).toEqual([]);
    actor.stop();
  });

  it('retries a failed adoption step without pulling either', async () => {
    const clock = new SimulatedClock();
    const h = host(clock, 1);
    const actor = createActor(podMachine.provide({ actors: h.actors }), { clock, input }).start();
    await tick();
    expect(actor.getSnapshot().value).toBe('setupBackoff');
    clock.increment(1000);
    await waitFor(actor, (s) => s.value === 'running', { timeout: 1000 });
    expect(h.calls).toEqual(['sandbox', 'sandbox', 'attach']);
    actor.stop();
  });

  it('pulls and renders first for a pod with nothing on the host', async () => {
    const clock = new SimulatedClock();
    const h = host(clock);
    const actor = createActor(podMachine.provide({ actors: h.actors }), {
      clock,
      input: {
        ...input,
        adopt: false,
        initDone: false,
        apps: [{ name: 'a', restartCount: 0, backoffStep: 0, observed: { state: 'none' } }],
      },
    }).start();
    await waitFor(actor, (s) => s.value === 'running', { timeout: 1000 });
    expect(h.calls).toEqual(['pull', 'verify', 'render', 'sandbox', 'attach', 'init']);
    actor.stop();
  });
});

describe('app machine after an agent restart, back-off of a failed start', () => {
  it('does not count again the exit whose restart failed to start', async () => {
    const exit = { exitCode: 1, finishedAt: 50 };
    const { host, actor } = app({
      restartCount: 1,
      backoffStep: 1,
      observed: { state: 'exited', ...exit, startedAt: 10 },
      recorded: {
        state: 'backoff',
        lastExit: exit,
        backoffMs: 1000,
        lastError: { code: 'Unavailable', message: 'no such layout', reason: 'ErrImagePull' },
      },
    });
    await tick();
    expect(host.starts).toEqual([{ app: 'a', execution: 1 }]);
    expect(actor.getSnapshot().context.restartCount).toBe(1);
    actor.stop();
  });
});
