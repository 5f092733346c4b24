/**
 * Supervision of one app (container) of a pod: start an execution, wait for it to exit,
 * decide by the restart policy, back off, start again. Pure: starting and waiting are
 * actors provided by the reconciler (`appMachine.provide({ actors })`); time comes from the
 * actor system's clock, so tests drive it with a SimulatedClock.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { backoffDelay, nextBackoffStep } from './backoff.js';

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
}

/** What the host showed about this app when the machine was created (agent restart, adoption). */
export type AppObserved =
  | { state: 'running'; pid?: number; startedAt: number }
  | { state: 'exited'; exitCode: number; startedAt?: number; finishedAt: number }
  | { state: 'none' };

export interface AppMachineInput {
  app: string;
  restartPolicy: RestartPolicy;
  /** restarts so far (persisted by the reconciler) */
  restartCount: number;
  backoffStep: number;
  observed: AppObserved;
}

export interface AppError {
  code: string;
  message: string;
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
}

export interface AppChangedEvent {
  type: 'app.changed';
  app: string;
  summary: AppSummary;
}

export type AppEvent = { type: 'app.restartNow' };

const notProvided = (name: string) => () => {
  throw new Error(`actor ${name} was not provided`);
};

/** A thrown error as serializable machine context: its BerthError code (or Internal) and message. */
export function toAppError(error: unknown): AppError {
  const e = error as { code?: unknown; message?: unknown } | null;
  return {
    code: typeof e?.code === 'string' ? e.code : 'Internal',
    message: typeof e?.message === 'string' ? e.message : String(error),
  };
}

/** Errors that will not go away by trying again: bad input, not a host hiccup. */
const PERMANENT = new Set(['InvalidArgument', 'FailedPrecondition', 'NotFound', 'Unimplemented', 'PermissionDenied']);

export const appMachine = setup({
  types: {
    context: {} as AppContext,
    input: {} as AppMachineInput,
    events: {} as AppEvent,
  },
  actors: {
    startApp: fromPromise<AppStarted, AppStartInput>(notProvided('startApp')),
    waitExit: fromPromise<AppExited, AppWaitInput>(notProvided('waitExit')),
  },
  guards: {
    shouldRestart: ({ context }) => {
      const code = context.lastExit?.exitCode ?? 0;
      if (context.restartPolicy === 'Always') return true;
      if (context.restartPolicy === 'OnFailure') return code !== 0;
      return false;
    },
    succeeded: ({ context }) => (context.lastExit?.exitCode ?? 1) === 0,
    permanentStartError: ({ context }) => PERMANENT.has(context.lastError?.code ?? ''),
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
        },
      };
      enqueue.sendParent(event);
    }),
  },
}).createMachine({
  id: 'app',
  context: ({ input }) => ({
    app: input.app,
    restartPolicy: input.restartPolicy,
    restartCount: input.restartCount,
    backoffStep: input.backoffStep,
    backoffMs: 0,
    pid: input.observed.state === 'running' ? (input.observed.pid ?? null) : null,
    startedAt: input.observed.state === 'none' ? null : (input.observed.startedAt ?? null),
    lastExit:
      input.observed.state === 'exited'
        ? { exitCode: input.observed.exitCode, finishedAt: input.observed.finishedAt }
        : null,
    lastError: null,
    restartPending: false,
  }),
  initial: 'adopting',
  states: {
    // Decide from what the host showed: adopt a running execution, judge a finished one,
    // or start the first.
    adopting: {
      always: [
        { guard: ({ context }) => context.pid !== null || (context.startedAt !== null && context.lastExit === null), target: 'running' },
        { guard: ({ context }) => context.lastExit !== null, target: 'exited' },
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
          actions: assign(({ event }) => ({ lastError: toAppError(event.error) })),
        },
      },
    },
    startFailed: {
      always: [
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
    running: {
      entry: { type: 'notifyParent', params: { state: 'running' } },
      invoke: {
        src: 'waitExit',
        input: ({ context }) => ({ app: context.app }),
        onDone: {
          target: 'exited',
          actions: assign(({ event }) => ({ lastExit: event.output, pid: null })),
        },
        onError: {
          target: 'exited',
          actions: assign(({ event }) => ({
            lastError: toAppError(event.error),
            lastExit: { exitCode: -1, finishedAt: 0 },
            pid: null,
          })),
        },
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
        })),
      },
    },
    succeeded: { entry: { type: 'notifyParent', params: { state: 'succeeded' } }, type: 'final' },
    failed: { entry: { type: 'notifyParent', params: { state: 'failed' } }, type: 'final' },
  },
});

export type AppMachine = typeof appMachine;
export type AppStateValue = 'adopting' | 'starting' | 'startFailed' | 'running' | 'exited' | 'backoff' | 'restarting' | 'succeeded' | 'failed';
