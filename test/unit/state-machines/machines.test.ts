import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock, waitFor } from 'xstate';
import { backoffDelay, nextBackoffStep } from '../../../src/state-machines/backoff.js';
import {
  podMachine,
  type AttachOut,
  type PodMachineInput,
  type PodStepInput,
  type SandboxOut,
  type InitFinishInput,
  type PodKillInput,
} from '../../../src/state-machines/pod.machine.js';
import { appMachine, type AppExited, type AppStarted, type AppStartInput } from '../../../src/state-machines/app.machine.js';
import { BerthError } from '../../../src/common/errors.js';

/** A controllable app on a fake host: each start returns, each exit is resolved by the test. */
function fakeApps(clock: SimulatedClock) {
  const starts: AppStartInput[] = [];
  const exits: Array<(e: AppExited) => void> = [];
  const actors = {
    startApp: fromPromise<AppStarted, AppStartInput>(async ({ input }) => {
      starts.push(input);
      return { pid: 100 + starts.length, startedAt: clock.now() };
    }),
    waitExit: fromPromise<AppExited, { app: string }>(() => new Promise<AppExited>((resolve) => exits.push(resolve))),
  };
  const exit = async (code: number) => {
    for (let i = 0; i < 50 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 1));
    exits.shift()!({ exitCode: code, finishedAt: clock.now() });
    await new Promise((r) => setTimeout(r, 1));
  };
  return { starts, actors, exit };
}

const tick = () => new Promise((r) => setTimeout(r, 2));

describe('backoff (DESIGN.md §5)', () => {
  it.each([
    [0, 0],
    [1, 10_000],
    [2, 20_000],
    [3, 40_000],
    [5, 160_000],
    [6, 300_000],
    [20, 300_000],
  ])('step %i waits %i ms', (step, ms) => expect(backoffDelay(step)).toBe(ms));

  it('resets after ten minutes of running', () => {
    expect(nextBackoffStep(5, 599_999)).toBe(5);
    expect(nextBackoffStep(5, 600_000)).toBe(0);
  });
});

describe('app machine', () => {
  it('restarts a crashing app under Always: immediately, then 10 s, then 20 s', async () => {
    const clock = new SimulatedClock();
    const host = fakeApps(clock);
    const actor = createActor(appMachine.provide({ actors: host.actors }), {
      clock,
      input: { app: 'a', restartPolicy: 'Always', restartCount: 0, backoffStep: 0, observed: { state: 'none' } },
    }).start();
    await tick();
    expect(host.starts).toHaveLength(1);
    await host.exit(1);
    await tick();
    expect(host.starts.map((s) => s.execution)).toEqual([0, 1]); // first restart immediate
    await host.exit(1);
    expect(actor.getSnapshot().value).toBe('backoff');
    expect(actor.getSnapshot().context.backoffMs).toBe(10_000);
    clock.increment(9_999);
    await tick();
    expect(host.starts).toHaveLength(2);
    clock.increment(1);
    await tick();
    expect(host.starts.map((s) => s.execution)).toEqual([0, 1, 2]);
    await host.exit(1);
    expect(actor.getSnapshot().context.backoffMs).toBe(20_000);
    expect(actor.getSnapshot().context.restartCount).toBe(2);
    actor.stop();
  });

  it.each([
    ['Never', 0, 'succeeded'],
    ['Never', 3, 'failed'],
    ['OnFailure', 0, 'succeeded'],
  ] as const)('%s with exit %i ends %s', async (policy, code, final) => {
    const clock = new SimulatedClock();
    const host = fakeApps(clock);
    const actor = createActor(appMachine.provide({ actors: host.actors }), {
      clock,
      input: { app: 'a', restartPolicy: policy, restartCount: 0, backoffStep: 0, observed: { state: 'none' } },
    }).start();
    await tick();
    await host.exit(code);
    expect(actor.getSnapshot().value).toBe(final);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('adopts a running execution without starting a new one', async () => {
    const clock = new SimulatedClock();
    const host = fakeApps(clock);
    const actor = createActor(appMachine.provide({ actors: host.actors }), {
      clock,
      input: { app: 'a', restartPolicy: 'Always', restartCount: 4, backoffStep: 2, observed: { state: 'running', pid: 7, startedAt: 1 } },
    }).start();
    await tick();
    expect(actor.getSnapshot().matches('running')).toBe(true);
    expect(host.starts).toHaveLength(0);
    actor.stop();
  });

  it('judges an execution that exited while nobody watched', async () => {
    const clock = new SimulatedClock();
    const host = fakeApps(clock);
    const actor = createActor(appMachine.provide({ actors: host.actors }), {
      clock,
      input: {
        app: 'a',
        restartPolicy: 'OnFailure',
        restartCount: 0,
        backoffStep: 0,
        observed: { state: 'exited', exitCode: 0, startedAt: 1, finishedAt: 5 },
      },
    }).start();
    expect(actor.getSnapshot().value).toBe('succeeded');
    expect(host.starts).toHaveLength(0);
  });

  it('fails without retry when the start error is permanent', async () => {
    const clock = new SimulatedClock();
    const actor = createActor(
      appMachine.provide({
        actors: {
          startApp: fromPromise<AppStarted, AppStartInput>(async () => {
            throw new BerthError('InvalidArgument', 'no command specified');
          }),
        },
      }),
      { clock, input: { app: 'a', restartPolicy: 'Always', restartCount: 0, backoffStep: 0, observed: { state: 'none' } } },
    ).start();
    await tick();
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context.lastError?.message).toContain('no command');
  });

  it('backs off a start that found nothing (NotFound is transient: a tag can appear later), with an ErrorCode, not an errno', async () => {
    const clock = new SimulatedClock();
    const errors = [new BerthError('NotFound', 'no such tag'), Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' })];
    const actor = createActor(
      appMachine.provide({
        actors: {
          startApp: fromPromise<AppStarted, AppStartInput>(async () => {
            throw errors.shift() ?? new BerthError('Unavailable', 'still not there');
          }),
        },
      }),
      { clock, input: { app: 'a', restartPolicy: 'Never', restartCount: 0, backoffStep: 0, observed: { state: 'none' } } },
    ).start();
    await tick();
    expect(actor.getSnapshot().value).toBe('backoff');
    expect(actor.getSnapshot().context.lastError).toMatchObject({ code: 'NotFound', message: 'no such tag' });
    clock.increment(10_000);
    await tick();
    expect(actor.getSnapshot().value).toBe('backoff');
    expect(actor.getSnapshot().context.lastError).toMatchObject({ code: 'NotFound', message: 'ENOENT: no such file' });
    actor.stop();
  });
});

describe('pod machine', () => {
  const input: PodMachineInput = {
    uid: 'u1',
    key: 'default/web',
    restartPolicy: 'Always',
    apps: [
      { name: 'a', restartCount: 0, backoffStep: 0, observed: { state: 'none' } },
      { name: 'b', restartCount: 0, backoffStep: 0, observed: { state: 'none' } },
    ],
    initDone: false,
  };

  function fakeHost(clock: SimulatedClock, opts: { failPulls?: number; pullError?: string; verifyError?: string } = {}) {
    const calls: string[] = [];
    let pulls = 0;
    const apps = fakeApps(clock);
    const step = (name: string) =>
      fromPromise<void, { uid: string }>(async () => {
        calls.push(name);
      });
    const actors = {
      pullImages: fromPromise<void, { uid: string }>(async () => {
        calls.push('pull');
        if (pulls++ < (opts.failPulls ?? 0)) throw new BerthError((opts.pullError ?? 'Unavailable') as 'Unavailable', 'registry down');
      }),
      verifyImages: fromPromise<void, { uid: string }>(async () => {
        calls.push('verify');
        if (opts.verifyError) throw new BerthError(opts.verifyError as 'PermissionDenied', 'policy.json rejects the image');
      }),
      renderImages: step('render'),
      createSandbox: fromPromise<SandboxOut, PodStepInput>(async () => {
        calls.push('sandbox');
        return { netns: '/run/netns/berth-x' };
      }),
      attachNetworks: fromPromise<AttachOut, PodStepInput>(async () => {
        calls.push('attach');
        return { attachments: [{ network: 'berth', interface: 'eth0', ips: ['10.87.0.2/16'] }] };
      }),
      prepareApps: step('init'),
      finishInit: fromPromise<void, InitFinishInput>(async () => void calls.push('finishInit')),
      killPod: fromPromise<void, PodKillInput>(async () => void calls.push('kill')),
      teardown: step('teardown'),
      app: appMachine.provide({ actors: apps.actors }),
    };
    return { calls, actors, apps };
  }

  it('runs the steps in order and supervises every app', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock);
    const actor = createActor(podMachine.provide({ actors: host.actors }), { clock, input }).start();
    await waitFor(actor, (s) => Object.values(s.context.apps).filter((a) => a.state === 'running').length === 2, { timeout: 1000 });
    expect(host.calls).toEqual(['pull', 'verify', 'render', 'sandbox', 'attach', 'init']);
    expect(actor.getSnapshot().context.attachments[0]?.ips).toEqual(['10.87.0.2/16']);
    actor.send({ type: 'pod.stop' });
    await waitFor(actor, (s) => s.status === 'done', { timeout: 1000 });
    expect(host.calls.at(-1)).toBe('teardown');
  });

  it('backs off after a transient step error and retries from the top', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock, { failPulls: 1 });
    const actor = createActor(podMachine.provide({ actors: host.actors }), { clock, input }).start();
    await tick();
    expect(actor.getSnapshot().value).toBe('setupBackoff');
    expect(actor.getSnapshot().context.lastError).toMatchObject({ step: 'pull', code: 'Unavailable' });
    clock.increment(1000);
    await waitFor(actor, (s) => s.value === 'running', { timeout: 1000 });
    expect(actor.getSnapshot().context.lastError).toBeNull();
    actor.stop();
  });

  it('fails without retry on invalid input', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock, { failPulls: 5, pullError: 'InvalidArgument' });
    const actor = createActor(podMachine.provide({ actors: host.actors }), { clock, input }).start();
    await tick();
    expect(actor.getSnapshot().value).toBe('failed');
    actor.send({ type: 'pod.stop' });
    await waitFor(actor, (s) => s.status === 'done', { timeout: 1000 });
  });

  it('backs off a pull that found nothing, as the app machine does', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock, { failPulls: 1, pullError: 'NotFound' });
    const actor = createActor(podMachine.provide({ actors: host.actors }), { clock, input }).start();
    await tick();
    expect(actor.getSnapshot().value).toBe('setupBackoff');
    expect(actor.getSnapshot().context.lastError).toMatchObject({ step: 'pull', code: 'NotFound' });
    clock.increment(1000);
    await waitFor(actor, (s) => s.value === 'running', { timeout: 1000 });
    actor.stop();
  });

  it('fails without retry on a corrupt record (DataLoss)', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock, { failPulls: 5, pullError: 'DataLoss' });
    const actor = createActor(podMachine.provide({ actors: host.actors }), { clock, input }).start();
    await tick();
    expect(actor.getSnapshot().value).toBe('failed');
    actor.stop();
  });

  it('verifies between pulling and rendering: a refusal fails the pod for good, nothing rendered', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock, { verifyError: 'PermissionDenied' });
    const actor = createActor(podMachine.provide({ actors: host.actors }), { clock, input }).start();
    await waitFor(actor, (s) => s.value === 'failed', { timeout: 1000 });
    expect(host.calls).toEqual(['pull', 'verify']);
    expect(actor.getSnapshot().context.lastError).toMatchObject({
      step: 'verify',
      code: 'PermissionDenied',
      message: expect.stringContaining('rejects'),
    });
    clock.increment(600_000);
    await tick();
    expect(host.calls).toEqual(['pull', 'verify']);
    actor.send({ type: 'pod.stop' });
    await waitFor(actor, (s) => s.status === 'done', { timeout: 1000 });
  });

  it('content that fails its digest is refused for good too', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock, { verifyError: 'FailedPrecondition' });
    const actor = createActor(podMachine.provide({ actors: host.actors }), { clock, input }).start();
    await waitFor(actor, (s) => s.value === 'failed', { timeout: 1000 });
    expect(actor.getSnapshot().context.lastError).toMatchObject({ step: 'verify', code: 'FailedPrecondition' });
    actor.stop();
  });

  it('a blob gone from the store before verification backs off and pulls again', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock, { verifyError: 'NotFound' });
    const actor = createActor(podMachine.provide({ actors: host.actors }), { clock, input }).start();
    await waitFor(actor, (s) => s.value === 'setupBackoff', { timeout: 1000 });
    expect(actor.getSnapshot().context.lastError).toMatchObject({ step: 'verify', code: 'NotFound' });
    clock.increment(1000);
    await waitFor(actor, () => host.calls.filter((c) => c === 'pull').length === 2, { timeout: 1000 });
    expect(host.calls.slice(0, 4)).toEqual(['pull', 'verify', 'pull', 'verify']);
    actor.stop();
  });

  it('completes when every app finished under OnFailure', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock);
    const actor = createActor(podMachine.provide({ actors: host.actors }), {
      clock,
      input: { ...input, restartPolicy: 'OnFailure' },
    }).start();
    await waitFor(actor, (s) => s.value === 'running', { timeout: 1000 });
    await host.apps.exit(0);
    await host.apps.exit(0);
    await waitFor(actor, (s) => s.value === 'completed', { timeout: 1000 });
  });

  it('skips init containers when the apps were already seen on the host', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock);
    const withInit = {
      ...input,
      apps: [
        { name: 'setup', kind: 'init' as const, restartCount: 0, backoffStep: 0, observed: { state: 'none' as const } },
        ...input.apps,
      ],
    };
    const actor = createActor(podMachine.provide({ actors: host.actors }), { clock, input: { ...withInit, initDone: true } }).start();
    await waitFor(actor, (s) => s.value === 'running' && Object.keys(s.context.apps).length === 2, { timeout: 1000 });
    expect(host.apps.starts.map((s) => s.app)).toEqual(['a', 'b']);
    actor.stop();
  });

  it('starts straight in termination for a pod whose spec is gone', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock);
    const actor = createActor(podMachine.provide({ actors: host.actors }), { clock, input: { ...input, stopping: true } }).start();
    await waitFor(actor, (s) => s.status === 'done', { timeout: 1000 });
    expect(host.calls).toEqual(['teardown']);
  });

  it('retries teardown until it succeeds', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock);
    let failures = 1;
    const actor = createActor(
      podMachine.provide({
        actors: {
          ...host.actors,
          teardown: fromPromise<void, { uid: string }>(async () => {
            if (failures-- > 0) throw new BerthError('Unavailable', 'busy');
          }),
        },
      }),
      { clock, input },
    ).start();
    await waitFor(actor, (s) => s.value === 'running', { timeout: 1000 });
    actor.send({ type: 'pod.stop' });
    await tick();
    expect(actor.getSnapshot().matches({ terminating: 'retrying' })).toBe(true);
    clock.increment(2000);
    await waitFor(actor, (s) => s.status === 'done', { timeout: 1000 });
  });
});
