/**
 * The lifecycle of one pod (DESIGN.md §5), pure: every host step is an actor provided by the
 * reconciler through `podMachine.provide({ actors })`, tests provide fakes the same way.
 *
 *   pulling → verifying → rendering → sandbox → attaching → initializing → running ⇄ (apps back off)
 *        ╰──────── transient error: setupBackoff, then again from the top ──────────────╯
 *   verifying: digests and the signature policy of every pulled image, before any layer is
 *     read; a refusal (PermissionDenied: policy, FailedPrecondition: content) is permanent,
 *     failed with lastError.step 'verify', as the same bytes under the same policy are refused
 *     again; content gone from the store (NotFound) or a lookaside that does not answer
 *     (Unavailable) backs off and starts again from the pull
 *   adoption (apps seen on the host): sandbox → attaching → running, no pull or render
 *   any state ── pod.stop ──► terminating (until teardown succeeds) → terminated
 *   initializing: each init container in order, as a child app machine (kubelet: OnFailure
 *     under a pod's Always/OnFailure, so a failing one is restarted with back-off, Never
 *     under Never); a sidecar (restartPolicy Always) is waited for until it is started and
 *     keeps running beside the apps. An init container that fails for good → ending → failed.
 *   activeDeadlineSeconds after the pod started ──► ending (every app killed) → failed
 *   every regular app final while sidecars run ──► ending (sidecars killed) → completed
 *   running ── pod.update (a regular container's spec changed) ──► replacing (those apps
 *     stopped, their machines dropped) → running (started again from the new spec)
 *
 * Every step is idempotent (images and trees are cached, the sandbox is adopted when it
 * exists), so retrying from the top after an error or an agent restart is safe. Apps are
 * supervised by child app machines, which report every state they enter (`app.changed`).
 * Termination is one-way: a stopped pod never starts again; a new pod-level spec is a new pod.
 */
import { and, assign, enqueueActions, fromPromise, setup } from 'xstate';
import { appMachine, toAppError } from './app.machine.js';
import type { AppChangedEvent, AppMachineInput, AppObserved, AppRecorded, AppSummary, RestartPolicy } from './app.machine.js';
import { backoffDelay } from './backoff.js';
import { MAX_TIMER_MS } from '../common/timers.js';
import { retryClass } from '../common/errors.js';

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

/** A regular container, an init container that runs to completion, or a sidecar (init container with restartPolicy Always). */
export type PodAppKind = 'app' | 'init' | 'sidecar';

export interface PodAppInput {
  name: string;
  /** default 'app'; init containers and sidecars come first, in spec order */
  kind?: PodAppKind;
  restartCount: number;
  backoffStep: number;
  observed: AppObserved;
  /** the record's last report of this app (agent restart) */
  recorded?: AppRecorded;
  /** the hash of the app's container spec now (regular apps: a change replaces the running execution) */
  spec?: string;
  /** the spec hash the execution seen on the host was started from (the record's), if known */
  runningSpec?: string;
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
  /** activeDeadlineSeconds: ms left before the pod is ended with DeadlineExceeded (0: at once) */
  deadlineMs?: number;
  /** the pod ended for good before (deadline, an init container under Never): stay failed */
  ended?: StepError;
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
  /** the init container being run (index into the init containers and sidecars) */
  initIndex: number;
  /** ids of the app machines spawned so far */
  spawned: string[];
  deadlineMs: number | undefined;
  /** why the pod is being ended (ending state): DeadlineExceeded, InitFailed, Completed */
  endReason: EndReason | null;
  /** started as a pod that ended for good before (input.ended) */
  ended: boolean;
  stopping: boolean;
  adopt: boolean;
  now: number | undefined;
  netns: string | null;
  attachments: Attachment[];
  apps: Record<string, AppSummary>;
  /** the container spec hash each regular app should run (pod.update changes it) */
  specOf: Record<string, string>;
  /** the spec hash each spawned regular app's execution was started from */
  spawnedSpec: Record<string, string>;
  /** the apps being replaced (replacing state) */
  replacing: string[];
  /** failed setup attempts in a row */
  attempt: number;
  backoffMs: number;
  lastError: StepError | null;
}

/** A regular container's spec changed (same pod): `specs` are the container spec hashes now. */
export interface PodUpdateEvent {
  type: 'pod.update';
  specs: Record<string, string>;
}

export type PodMachineEvent = { type: 'pod.stop' } | { type: 'pod.deadline' } | PodUpdateEvent | AppChangedEvent;

export type EndReason = 'DeadlineExceeded' | 'InitFailed' | 'Completed';

export interface PodKillInput {
  uid: string;
  reason: EndReason;
}
export interface InitFinishInput {
  uid: string;
  app: string;
}
export interface ReplaceAppsInput {
  uid: string;
  apps: string[];
}

/** The kubelet's message for a pod past its activeDeadlineSeconds. */
export const DEADLINE_MESSAGE = 'Pod was active on the node longer than the specified deadline';

const notProvided = (name: string) => () => {
  throw new Error(`actor ${name} was not provided`);
};

function stepError(step: string, error: unknown): StepError {
  return { step, ...toAppError(error) };
}

const appId = (name: string) => `app:${name}`;

const kindOf = (a: PodAppInput): PodAppKind => a.kind ?? 'app';
const initInputs = (ctx: PodContext) => ctx.appInputs.filter((a) => kindOf(a) !== 'app');
const regularInputs = (ctx: PodContext) => ctx.appInputs.filter((a) => kindOf(a) === 'app');

/** C4: a sidecar is started when its startup probe passed, or, without one, when it runs (its postStart done). */
export function isStarted(s: AppSummary | undefined): boolean {
  return !!s && s.state === 'running' && s.started;
}

/** The first init container from `from` on that is still to run (one the record shows succeeded is not run again). */
function nextInit(ctx: PodContext, from: number): number {
  const inits = initInputs(ctx);
  let i = from;
  while (i < inits.length && kindOf(inits[i]!) === 'init' && inits[i]!.recorded?.state === 'succeeded') i++;
  return i;
}

/** kubelet: init containers run with OnFailure under a pod's Always or OnFailure, Never under Never; sidecars always restart. */
function policyOf(kind: PodAppKind, pod: RestartPolicy): RestartPolicy {
  if (kind === 'sidecar') return 'Always';
  if (kind === 'init') return pod === 'Never' ? 'Never' : 'OnFailure';
  return pod;
}

function childInput(ctx: PodContext, a: PodAppInput): AppMachineInput {
  return {
    app: a.name,
    restartPolicy: policyOf(kindOf(a), ctx.restartPolicy),
    restartCount: a.restartCount,
    backoffStep: a.backoffStep,
    observed: a.observed,
    ...(a.recorded ? { recorded: a.recorded } : {}),
    ...(ctx.now !== undefined ? { now: ctx.now } : {}),
  };
}

const currentInit = (ctx: PodContext): PodAppInput | undefined => initInputs(ctx)[ctx.initIndex];

const isFinal = (s: AppSummary | undefined) => s?.state === 'succeeded' || s?.state === 'failed';

/**
 * Regular apps whose machine runs an execution of an older spec than the pod's now. An app
 * that ended for good (Never, or OnFailure after success) is not started again for a new
 * spec, as the kubelet does not; one that runs or waits to restart is replaced.
 */
function staleApps(ctx: PodContext): string[] {
  return regularInputs(ctx)
    .map((a) => a.name)
    .filter(
      (n) => ctx.spawned.includes(appId(n)) && ctx.specOf[n] !== undefined && ctx.spawnedSpec[n] !== ctx.specOf[n] && !isFinal(ctx.apps[n]),
    );
}

export const podMachine = setup({
  types: {
    context: {} as PodContext,
    input: {} as PodMachineInput,
    events: {} as PodMachineEvent,
  },
  actors: {
    pullImages: fromPromise<void, PodStepInput>(notProvided('pullImages')),
    /** the verify step of every image pulled (image port `verify`): content against its digests, signature policy */
    verifyImages: fromPromise<void, PodStepInput>(notProvided('verifyImages')),
    renderImages: fromPromise<void, PodStepInput>(notProvided('renderImages')),
    createSandbox: fromPromise<SandboxOut, PodStepInput>(notProvided('createSandbox')),
    attachNetworks: fromPromise<AttachOut, PodStepInput>(notProvided('attachNetworks')),
    /** what every app start needs and earlier steps may have skipped (the pod's /etc files) */
    prepareApps: fromPromise<void, PodStepInput>(notProvided('prepareApps')),
    /** an init container completed: free what its execution holds (it is not run again) */
    finishInit: fromPromise<void, InitFinishInput>(notProvided('finishInit')),
    /** stop the pod's apps without tearing the pod down (deadline, failed init, sidecars after completion) */
    killPod: fromPromise<void, PodKillInput>(notProvided('killPod')),
    teardown: fromPromise<void, PodStepInput>(notProvided('teardown')),
    /** stop these apps and remove their containers (their spec changed); the pod stays */
    replaceApps: fromPromise<void, ReplaceAppsInput>(notProvided('replaceApps')),
    app: appMachine,
  },
  delays: {
    setupBackoff: ({ context }) => context.backoffMs,
    teardownRetry: 2000,
    killRetry: 2000,
    replaceRetry: 2000,
  },
  guards: {
    permanentError: ({ context }) => retryClass(context.lastError?.code) === 'permanent',
    allAppsFinal: ({ context }) => {
      const regular = regularInputs(context);
      return regular.every((a) => {
        const s = context.apps[a.name];
        return s !== undefined && (s.state === 'succeeded' || s.state === 'failed');
      });
    },
    appsStale: ({ context }) => staleApps(context).length > 0,
    sidecarsRunning: ({ context }) => context.appInputs.some((a) => kindOf(a) === 'sidecar' && context.spawned.includes(appId(a.name))),
    initsDone: ({ context }) => context.initIndex >= initInputs(context).length,
    currentSidecarStarted: ({ context }) => {
      const a = currentInit(context);
      return !!a && kindOf(a) === 'sidecar' && isStarted(context.apps[a.name]);
    },
    currentInitSucceeded: ({ context }) => {
      const a = currentInit(context);
      return !!a && kindOf(a) === 'init' && context.apps[a.name]?.state === 'succeeded';
    },
    currentInitFailed: ({ context }) => {
      const a = currentInit(context);
      return !!a && context.apps[a.name]?.state === 'failed';
    },
  },
  actions: {
    spawnCurrentInit: enqueueActions(({ context, enqueue }) => {
      const a = currentInit(context);
      if (!a || context.spawned.includes(appId(a.name))) return;
      enqueue.spawnChild('app', { id: appId(a.name), input: childInput(context, a) });
      enqueue.assign({ spawned: [...context.spawned, appId(a.name)] });
    }),
    stopAll: enqueueActions(({ context, enqueue }) => {
      for (const id of context.spawned) enqueue.stopChild(id);
      enqueue.assign({ spawned: [] });
    }),
  },
}).createMachine({
  id: 'pod',
  context: ({ input }) => ({
    uid: input.uid,
    key: input.key,
    restartPolicy: input.restartPolicy,
    appInputs: input.apps,
    initDone: input.initDone,
    initIndex: 0,
    spawned: [],
    deadlineMs: input.deadlineMs,
    endReason: null,
    ended: input.ended !== undefined,
    stopping: input.stopping ?? false,
    adopt: input.adopt ?? false,
    now: input.now,
    netns: null,
    attachments: [],
    apps: {},
    specOf: Object.fromEntries(input.apps.filter((a) => kindOf(a) === 'app' && a.spec !== undefined).map((a) => [a.name, a.spec!])),
    spawnedSpec: {},
    replacing: [],
    attempt: 0,
    backoffMs: 0,
    lastError: input.ended ?? null,
  }),
  initial: 'init',
  // activeDeadlineSeconds: a timer can wait at most MAX_TIMER_MS, so a longer one is re-armed
  entry: enqueueActions(({ context, enqueue }) => {
    if (context.deadlineMs !== undefined && !context.stopping && !context.ended)
      enqueue.raise({ type: 'pod.deadline' }, { id: 'activeDeadline', delay: Math.min(Math.max(0, context.deadlineMs), MAX_TIMER_MS) });
  }),
  on: {
    'pod.stop': '.terminating',
    'pod.deadline': [
      {
        guard: ({ context }) => (context.deadlineMs ?? 0) > MAX_TIMER_MS,
        actions: enqueueActions(({ context, enqueue }) => {
          const left = (context.deadlineMs ?? 0) - MAX_TIMER_MS;
          enqueue.assign({ deadlineMs: left });
          enqueue.raise({ type: 'pod.deadline' }, { id: 'activeDeadline', delay: Math.min(left, MAX_TIMER_MS) });
        }),
      },
      {
        target: '.ending',
        actions: assign({
          endReason: 'DeadlineExceeded',
          lastError: { step: 'deadline', code: 'DeadlineExceeded', message: DEADLINE_MESSAGE },
        }),
      },
    ],
    'app.changed': {
      actions: assign({ apps: ({ context, event }) => ({ ...context.apps, [event.app]: event.summary }) }),
    },
    // apps not spawned yet start from the new spec; running ones are replaced once the pod runs
    'pod.update': { actions: assign({ specOf: ({ context, event }) => ({ ...context.specOf, ...event.specs }) }) },
  },
  states: {
    init: {
      always: [
        { guard: ({ context }) => context.stopping, target: 'terminating' },
        { guard: ({ context }) => context.ended, target: 'failed' },
        { guard: ({ context }) => context.adopt, target: 'sandbox' },
        { target: 'pulling' },
      ],
    },
    pulling: {
      invoke: {
        src: 'pullImages',
        input: ({ context }) => ({ uid: context.uid }),
        onDone: 'verifying',
        onError: { target: 'stepFailed', actions: assign({ lastError: ({ event }) => stepError('pull', event.error) }) },
      },
    },
    verifying: {
      invoke: {
        src: 'verifyImages',
        input: ({ context }) => ({ uid: context.uid }),
        onDone: 'rendering',
        onError: { target: 'stepFailed', actions: assign({ lastError: ({ event }) => stepError('verify', event.error) }) },
      },
    },
    rendering: {
      invoke: {
        src: 'renderImages',
        input: ({ context }) => ({ uid: context.uid }),
        onDone: 'sandbox',
        onError: { target: 'stepFailed', actions: assign({ lastError: ({ event }) => stepError('render', event.error) }) },
      },
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
      initial: 'preparing',
      states: {
        preparing: {
          // init done before (an app was seen on the host, or the record says so): sidecars and apps are spawned by running
          always: { guard: ({ context }) => context.initDone, target: '#pod.running' },
          invoke: {
            src: 'prepareApps',
            input: ({ context }) => ({ uid: context.uid }),
            onDone: {
              target: 'next',
              actions: assign(({ context }) => ({ initIndex: nextInit(context, 0) })),
            },
            onError: { target: '#pod.stepFailed', actions: assign({ lastError: ({ event }) => stepError('init', event.error) }) },
          },
        },
        next: {
          always: [
            { guard: 'initsDone', target: '#pod.running', actions: assign({ initDone: true }) },
            { target: 'waiting', actions: 'spawnCurrentInit' },
          ],
        },
        // the current init container's machine reports through app.changed (handled at the root)
        waiting: {
          always: [
            {
              guard: 'currentSidecarStarted',
              target: 'next',
              actions: assign(({ context }) => ({ initIndex: nextInit(context, context.initIndex + 1) })),
            },
            { guard: 'currentInitSucceeded', target: 'finishing' },
            {
              guard: 'currentInitFailed',
              target: '#pod.ending',
              actions: assign(({ context }) => {
                const a = currentInit(context)!;
                const s = context.apps[a.name];
                const why = s?.lastError ? s.lastError.message : `exit code ${s?.lastExit?.exitCode ?? -1}`;
                return {
                  endReason: 'InitFailed' as const,
                  lastError: { step: 'init', code: 'InitFailed', message: `init container ${a.name} failed: ${why}` },
                };
              }),
            },
          ],
        },
        finishing: {
          invoke: {
            src: 'finishInit',
            input: ({ context }) => ({ uid: context.uid, app: currentInit(context)!.name }),
            onDone: { target: 'next', actions: assign(({ context }) => ({ initIndex: nextInit(context, context.initIndex + 1) })) },
            // what is left of it goes with the pod's teardown
            onError: { target: 'next', actions: assign(({ context }) => ({ initIndex: nextInit(context, context.initIndex + 1) })) },
          },
        },
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
        // sidecars not spawned yet (init done before an agent restart), then the apps
        enqueueActions(({ context, enqueue }) => {
          const spawned = [...context.spawned];
          const spawnedSpec = { ...context.spawnedSpec };
          for (const a of context.appInputs) {
            if (kindOf(a) === 'init' || spawned.includes(appId(a.name))) continue;
            enqueue.spawnChild('app', { id: appId(a.name), input: childInput(context, a) });
            spawned.push(appId(a.name));
            // an execution adopted from the host runs the spec it was started from
            // (the record's, else the spec the pod had when the machine was made), others the spec now
            const spec = a.observed.state === 'running' ? (a.runningSpec ?? a.spec) : context.specOf[a.name];
            if (kindOf(a) === 'app' && spec !== undefined) spawnedSpec[a.name] = spec;
          }
          enqueue.assign({ spawned, spawnedSpec });
        }),
      ],
      always: [
        { guard: 'appsStale', target: 'replacing' },
        { guard: and(['allAppsFinal', 'sidecarsRunning']), target: 'ending', actions: assign({ endReason: 'Completed' }) },
        { guard: 'allAppsFinal', target: 'completed' },
      ],
    },
    // Apps whose container spec changed: their machines are dropped, their executions stopped
    // (preStop, grace) and removed; back in running they start again from the new spec, as
    // the kubelet restarts a container whose definition changed (the restart counts).
    replacing: {
      entry: enqueueActions(({ context, enqueue }) => {
        const names = staleApps(context);
        for (const n of names) enqueue.stopChild(appId(n));
        const spawnedSpec = { ...context.spawnedSpec };
        for (const n of names) delete spawnedSpec[n];
        enqueue.assign({
          replacing: names,
          spawned: context.spawned.filter((id) => !names.some((n) => appId(n) === id)),
          spawnedSpec,
          appInputs: context.appInputs.map((a) =>
            names.includes(a.name)
              ? {
                  name: a.name,
                  kind: kindOf(a),
                  restartCount: (context.apps[a.name]?.restartCount ?? a.restartCount) + 1,
                  backoffStep: 0,
                  observed: { state: 'none' as const },
                  ...(a.spec !== undefined ? { spec: a.spec } : {}),
                }
              : a,
          ),
        });
      }),
      initial: 'stopping',
      states: {
        stopping: {
          invoke: {
            src: 'replaceApps',
            input: ({ context }) => ({ uid: context.uid, apps: context.replacing }),
            onDone: { target: '#pod.running', actions: assign({ replacing: [] }) },
            onError: { target: 'retrying', actions: assign({ lastError: ({ event }) => stepError('replace', event.error) }) },
          },
        },
        retrying: { after: { replaceRetry: 'stopping' } },
      },
    },
    // Stop what still runs of the pod without tearing it down: every app at the deadline,
    // the sidecars after a failed init container or once the regular apps are done.
    ending: {
      entry: 'stopAll',
      initial: 'killing',
      states: {
        killing: {
          invoke: {
            src: 'killPod',
            input: ({ context }) => ({ uid: context.uid, reason: context.endReason ?? 'Completed' }),
            onDone: [{ guard: ({ context }) => context.endReason === 'Completed', target: '#pod.completed' }, { target: '#pod.failed' }],
            onError: 'retrying',
          },
        },
        retrying: { after: { killRetry: 'killing' } },
      },
      on: { 'pod.deadline': {} },
    },
    completed: { on: { 'pod.deadline': {} } },
    failed: { on: { 'pod.deadline': {} } },
    terminating: {
      entry: 'stopAll',
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
      on: { 'pod.stop': {}, 'pod.deadline': {} },
    },
    terminated: { type: 'final' },
  },
});

export type PodMachine = typeof podMachine;
export type PodStateValue =
  | 'init'
  | 'pulling'
  | 'verifying'
  | 'rendering'
  | 'sandbox'
  | 'attaching'
  | 'initializing'
  | 'stepFailed'
  | 'setupBackoff'
  | 'running'
  | 'replacing'
  | 'ending'
  | 'completed'
  | 'failed'
  | 'terminating'
  | 'terminated';
