/**
 * The lifecycle of one pod (DESIGN.md §5), pure: every host step is an actor provided by the
 * reconciler through `podMachine.provide({ actors })`, tests provide fakes the same way.
 *
 *   pulling → rendering → sandbox → attaching → initializing → running ⇄ (apps back off)
 *        ╰──────── transient error: setupBackoff, then again from the top ─────╯
 *   adoption (apps seen on the host): sandbox → attaching → running, no pull or render
 *   any state ── pod.stop ──► terminating (until teardown succeeds) → terminated
 *
 * Every step is idempotent (images and trees are cached, the sandbox is adopted when it
 * exists), so retrying from the top after an error or an agent restart is safe. Apps are
 * supervised by child app machines, which report every state they enter (`app.changed`).
 * Termination is one-way: a stopped pod never starts again; a new spec is a new pod.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { appMachine, toAppError } from './app.machine.js';
import type { AppChangedEvent, AppMachineInput, AppObserved, AppRecorded, AppSummary, RestartPolicy } from './app.machine.js';
import { backoffDelay } from './backoff.js';

export interface PodStepInput {
  uid: string;
}

export interface Attachment {
  network: string;
  interface: string;
  ips: string[];
}

export interface SandboxOut {
  netns: string | null;
}
export interface AttachOut {
  attachments: Attachment[];
}

export interface PodAppInput {
  name: string;
  restartCount: number;
  backoffStep: number;
  observed: AppObserved;
  /** the record's last report of this app (agent restart) */
  recorded?: AppRecorded;
}

export interface PodMachineInput {
  uid: string;
  key: string;
  restartPolicy: RestartPolicy;
  apps: PodAppInput[];
  /** init containers already ran for this pod (an app was seen on the host) */
  initDone: boolean;
  /** start straight in termination (a pod found on the host whose spec is gone) */
  stopping?: boolean;
  /**
   * apps of the pod were seen on the host (agent restart): adopt them without pulling or
   * rendering images first; an app that needs a (re)start fetches its own image then
   */
  adopt?: boolean;
  /** the clock when the host was observed (ms) */
  now?: number;
}

export interface StepError {
  step: string;
  code: string;
  message: string;
}

export interface PodContext {
  uid: string;
  key: string;
  restartPolicy: RestartPolicy;
  appInputs: PodAppInput[];
  initDone: boolean;
  stopping: boolean;
  adopt: boolean;
  now: number | undefined;
  netns: string | null;
  attachments: Attachment[];
  apps: Record<string, AppSummary>;
  /** failed setup attempts in a row */
  attempt: number;
  backoffMs: number;
  lastError: StepError | null;
}

export type PodEvent = { type: 'pod.stop' } | AppChangedEvent;

const notProvided = (name: string) => () => {
  throw new Error(`actor ${name} was not provided`);
};

const PERMANENT = new Set(['InvalidArgument', 'FailedPrecondition', 'Unimplemented', 'PermissionDenied']);

function stepError(step: string, error: unknown): StepError {
  return { step, ...toAppError(error) };
}

const appId = (name: string) => `app:${name}`;

export const podMachine = setup({
  types: {
    context: {} as PodContext,
    input: {} as PodMachineInput,
    events: {} as PodEvent,
  },
  actors: {
    pullImages: fromPromise<void, PodStepInput>(notProvided('pullImages')),
    renderImages: fromPromise<void, PodStepInput>(notProvided('renderImages')),
    createSandbox: fromPromise<SandboxOut, PodStepInput>(notProvided('createSandbox')),
    attachNetworks: fromPromise<AttachOut, PodStepInput>(notProvided('attachNetworks')),
    runInitContainers: fromPromise<void, PodStepInput>(notProvided('runInitContainers')),
    teardown: fromPromise<void, PodStepInput>(notProvided('teardown')),
    app: appMachine,
  },
  delays: {
    setupBackoff: ({ context }) => context.backoffMs,
    teardownRetry: 2000,
  },
  guards: {
    permanentError: ({ context }) => PERMANENT.has(context.lastError?.code ?? ''),
    allAppsFinal: ({ context }) => {
      const s = Object.values(context.apps);
      return s.length === context.appInputs.length && s.every((a) => a.state === 'succeeded' || a.state === 'failed');
    },
  },
}).createMachine({
  id: 'pod',
  context: ({ input }) => ({
    uid: input.uid,
    key: input.key,
    restartPolicy: input.restartPolicy,
    appInputs: input.apps,
    initDone: input.initDone,
    stopping: input.stopping ?? false,
    adopt: input.adopt ?? false,
    now: input.now,
    netns: null,
    attachments: [],
    apps: {},
    attempt: 0,
    backoffMs: 0,
    lastError: null,
  }),
  initial: 'init',
  on: {
    'pod.stop': '.terminating',
    'app.changed': {
      actions: assign({ apps: ({ context, event }) => ({ ...context.apps, [event.app]: event.summary }) }),
    },
  },
  states: {
    init: {
      always: [
        { guard: ({ context }) => context.stopping, target: 'terminating' },
        { guard: ({ context }) => context.adopt, target: 'sandbox' },
        { target: 'pulling' },
      ],
    },
    pulling: {
      invoke: { src: 'pullImages', input: ({ context }) => ({ uid: context.uid }), onDone: 'rendering', onError: { target: 'stepFailed', actions: assign({ lastError: ({ event }) => stepError('pull', event.error) }) } },
    },
    rendering: {
      invoke: { src: 'renderImages', input: ({ context }) => ({ uid: context.uid }), onDone: 'sandbox', onError: { target: 'stepFailed', actions: assign({ lastError: ({ event }) => stepError('render', event.error) }) } },
    },
    sandbox: {
      invoke: {
        src: 'createSandbox',
        input: ({ context }) => ({ uid: context.uid }),
        onDone: { target: 'attaching', actions: assign({ netns: ({ event }) => event.output.netns }) },
        onError: { target: 'stepFailed', actions: assign({ lastError: ({ event }) => stepError('sandbox', event.error) }) },
      },
    },
    attaching: {
      invoke: {
        src: 'attachNetworks',
        input: ({ context }) => ({ uid: context.uid }),
        onDone: { target: 'initializing', actions: assign({ attachments: ({ event }) => event.output.attachments }) },
        onError: { target: 'stepFailed', actions: assign({ lastError: ({ event }) => stepError('attach', event.error) }) },
      },
    },
    initializing: {
      always: { guard: ({ context }) => context.initDone, target: 'running' },
      invoke: {
        src: 'runInitContainers',
        input: ({ context }) => ({ uid: context.uid }),
        onDone: { target: 'running', actions: assign({ initDone: true }) },
        onError: { target: 'stepFailed', actions: assign({ lastError: ({ event }) => stepError('init', event.error) }) },
      },
    },
    // Permanent errors (bad input) fail the pod; others back off and retry from the top.
    stepFailed: {
      always: [
        { guard: 'permanentError', target: 'failed' },
        {
          target: 'setupBackoff',
          actions: assign(({ context }) => ({
            backoffMs: Math.max(backoffDelay(context.attempt), 1000),
            attempt: context.attempt + 1,
          })),
        },
      ],
    },
    setupBackoff: {
      after: { setupBackoff: 'init' },
    },
    running: {
      entry: [
        assign({ attempt: 0, lastError: null }),
        enqueueActions(({ context, enqueue }) => {
          for (const a of context.appInputs) {
            const input: AppMachineInput = {
              app: a.name,
              restartPolicy: context.restartPolicy,
              restartCount: a.restartCount,
              backoffStep: a.backoffStep,
              observed: a.observed,
              ...(a.recorded ? { recorded: a.recorded } : {}),
              ...(context.now !== undefined ? { now: context.now } : {}),
            };
            enqueue.spawnChild('app', { id: appId(a.name), input });
          }
        }),
      ],
      always: { guard: 'allAppsFinal', target: 'completed' },
    },
    completed: {},
    failed: {},
    terminating: {
      entry: enqueueActions(({ context, enqueue }) => {
        for (const a of context.appInputs) enqueue.stopChild(appId(a.name));
      }),
      initial: 'tearingDown',
      states: {
        tearingDown: {
          invoke: {
            src: 'teardown',
            input: ({ context }) => ({ uid: context.uid }),
            onDone: '#pod.terminated',
            onError: {
              target: 'retrying',
              actions: assign({ lastError: ({ event }) => stepError('teardown', event.error) }),
            },
          },
        },
        retrying: { after: { teardownRetry: 'tearingDown' } },
      },
      on: { 'pod.stop': {} },
    },
    terminated: { type: 'final' },
  },
});

export type PodMachine = typeof podMachine;
export type PodStateValue =
  | 'init'
  | 'pulling'
  | 'rendering'
  | 'sandbox'
  | 'attaching'
  | 'initializing'
  | 'stepFailed'
  | 'setupBackoff'
  | 'running'
  | 'completed'
  | 'failed'
  | 'terminating'
  | 'terminated';
