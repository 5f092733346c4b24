/**
 * One probe of one app (liveness, readiness or startup), scheduled as the kubelet's prober
 * worker does (pkg/kubelet/prober/worker.go), pure: the probe's settings come from the
 * provided `probeConfig` actor, each attempt from the provided `runProbe` actor, time from
 * the actor system's clock (tests use a SimulatedClock).
 *
 * - the first attempt comes `initialDelaySeconds` after the container started (probes
 *   gated by a startup probe: at once when that took longer), then one every `periodSeconds`;
 *   an attempt that takes longer than a period is followed by the next at once (a Go ticker);
 * - an attempt is a failure when the handler says so, throws, or exceeds `timeoutSeconds`;
 * - the result changes after `failureThreshold` failures or `successThreshold` successes in
 *   a row; readiness starts as failure (not ready), liveness as success, startup unknown;
 * - readiness reports every change to its parent (`probe.ready`) and never ends; liveness ends
 *   `failed` when its threshold is reached (the kubelet puts the worker on hold until the
 *   container is replaced); startup ends `succeeded` (it stops probing) or `failed`.
 * A container without this probe ends at once in `absent`.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { errorMessage } from '../common/errors.js';

export type ProbeKind = 'liveness' | 'readiness' | 'startup';

/** The Pod API's probe settings that scheduling needs (k8s.io/api core/v1 Probe). */
export interface ProbeTimings {
  initialDelaySeconds?: number | undefined;
  periodSeconds?: number | undefined;
  timeoutSeconds?: number | undefined;
  successThreshold?: number | undefined;
  failureThreshold?: number | undefined;
}

/** The kubelet's (API server's) defaults. */
export const PROBE_DEFAULTS = {
  initialDelaySeconds: 0,
  periodSeconds: 10,
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold: 3,
} as const;

export interface ProbeConfigInput {
  app: string;
  kind: ProbeKind;
}

export interface RunProbeInput {
  app: string;
  kind: ProbeKind;
  timeoutMs: number;
}

/** One attempt's outcome. `durationMs`: how long it took (0 when unknown), for the next period. */
export interface ProbeOutcome {
  ok: boolean;
  message: string;
  durationMs?: number;
}

export interface ProbeMachineInput {
  app: string;
  kind: ProbeKind;
  /** ms since the container started when this probe begins (probes gated by a startup probe) */
  elapsedMs?: number;
}

export type ProbeResult = 'success' | 'failure';

export interface ProbeOutput {
  result: ProbeResult | 'absent';
  /** ms since the container started, as scheduled (for probes that start after this one) */
  elapsedMs: number;
  /** the last attempt's message (the kubelet's probe output) */
  message: string;
}

export interface ProbeReadyEvent {
  type: 'probe.ready';
  ready: boolean;
  message: string;
}

interface Settings {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

interface ProbeContext {
  app: string;
  kind: ProbeKind;
  settings: Settings | null;
  /** ms since the container started, counted from the scheduled delays */
  elapsedMs: number;
  /** the result of the last attempt and how many in a row had it */
  last: ProbeResult | null;
  run: number;
  /** the result in force (null: unknown) */
  result: ProbeResult | null;
  /** the delay before the next attempt */
  nextMs: number;
  message: string;
  attempts: number;
  /** the settings could not be read: the probe counts as failed */
  loadFailed: boolean;
}

const notProvided = (name: string) => () => {
  throw new Error(`actor ${name} was not provided`);
};

/** Settings with the kubelet's defaults, in ms; `null` for no probe. */
export function probeSettings(p: ProbeTimings | null | undefined): Settings | null {
  if (!p) return null;
  const d = PROBE_DEFAULTS;
  return {
    initialDelayMs: (p.initialDelaySeconds ?? d.initialDelaySeconds) * 1000,
    periodMs: Math.max(1, p.periodSeconds ?? d.periodSeconds) * 1000,
    timeoutMs: Math.max(1, p.timeoutSeconds ?? d.timeoutSeconds) * 1000,
    successThreshold: Math.max(1, p.successThreshold ?? d.successThreshold),
    failureThreshold: Math.max(1, p.failureThreshold ?? d.failureThreshold),
  };
}

/** The initial result of a probe kind (kubelet prober manager). */
const initialResult = (kind: ProbeKind): ProbeResult | null => (kind === 'readiness' ? 'failure' : kind === 'liveness' ? 'success' : null);

/** A hung handler must not stop the schedule: the attempt is a failure this long after its timeout. */
const HANDLER_SLACK_MS = 5000;

export const probeMachine = setup({
  types: {
    context: {} as ProbeContext,
    input: {} as ProbeMachineInput,
    output: {} as ProbeOutput,
  },
  actors: {
    probeConfig: fromPromise<ProbeTimings | null, ProbeConfigInput>(notProvided('probeConfig')),
    runProbe: fromPromise<ProbeOutcome, RunProbeInput>(notProvided('runProbe')),
  },
  delays: {
    nextDelay: ({ context }) => context.nextMs,
    attemptLimit: ({ context }) => (context.settings?.timeoutMs ?? 1000) + HANDLER_SLACK_MS,
  },
  guards: {
    absent: ({ context }) => context.settings === null,
    heldOnFailure: ({ context }) => context.kind !== 'readiness' && context.result === 'failure',
    startupSucceeded: ({ context }) => context.kind === 'startup' && context.result === 'success',
    immediate: ({ context }) => context.nextMs === 0,
  },
  actions: {
    record: enqueueActions(({ context, enqueue, self }, params: { ok: boolean; message: string; durationMs: number }) => {
      const s = context.settings!;
      const r: ProbeResult = params.ok ? 'success' : 'failure';
      const run = r === context.last ? context.run + 1 : 1;
      const reached = r === 'failure' ? run >= s.failureThreshold : run >= s.successThreshold;
      const result = reached ? r : context.result;
      const d = Math.max(0, params.durationMs);
      // a Go ticker keeps one missed tick: an attempt longer than the period is followed at once
      const nextMs = d >= s.periodMs ? 0 : s.periodMs - d;
      enqueue.assign({
        last: r,
        // the kubelet restarts the count once a liveness/startup failure is acted on
        run: reached && r === 'failure' && context.kind !== 'readiness' ? 0 : run,
        result,
        nextMs,
        elapsedMs: context.elapsedMs + d,
        message: params.message,
        attempts: context.attempts + 1,
      });
      if (context.kind === 'readiness' && result !== context.result && self._parent) {
        const ev: ProbeReadyEvent = { type: 'probe.ready', ready: result === 'success', message: params.message };
        enqueue.sendParent(ev);
      }
    }),
  },
}).createMachine({
  id: 'probe',
  context: ({ input }) => ({
    app: input.app,
    kind: input.kind,
    settings: null,
    elapsedMs: input.elapsedMs ?? 0,
    last: null,
    run: 0,
    result: initialResult(input.kind),
    nextMs: 0,
    message: '',
    attempts: 0,
    loadFailed: false,
  }),
  initial: 'loading',
  states: {
    loading: {
      invoke: {
        src: 'probeConfig',
        input: ({ context }) => ({ app: context.app, kind: context.kind }),
        onDone: { target: 'scheduling', actions: assign({ settings: ({ event }) => probeSettings(event.output) }) },
        // a config that cannot be read is no probe to run: fail loud rather than look healthy
        onError: {
          target: 'failed',
          actions: assign({ result: 'failure', loadFailed: true, message: ({ event }) => errorMessage(event.error) }),
        },
      },
    },
    scheduling: {
      always: [
        { guard: 'absent', target: 'absent' },
        // a zero delay is taken at once (a timer of 0 would wait for the clock to move)
        { guard: ({ context }) => context.settings!.initialDelayMs <= context.elapsedMs, target: 'probing' },
        {
          target: 'delaying',
          actions: assign(({ context }) => ({
            nextMs: Math.max(0, context.settings!.initialDelayMs - context.elapsedMs),
            elapsedMs: Math.max(context.elapsedMs, context.settings!.initialDelayMs),
          })),
        },
      ],
    },
    delaying: {
      after: { nextDelay: 'probing' },
    },
    probing: {
      invoke: {
        src: 'runProbe',
        input: ({ context }) => ({ app: context.app, kind: context.kind, timeoutMs: context.settings!.timeoutMs }),
        onDone: {
          target: 'deciding',
          actions: {
            type: 'record',
            params: ({ event }) => ({ ok: event.output.ok, message: event.output.message, durationMs: event.output.durationMs ?? 0 }),
          },
        },
        onError: {
          target: 'deciding',
          actions: {
            type: 'record',
            params: ({ event }) => ({ ok: false, message: errorMessage(event.error), durationMs: 0 }),
          },
        },
      },
      after: {
        attemptLimit: {
          target: 'deciding',
          actions: {
            type: 'record',
            params: ({ context }) => ({
              ok: false,
              message: `probe did not answer within ${context.settings!.timeoutMs / 1000}s`,
              durationMs: context.settings!.periodMs,
            }),
          },
        },
      },
    },
    deciding: {
      always: [
        { guard: 'heldOnFailure', target: 'failed' },
        { guard: 'startupSucceeded', target: 'succeeded' },
        { guard: 'immediate', target: 'probing' },
        { target: 'waiting' },
      ],
    },
    waiting: {
      entry: assign(({ context }) => ({ elapsedMs: context.elapsedMs + context.nextMs })),
      after: { nextDelay: 'probing' },
    },
    absent: { type: 'final' },
    succeeded: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }) => ({
    result: context.settings === null && !context.loadFailed ? 'absent' : (context.result ?? 'failure'),
    elapsedMs: context.elapsedMs,
    message: context.message,
  }),
});

export type ProbeMachine = typeof probeMachine;
