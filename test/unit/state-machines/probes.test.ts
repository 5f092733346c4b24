/**
 * Probe scheduling and lifecycle hooks in the app machine (issue 9 items 1, 2, 4), on a
 * SimulatedClock: the kubelet's defaults and thresholds, startup gating, kill on liveness /
 * startup / postStart failure and what the restart policy then does, StartError exits.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { BerthError } from '../../../src/common/errors.js';
import {
  appMachine,
  type AppExited,
  type AppHookInput,
  type AppKillInput,
  type AppMachineInput,
  type AppStarted,
  type AppStartInput,
} from '../../../src/state-machines/app.machine.js';
import {
  probeMachine,
  probeSettings,
  type ProbeConfigInput,
  type ProbeKind,
  type ProbeOutcome,
  type ProbeTimings,
  type RunProbeInput,
} from '../../../src/state-machines/probe.machine.js';

const tick = () => new Promise((r) => setTimeout(r, 2));

interface FakeOpts {
  probes?: Partial<Record<ProbeKind, ProbeTimings>>;
  /** the answer of each attempt, by kind (default: success) */
  answer?: (kind: ProbeKind, attempt: number, now: number) => boolean;
  postStart?: (execution: number) => Promise<void>;
  startError?: boolean;
}

/** An app on a fake host whose probes answer as `answer` says, killed by killApp with exit 137. */
function fakeHost(clock: SimulatedClock, opts: FakeOpts = {}) {
  const starts: AppStartInput[] = [];
  const exits: Array<(e: AppExited) => void> = [];
  const probes: Array<{ kind: ProbeKind; at: number }> = [];
  const kills: Array<{ reason: AppKillInput['reason']; at: number }> = [];
  const hooks: AppHookInput[] = [];
  const exit = (code: number) => exits.shift()?.({ exitCode: code, finishedAt: clock.now() });
  const attempts: Record<ProbeKind, number> = { liveness: 0, readiness: 0, startup: 0 };
  const probe = probeMachine.provide({
    actors: {
      probeConfig: fromPromise<ProbeTimings | null, ProbeConfigInput>(async ({ input }) => opts.probes?.[input.kind] ?? null),
      runProbe: fromPromise<ProbeOutcome, RunProbeInput>(async ({ input }) => {
        probes.push({ kind: input.kind, at: clock.now() });
        const ok = opts.answer?.(input.kind, attempts[input.kind]++, clock.now()) ?? true;
        return { ok, message: ok ? '' : `${input.kind} said no` };
      }),
    },
  });
  const actors = {
    startApp: fromPromise<AppStarted, AppStartInput>(async ({ input }) => {
      starts.push(input);
      if (opts.startError)
        throw new BerthError('FailedPrecondition', 'exec: "nope": executable file not found in $PATH', {
          details: { reason: 'StartError', at: clock.now() },
        });
      return { pid: 100 + starts.length, startedAt: clock.now() };
    }),
    waitExit: fromPromise<AppExited, { app: string }>(() => new Promise<AppExited>((resolve) => exits.push(resolve))),
    postStart: fromPromise<void, AppHookInput>(async ({ input }) => {
      hooks.push(input);
      await opts.postStart?.(starts.length - 1);
    }),
    killApp: fromPromise<void, AppKillInput>(async ({ input }) => {
      kills.push({ reason: input.reason, at: clock.now() });
      exit(137);
    }),
    probe,
  };
  return { starts, probes, kills, hooks, actors, exit };
}

function run(clock: SimulatedClock, host: ReturnType<typeof fakeHost>, input: Partial<AppMachineInput> = {}) {
  return createActor(appMachine.provide({ actors: host.actors }), {
    clock,
    input: { app: 'a', restartPolicy: 'Always', restartCount: 0, backoffStep: 0, observed: { state: 'none' }, ...input },
  }).start();
}

/** Advance the simulated clock second by second, letting the actors answer in between. */
async function advance(clock: SimulatedClock, ms: number, until?: () => boolean) {
  for (let t = 0; t < ms; t += 1000) {
    if (until?.()) return;
    clock.increment(1000);
    await tick();
  }
}

describe('probe settings', () => {
  it('has the kubelet defaults: period 10 s, timeout 1 s, thresholds 1 and 3', () => {
    expect(probeSettings({})).toEqual({ initialDelayMs: 0, periodMs: 10_000, timeoutMs: 1000, successThreshold: 1, failureThreshold: 3 });
    expect(probeSettings(null)).toBeNull();
  });
});

describe('liveness probe', () => {
  it('kills a failing app at initialDelay + failureThreshold × period (± one period) and restarts it (Always)', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock, {
      probes: { liveness: { initialDelaySeconds: 5, periodSeconds: 4, failureThreshold: 3 } },
      answer: () => false,
    });
    const actor = run(clock, host);
    await tick();
    expect(host.probes).toEqual([]);
    await advance(clock, 60_000, () => host.kills.length > 0);
    expect(host.kills).toHaveLength(1);
    expect(host.kills[0]!.reason).toBe('liveness');
    const expected = 5_000 + 3 * 4_000;
    expect(Math.abs(host.kills[0]!.at - expected)).toBeLessThanOrEqual(4_000);
    expect(host.probes.map((p) => p.at)).toEqual([5_000, 9_000, 13_000]);
    await tick();
    // the first restart is immediate; the exit was the kill's
    expect(host.starts.map((s) => s.execution)).toEqual([0, 1]);
    expect(actor.getSnapshot().context.restartCount).toBe(1);
    expect(actor.getSnapshot().context.lastExit).toMatchObject({ exitCode: 137 });
    actor.stop();
  });

  it('a passing liveness probe keeps the app, a probe that recovers before the threshold too', async () => {
    const clock = new SimulatedClock();
    // fails twice, then passes, then fails twice again: never three in a row
    const host = fakeHost(clock, { probes: { liveness: { periodSeconds: 1, failureThreshold: 3 } }, answer: (_k, n) => n % 3 === 2 });
    const actor = run(clock, host);
    await advance(clock, 20_000);
    expect(host.probes.length).toBeGreaterThanOrEqual(15);
    expect(host.kills).toEqual([]);
    expect(actor.getSnapshot().matches({ running: 'up' })).toBe(true);
    actor.stop();
  });

  it('under Never, a killed app is not restarted; under OnFailure it is, whatever its exit code', async () => {
    for (const [policy, starts] of [
      ['Never', 1],
      ['OnFailure', 2],
    ] as const) {
      const clock = new SimulatedClock();
      const host = fakeHost(clock, { probes: { liveness: { periodSeconds: 1, failureThreshold: 1 } }, answer: () => false });
      host.actors.killApp = fromPromise<void, AppKillInput>(async ({ input }) => {
        host.kills.push({ reason: input.reason, at: clock.now() });
        host.exit(0); // the app handled SIGTERM and exited 0
      });
      const actor = run(clock, host, { restartPolicy: policy });
      await advance(clock, 3_000, () => host.kills.length > 0);
      await tick();
      expect(host.starts, policy).toHaveLength(starts);
      if (policy === 'Never') expect(actor.getSnapshot().value).toBe('succeeded');
      actor.stop();
    }
  });
});

describe('kill ordering', () => {
  it('an exit seen while the kill still runs is answered once the kill is over (the stop never reaches the next execution)', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock, { probes: { liveness: { periodSeconds: 1, failureThreshold: 1 } }, answer: () => false });
    let finishKill!: () => void;
    host.actors.killApp = fromPromise<void, AppKillInput>(async ({ input }) => {
      host.kills.push({ reason: input.reason, at: clock.now() });
      host.exit(143);
      await new Promise<void>((r) => (finishKill = r));
    });
    const actor = run(clock, host);
    await tick();
    await tick();
    expect(host.kills).toHaveLength(1);
    expect(host.starts).toHaveLength(1);
    expect(actor.getSnapshot().matches({ running: 'killing' })).toBe(true);
    finishKill();
    await tick();
    expect(host.starts).toHaveLength(2);
    expect(actor.getSnapshot().context.lastExit).toMatchObject({ exitCode: 143 });
    actor.stop();
  });
});

describe('readiness probe', () => {
  it('is not ready before its first success, ready after successThreshold successes, not ready after failureThreshold failures', async () => {
    const clock = new SimulatedClock();
    // attempts 0,1 fail; 2,3 pass; 4.. fail
    const host = fakeHost(clock, {
      probes: { readiness: { periodSeconds: 1, successThreshold: 2, failureThreshold: 2 } },
      answer: (_k, n) => n === 2 || n === 3,
    });
    const actor = run(clock, host);
    await tick();
    const ready: boolean[] = [];
    for (let i = 0; i < 7; i++) {
      ready.push(actor.getSnapshot().context.ready);
      clock.increment(1000);
      await tick();
    }
    // attempt n runs at n s; the state is read just after each
    expect(ready).toEqual([false, false, false, true, true, false, false]);
    expect(actor.getSnapshot().context.started).toBe(true);
    expect(host.kills).toEqual([]); // readiness never kills
    actor.stop();
  });

  it('an app without a readiness probe is ready once started; not ready once exited', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock);
    const actor = run(clock, host, { restartPolicy: 'Never' });
    await tick();
    expect(actor.getSnapshot().context).toMatchObject({ ready: true, started: true });
    host.exit(0);
    await tick();
    expect(actor.getSnapshot().context).toMatchObject({ ready: false, started: false });
    actor.stop();
  });
});

describe('startup probe', () => {
  it('gates liveness and readiness until it succeeds', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock, {
      probes: { startup: { periodSeconds: 2, failureThreshold: 10 }, liveness: { periodSeconds: 3 }, readiness: { periodSeconds: 3 } },
      answer: (kind, n) => kind !== 'startup' || n >= 3, // startup passes at its 4th attempt (6 s)
    });
    const actor = run(clock, host);
    await tick();
    await advance(clock, 5_000);
    expect(host.probes.every((p) => p.kind === 'startup')).toBe(true);
    expect(actor.getSnapshot().context).toMatchObject({ started: false, ready: false });
    await advance(clock, 3_000);
    expect(actor.getSnapshot().context.started).toBe(true);
    expect(host.probes.filter((p) => p.kind === 'startup').map((p) => p.at)).toEqual([0, 2_000, 4_000, 6_000]);
    // liveness and readiness begin once started (their initialDelay has passed)
    expect(host.probes.filter((p) => p.kind !== 'startup').map((p) => p.at)).toEqual([6_000, 6_000]);
    expect(actor.getSnapshot().context.ready).toBe(true);
    actor.stop();
  });

  it('kills the app when it fails failureThreshold times', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock, { probes: { startup: { periodSeconds: 1, failureThreshold: 4 }, liveness: {} }, answer: () => false });
    const actor = run(clock, host);
    await tick();
    await advance(clock, 10_000, () => host.kills.length > 0);
    expect(host.kills).toMatchObject([{ reason: 'startup', at: 3_000 }]);
    expect(host.probes.every((p) => p.kind === 'startup')).toBe(true);
    actor.stop();
  });
});

describe('postStart hook', () => {
  it('the app does not count as running until postStart completes', async () => {
    const clock = new SimulatedClock();
    let finish!: () => void;
    const host = fakeHost(clock, { postStart: () => new Promise<void>((r) => (finish = r)) });
    const actor = run(clock, host);
    await tick();
    expect(host.hooks).toHaveLength(1);
    expect(actor.getSnapshot().matches({ running: 'postStarting' })).toBe(true);
    expect(actor.getSnapshot().context).toMatchObject({ started: false, ready: false });
    finish();
    await tick();
    expect(actor.getSnapshot().context).toMatchObject({ started: true, ready: true });
    actor.stop();
  });

  it('a failing postStart kills the app; the restart policy decides', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock, {
      postStart: async (execution) => {
        if (execution === 0) throw new Error('hook exited with 1');
      },
    });
    const actor = run(clock, host, { restartPolicy: 'Always' });
    await tick();
    await tick();
    expect(host.kills).toMatchObject([{ reason: 'postStart' }]);
    expect(host.starts).toHaveLength(2);
    expect(actor.getSnapshot().context).toMatchObject({ restartCount: 1, started: true });

    const clock2 = new SimulatedClock();
    const never = fakeHost(clock2, {
      postStart: async () => {
        throw new Error('hook exited with 1');
      },
    });
    const a2 = run(clock2, never, { restartPolicy: 'Never' });
    await tick();
    await tick();
    expect(never.starts).toHaveLength(1);
    expect(a2.getSnapshot().value).toBe('failed');
    actor.stop();
    a2.stop();
  });
});

describe('start errors', () => {
  it('StartError is an exit with reason StartError: not retried under Never', async () => {
    const clock = new SimulatedClock();
    clock.set(5_000);
    const host = fakeHost(clock, { startError: true });
    const actor = run(clock, host, { restartPolicy: 'Never' });
    await tick();
    expect(actor.getSnapshot().value).toBe('failed');
    expect(host.starts).toHaveLength(1);
    expect(actor.getSnapshot().context.lastExit).toMatchObject({ exitCode: 128, reason: 'StartError', finishedAt: 5_000 });
    expect(actor.getSnapshot().context.lastError).toBeNull();
    actor.stop();
  });

  it('StartError under Always backs off like a crash', async () => {
    const clock = new SimulatedClock();
    const host = fakeHost(clock, { startError: true });
    const actor = run(clock, host);
    await tick();
    expect(host.starts.length).toBe(2); // first restart immediate
    expect(actor.getSnapshot().value).toBe('backoff');
    expect(actor.getSnapshot().context).toMatchObject({ restartCount: 1, backoffMs: 10_000 });
    actor.stop();
  });
});
