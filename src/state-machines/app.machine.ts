/**
 * Supervision of one app (container) of a pod: start an execution, wait for it to exit,
 * decide by the restart policy, back off, start again. Pure: starting and waiting are
 * actors provided by the reconciler (`appMachine.provide({ actors })`); time comes from the
 * actor system's clock, so tests drive it with a SimulatedClock.
 */
import { assign, enqueueActions, fromPromise, setup, stateIn } from 'xstate';
import { backoffDelay, nextBackoffStep } from './backoff.js';
import { BerthError, errorCodeOf, errorMessage, retryClass, type ErrorCode } from '../common/errors.js';
import { probeMachine, type ProbeConfigInput, type ProbeOutput, type ProbeReadyEvent, type ProbeTimings } from './probe.machine.js';

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export interface AppStartInput {
  app: string;
  /** 0 for the first execution, then the restart count */
  execution: number;
}
export interface AppStarted {
  pid?: number;
  startedAt: number;
}
export interface AppWaitInput {
  app: string;
}
export interface AppExited {
  exitCode: number;
  finishedAt: number;
  /** the kubelet's terminated reason: Completed (0), Error, OOMKilled, StartError */
  reason?: string;
  /** the termination message (terminationMessagePath, or the log's tail with FallbackToLogsOnError) */
  message?: string;
}

/** Why the supervisor itself killed a running execution (the restart policy then decides). */
export type KillReason = 'liveness' | 'startup' | 'postStart';

export interface AppHookInput {
  app: string;
}
export interface AppKillInput {
  app: string;
  reason: KillReason;
}

/**
 * What the host showed about this app when the machine was created (agent restart, adoption).
 * An `exited` execution without `startedAt` never reached "started" (the agent was killed
 * while starting it): that is not an app exit, its start is simply redone.
 */
export type AppObserved =
  | { state: 'running'; pid?: number; startedAt: number }
  | { state: 'exited'; exitCode: number; startedAt?: number; finishedAt: number }
  | { state: 'none' };

/** What the pod record says this app's machine last reported (before an agent restart). */
export interface AppRecorded {
  state?: AppStateValue | undefined;
  lastExit?: AppExited | null | undefined;
  backoffMs?: number | undefined;
  /** set when the last start failed: a back-off then waits for a start, not for an exit's restart */
  lastError?: AppError | null | undefined;
  /** the running execution's last readiness and startup results (kept through an adoption until a probe says otherwise) */
  ready?: boolean | undefined;
  started?: boolean | undefined;
}

export interface AppMachineInput {
  app: string;
  restartPolicy: RestartPolicy;
  /** restarts so far (persisted by the reconciler) */
  restartCount: number;
  backoffStep: number;
  observed: AppObserved;
  /** the record's last report, so that an exit already answered is not answered again */
  recorded?: AppRecorded;
  /** the clock when the host was observed (ms), to resume a recorded back-off where it was */
  now?: number;
}

export interface AppError {
  /** an ErrorCode, never an errno string (errors.ts errorCodeOf maps those) */
  code: ErrorCode;
  message: string;
  /** kubelet's waiting reason when the error says more than its code (`ErrImagePull`) */
  reason?: string;
}

export interface AppContext {
  app: string;
  restartPolicy: RestartPolicy;
  restartCount: number;
  backoffStep: number;
  /** delay of the back-off being waited for, ms */
  backoffMs: number;
  pid: number | null;
  startedAt: number | null;
  lastExit: AppExited | null;
  lastError: AppError | null;
  /** an exit is being answered with a restart: the next start counts as one */
  restartPending: boolean;
  /** the startup probe succeeded (or there is none) and the execution runs */
  started: boolean;
  /** the readiness probe passes (or there is none) and the execution runs, started */
  ready: boolean;
  /** ms from the container's start to the startup probe's success (liveness/readiness begin then) */
  startupElapsedMs: number;
  /** set while (and after) the supervisor kills the execution: a failed probe or postStart hook */
  killReason: KillReason | null;
  /** the execution exited while being killed (its exit is answered once the kill is over) */
  exitSeen: boolean;
  /** how the first state was chosen from what the host and the record showed */
  adoption: Adoption;
}

/** What an app machine tells its pod on every state it enters (serializable). */
export interface AppSummary {
  state: AppStateValue;
  restartCount: number;
  backoffMs: number;
  pid: number | null;
  startedAt: number | null;
  lastExit: AppExited | null;
  lastError: AppError | null;
  backoffStep: number;
  /** the readiness probe passes, or there is none and the app runs, started (kubelet's `ready`) */
  ready: boolean;
  /** the startup probe has succeeded, or there is none and the app runs (kubelet's `started`) */
  started: boolean;
}

export interface AppChangedEvent {
  type: 'app.changed';
  app: string;
  summary: AppSummary;
}

export type AppEvent = { type: 'app.restartNow' } | ProbeReadyEvent;

const notProvided = (name: string) => () => {
  throw new Error(`actor ${name} was not provided`);
};

/** A thrown error as serializable machine context: its BerthError code (or Internal) and message. */
export function toAppError(error: unknown): AppError {
  const reason = error instanceof BerthError ? error.details?.reason : undefined;
  return {
    code: errorCodeOf(error),
    message: errorMessage(error),
    ...(typeof reason === 'string' ? { reason } : {}),
  };
}

/** The context once waiting for the execution's exit failed: the exit is unknown (-1), the execution gone. */
const waitFailed = (error: unknown) => ({
  lastError: toAppError(error),
  lastExit: { exitCode: -1, finishedAt: 0 },
  pid: null,
  ready: false,
  started: false,
});

/** How the machine picks up what an earlier agent left (see `adopting`). */
type Adoption = 'running' | 'redo' | 'counted' | 'backoff' | 'exited' | 'start';

const sameExit = (a: AppExited | null | undefined, b: AppExited) =>
  !!a && a.exitCode === b.exitCode && Math.abs(a.finishedAt - b.finishedAt) < 1;

/** States in which the record's restart count already includes the last exit. */
const COUNTED: ReadonlyArray<AppStateValue | undefined> = ['restarting', 'starting', 'startFailed'];

function adoption(input: AppMachineInput): Adoption {
  const o = input.observed;
  if (o.state === 'running') return 'running';
  if (o.state === 'none') return 'start';
  if (o.startedAt === undefined) return 'redo';
  const known = sameExit(input.recorded?.lastExit, { exitCode: o.exitCode, finishedAt: o.finishedAt });
  if (known && COUNTED.includes(input.recorded?.state)) return 'counted';
  // a back-off after a failed start: the exit's restart was counted before that start
  if (known && input.recorded?.state === 'backoff') return input.recorded.lastError ? 'counted' : 'backoff';
  return 'exited';
}

function initialContext(input: AppMachineInput): AppContext {
  const o = input.observed;
  const how = adoption(input);
  const recordedExit = input.recorded?.lastExit ?? null;
  const base: AppContext = {
    app: input.app,
    restartPolicy: input.restartPolicy,
    restartCount: input.restartCount,
    backoffStep: input.backoffStep,
    backoffMs: 0,
    pid: null,
    startedAt: null,
    lastExit: recordedExit,
    lastError: null,
    restartPending: false,
    started: false,
    ready: false,
    startupElapsedMs: 0,
    killReason: null,
    exitSeen: false,
    adoption: how,
  };
  // an adopted execution keeps what it last showed (READY does not flap at every agent restart); probes then decide
  const kept =
    input.recorded?.state === 'running' ? { ready: input.recorded.ready === true, started: input.recorded.started === true } : {};
  if (o.state === 'running') return { ...base, ...kept, pid: o.pid ?? null, startedAt: o.startedAt };
  if (o.state !== 'exited' || how === 'redo') return base;
  const ctx = { ...base, startedAt: o.startedAt ?? null, lastExit: { exitCode: o.exitCode, finishedAt: o.finishedAt } };
  if (how === 'backoff') {
    const waited = Math.max(0, (input.now ?? o.finishedAt) - o.finishedAt);
    return { ...ctx, restartPending: true, backoffMs: Math.max(0, (input.recorded?.backoffMs ?? 0) - waited) };
  }
  return ctx;
}

/**
 * A start whose process could not be executed (entrypoint missing, bad cwd): the kubelet
 * records it as a terminated execution, exit code 128, reason StartError, which the restart
 * policy answers like any other exit (back-off under Always/OnFailure, failed under Never).
 */
function startErrorExit(error: unknown): AppExited | null {
  if (!(error instanceof BerthError) || error.details?.reason !== 'StartError') return null;
  const at = typeof error.details.at === 'number' ? error.details.at : 0;
  return { exitCode: 128, finishedAt: at, reason: 'StartError', message: error.message };
}

/** No probes unless the reconciler provides their settings (standalone machines, tests). */
const noProbes = probeMachine.provide({ actors: { probeConfig: fromPromise<ProbeTimings | null, ProbeConfigInput>(async () => null) } });

const probeFailed = (output: ProbeOutput | undefined) => output?.result === 'failure';

export const appMachine = setup({
  types: {
    context: {} as AppContext,
    input: {} as AppMachineInput,
    events: {} as AppEvent,
  },
  actors: {
    startApp: fromPromise<AppStarted, AppStartInput>(notProvided('startApp')),
    waitExit: fromPromise<AppExited, AppWaitInput>(notProvided('waitExit')),
    /** lifecycle.postStart: resolves at once when the container has none */
    postStart: fromPromise<void, AppHookInput>(async () => undefined),
    /** stop the execution (preStop, stop signal, SIGKILL) after a failed probe or hook */
    killApp: fromPromise<void, AppKillInput>(notProvided('killApp')),
    probe: noProbes,
  },
  guards: {
    shouldRestart: ({ context }) => {
      // killed for a failed probe or hook: restarted unless the policy is Never (kubelet computePodActions)
      if (context.killReason) return context.restartPolicy !== 'Never';
      const code = context.lastExit?.exitCode ?? 0;
      if (context.restartPolicy === 'Always') return true;
      if (context.restartPolicy === 'OnFailure') return code !== 0;
      return false;
    },
    succeeded: ({ context }) => (context.lastExit?.exitCode ?? 1) === 0,
    permanentStartError: ({ context }) => retryClass(context.lastError?.code) === 'permanent',
    startErrorExit: ({ context }) => context.lastExit?.reason === 'StartError' && context.lastError === null,
  },
  delays: {
    restartBackoff: ({ context }) => context.backoffMs,
  },
  actions: {
    // Standalone app machines (tests, tools) have no parent to tell.
    notifyParent: enqueueActions(({ context, self, enqueue }, params: { state: AppStateValue }) => {
      if (!self._parent) return;
      const event: AppChangedEvent = {
        type: 'app.changed',
        app: context.app,
        summary: {
          state: params.state,
          restartCount: context.restartCount,
          backoffMs: context.backoffMs,
          pid: context.pid,
          startedAt: context.startedAt,
          lastExit: context.lastExit,
          lastError: context.lastError,
          backoffStep: context.backoffStep,
          ready: context.ready,
          started: context.started,
        },
      };
      enqueue.sendParent(event);
    }),
  },
}).createMachine({
  id: 'app',
  context: ({ input }) => initialContext(input),
  initial: 'adopting',
  states: {
    // Decide from what the host showed and the record said: adopt a running execution;
    // redo a start that never got to "started" (not an exit, not a restart); start again
    // after an exit whose restart was counted already; wait out a recorded back-off; judge
    // an exit nobody answered yet; or start the first execution.
    adopting: {
      always: [
        // adopted running: its postStart ran under the earlier agent; probes begin afresh
        { guard: ({ context }) => context.adoption === 'running', target: 'running.up' },
        { guard: ({ context }) => context.adoption === 'backoff', target: 'backoff' },
        { guard: ({ context }) => context.adoption === 'exited', target: 'exited' },
        { target: 'starting' },
      ],
    },
    starting: {
      entry: { type: 'notifyParent', params: { state: 'starting' } },
      invoke: {
        src: 'startApp',
        input: ({ context }) => ({ app: context.app, execution: context.restartCount }),
        onDone: {
          target: 'running',
          actions: assign(({ event }) => ({
            pid: event.output.pid ?? null,
            startedAt: event.output.startedAt,
            lastError: null,
          })),
        },
        onError: {
          target: 'startFailed',
          actions: assign(({ event, context }) => {
            const exit = startErrorExit(event.error);
            if (exit) return { lastError: null, lastExit: exit, startedAt: exit.finishedAt, pid: null };
            return { lastError: toAppError(event.error), lastExit: context.lastExit };
          }),
        },
      },
    },
    startFailed: {
      always: [
        { guard: 'startErrorExit', target: 'exited' },
        { guard: 'permanentStartError', target: 'failed' },
        {
          target: 'backoff',
          actions: assign(({ context }) => ({
            backoffMs: Math.max(backoffDelay(context.backoffStep), 1000),
            backoffStep: context.backoffStep + 1,
          })),
        },
      ],
    },
    // The execution runs: postStart first (the app does not count as running until it
    // completes), then the startup probe, then liveness and readiness; a failed hook or
    // liveness/startup probe kills the execution, and its exit is answered as any other.
    running: {
      invoke: {
        src: 'waitExit',
        input: ({ context }) => ({ app: context.app }),
        // an exit while the supervisor still stops the execution waits for the stop to end, so
        // that the stop never reaches the next execution
        onDone: [
          {
            guard: stateIn('#app.running.killing'),
            actions: assign(({ event }) => ({ lastExit: event.output, pid: null, ready: false, started: false, exitSeen: true })),
          },
          {
            target: 'exited',
            actions: assign(({ event }) => ({ lastExit: event.output, pid: null, ready: false, started: false })),
          },
        ],
        onError: [
          {
            guard: stateIn('#app.running.killing'),
            actions: assign(({ event }) => ({ ...waitFailed(event.error), exitSeen: true })),
          },
          {
            target: 'exited',
            actions: assign(({ event }) => waitFailed(event.error)),
          },
        ],
      },
      initial: 'postStarting',
      states: {
        postStarting: {
          invoke: {
            src: 'postStart',
            input: ({ context }) => ({ app: context.app }),
            onDone: 'up',
            onError: { target: 'killing', actions: assign({ killReason: 'postStart' }) },
          },
        },
        up: {
          entry: { type: 'notifyParent', params: { state: 'running' } },
          initial: 'startup',
          states: {
            startup: {
              invoke: {
                src: 'probe',
                input: ({ context }) => ({ app: context.app, kind: 'startup' as const }),
                onDone: [
                  {
                    guard: ({ event }) => probeFailed(event.output),
                    target: '#app.running.killing',
                    actions: assign({ killReason: 'startup' }),
                  },
                  {
                    target: 'started',
                    actions: [
                      assign(({ event }) => ({ started: true, startupElapsedMs: event.output?.elapsedMs ?? 0 })),
                      { type: 'notifyParent', params: { state: 'running' } },
                    ],
                  },
                ],
              },
            },
            started: {
              invoke: [
                {
                  id: 'liveness',
                  src: 'probe',
                  input: ({ context }) => ({ app: context.app, kind: 'liveness' as const, elapsedMs: context.startupElapsedMs }),
                  onDone: {
                    guard: ({ event }) => probeFailed(event.output),
                    target: '#app.running.killing',
                    actions: assign({ killReason: 'liveness' }),
                  },
                },
                {
                  id: 'readiness',
                  src: 'probe',
                  input: ({ context }) => ({ app: context.app, kind: 'readiness' as const, elapsedMs: context.startupElapsedMs }),
                  // no readiness probe: ready once started
                  onDone: {
                    guard: ({ event }) => event.output?.result === 'absent',
                    actions: [assign({ ready: true }), { type: 'notifyParent', params: { state: 'running' } }],
                  },
                },
              ],
              on: {
                'probe.ready': {
                  actions: [assign({ ready: ({ event }) => event.ready }), { type: 'notifyParent', params: { state: 'running' } }],
                },
              },
            },
          },
        },
        killing: {
          entry: [assign({ ready: false }), { type: 'notifyParent', params: { state: 'running' } }],
          invoke: {
            src: 'killApp',
            input: ({ context }) => ({ app: context.app, reason: context.killReason ?? 'liveness' }),
            onDone: [{ guard: ({ context }) => context.exitSeen, target: '#app.exited' }, { target: 'killed' }],
            onError: [{ guard: ({ context }) => context.exitSeen, target: '#app.exited' }, { target: 'killed' }],
          },
        },
        // stopped by the supervisor: its exit (waitExit above) ends the execution
        killed: {},
      },
    },
    exited: {
      always: [
        {
          guard: 'shouldRestart',
          target: 'backoff',
          actions: assign(({ context }) => {
            const ranFor = (context.lastExit?.finishedAt ?? 0) - (context.startedAt ?? 0);
            const step = nextBackoffStep(context.backoffStep, ranFor);
            return { backoffMs: backoffDelay(step), backoffStep: step + 1, restartPending: true };
          }),
        },
        { guard: 'succeeded', target: 'succeeded' },
        { target: 'failed' },
      ],
    },
    backoff: {
      entry: { type: 'notifyParent', params: { state: 'backoff' } },
      always: { guard: ({ context }) => context.backoffMs === 0, target: 'restarting' },
      on: { 'app.restartNow': 'restarting' },
      after: { restartBackoff: 'restarting' },
    },
    restarting: {
      always: {
        target: 'starting',
        actions: assign(({ context }) => ({
          restartCount: context.restartPending ? context.restartCount + 1 : context.restartCount,
          restartPending: false,
          killReason: null,
          exitSeen: false,
        })),
      },
    },
    succeeded: { entry: { type: 'notifyParent', params: { state: 'succeeded' } }, type: 'final' },
    failed: { entry: { type: 'notifyParent', params: { state: 'failed' } }, type: 'final' },
  },
});

export type AppMachine = typeof appMachine;
export type AppStateValue =
  'adopting' | 'starting' | 'startFailed' | 'running' | 'exited' | 'backoff' | 'restarting' | 'succeeded' | 'failed';
