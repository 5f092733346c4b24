/**
 * Pod status in kubectl's words (DESIGN.md §1), observed: from what the host shows now (is
 * the app's process there, how did it exit, the netns handle, the CNI cache), plus the pod
 * record for what the host cannot tell (restart counts, back-off, the last error, how far
 * setup got). `berth status -o json` is a stable interface: keep the field names.
 */
import type { SpecIssue } from '../api/types.js';
import type { AppStatus } from '../runtime/types.js';
import type { Attachment } from '../state-machines/pod.machine.js';
import type { Container } from '../api/pod.js';
import { isSidecar } from './pod-stop.js';
import type { HeldRecord, PodRecord } from './records.js';

export type PodStatusWord =
  | 'Pending'
  | 'ContainerCreating'
  | 'Running'
  | 'Completed'
  | 'Error'
  | 'CrashLoopBackOff'
  | 'ErrImagePull'
  | 'ImagePullBackOff'
  | 'InvalidSpec'
  | 'Conflict'
  | 'Terminating'
  | 'CreateContainerError'
  | 'StartError'
  | 'CreateContainerConfigError'
  | 'PodInitializing'
  | 'DeadlineExceeded'
  /** a pod held because its record cannot be read (reason DataLoss, records.ts HeldRecord) */
  | 'Unknown'
  /** kubectl's words for a pod whose init containers have not all completed: Init:1/3, Init:Error, Init:CrashLoopBackOff… */
  | `Init:${string}`;

export interface AppStatusRow {
  name: string;
  state: 'waiting' | 'running' | 'terminated';
  reason: string | null;
  pid: number | null;
  restartCount: number;
  exitCode: number | null;
  image: string;
  imageDigest: string | null;
  startedAt: string | null;
  /** the kubelet's `ready`: running and its readiness probe passing (or none) */
  ready: boolean;
  /** the kubelet's `started`: running and its startup probe passed (or none) */
  started: boolean;
}

/** An init container's row: a sidecar (restartPolicy Always) keeps running beside the apps. */
export interface InitStatusRow extends AppStatusRow {
  sidecar: boolean;
}

/** A pod condition as the kubelet sets it (status.conditions). */
export interface PodCondition {
  type: string;
  status: 'True' | 'False';
  reason?: string;
  message?: string;
}

export interface PodStatusRow {
  namespace: string;
  name: string;
  uid: string | null;
  status: PodStatusWord;
  ready: string;
  restarts: number;
  reason: string | null;
  message: string | null;
  source: string | null;
  /** the git commit the pod's spec was applied from (git sources only) */
  revision?: string | null;
  netns: string | null;
  ips: string[];
  networks: Array<{ name: string; interface: string; ips: string[] }>;
  apps: AppStatusRow[];
  /** init containers and sidecars, in spec order */
  initContainers: InitStatusRow[];
  /** PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled, then the readiness gates' conditions */
  conditions: PodCondition[];
  createdAt: string | null;
  /** the pod's metadata.labels (for `status -l`) */
  labels: Record<string, string>;
  /** every app's declared ports */
  ports: PortRow[];
  /** when the newest restart happened: the restarted app's last exit (else its start) */
  lastRestartAt: string | null;
}

export interface PortRow {
  app: string;
  name: string | null;
  containerPort: number;
  hostPort: number | null;
  hostIP: string | null;
  protocol: string;
}

const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);

/**
 * kubectl's word for a failed pod step (the row's `reason`, the log line's `reason`), never
 * the step's own name: the image steps ErrImagePull (ImagePullBackOff while backing off), the
 * sandbox and its networks FailedCreatePodSandBox (the kubelet's event), preparing the apps
 * CreateContainerConfigError or CreateContainerError, a failed init container Error (kubectl
 * shows Init:Error), the deadline DeadlineExceeded, teardown FailedKillPod.
 */
export function stepReason(err: { step: string; code?: string; reason?: string }, backoff = false): string {
  switch (err.step) {
    case 'pull':
    case 'render':
      return backoff ? 'ImagePullBackOff' : 'ErrImagePull';
    case 'verify':
      // CRI-O's word for an image refused by the signature policy
      return err.code === 'PermissionDenied' ? 'SignatureValidationFailed' : 'ErrImagePull';
    case 'sandbox':
    case 'attach':
      return 'FailedCreatePodSandBox';
    case 'deadline':
      return 'DeadlineExceeded';
    case 'teardown':
      return 'FailedKillPod';
    case 'init':
      if (err.code === 'InitFailed') return 'Error';
      return err.reason === 'CreateContainerConfigError' ? 'CreateContainerConfigError' : 'CreateContainerError';
    default:
      return err.code === 'DeadlineExceeded'
        ? 'DeadlineExceeded'
        : err.reason === 'CreateContainerConfigError'
          ? 'CreateContainerConfigError'
          : 'CreateContainerError';
  }
}

/** The pod's network as the host shows it: the netns handle (null when gone) and the CNI cache. */
export interface ObservedNetwork {
  netns: string | null;
  attachments: Attachment[];
}

type AppRec = PodRecord['apps'][string];

/** Has the host seen this execution run? An exit before "started" is the agent's interrupted start. */
const ranAndExited = (l: AppStatus | undefined): boolean => l?.state === 'exited' && l.startedAt !== undefined;

/**
 * The kubelet's word for an app whose start failed or that backs off (the log line's
 * `reason`), or null: ErrImagePull / ImagePullBackOff, CreateContainerConfigError,
 * CreateContainerError, CrashLoopBackOff.
 */
export function appFailureReason(a: { state?: string; lastError?: { reason?: string } | null; backoffMs?: number }): string | null {
  const backoff = a.state === 'backoff' || a.state === 'startFailed';
  if (a.lastError?.reason === 'ErrImagePull') return backoff ? 'ImagePullBackOff' : 'ErrImagePull';
  if (a.lastError && (backoff || a.state === 'failed'))
    return a.lastError.reason === 'CreateContainerConfigError' ? 'CreateContainerConfigError' : 'CreateContainerError';
  if (a.state === 'backoff' && (a.backoffMs ?? 0) > 0) return 'CrashLoopBackOff';
  return null;
}

/** Why an app that the host does not show running waits, in the kubelet's words. */
function waitingReason(a: AppRec | undefined, l: AppStatus | undefined): string | null {
  if (a?.lastError?.reason === 'ErrImagePull')
    return a.state === 'backoff' || a.state === 'startFailed' ? 'ImagePullBackOff' : 'ErrImagePull';
  // a start that failed (not an exit: exits clear lastError) is the start's reason, retried or not
  if ((a?.state === 'failed' || a?.state === 'backoff') && a.lastError)
    return a.lastError.reason === 'CreateContainerConfigError' ? 'CreateContainerConfigError' : 'CreateContainerError';
  if (a?.state === 'backoff' && (a.backoffMs ?? 0) > 0) return 'CrashLoopBackOff';
  if (ranAndExited(l)) return l?.reason ?? (l?.exitCode === 0 ? 'Completed' : 'Error');
  // a process that could not be run, not retried (restartPolicy Never): its container is gone
  if (a?.state === 'failed' && a.lastExit?.reason === 'StartError') return 'StartError';
  return l?.state === 'created' || a?.state === 'starting' ? 'ContainerCreating' : null;
}

function appRow(rec: PodRecord, c: Container, l: AppStatus | undefined): AppStatusRow {
  const a = rec.apps[c.name];
  const running = l?.state === 'running';
  const exited = ranAndExited(l);
  return {
    name: c.name,
    state: running ? 'running' : exited ? 'terminated' : 'waiting',
    reason: running ? null : waitingReason(a, l),
    pid: running ? (l.pid ?? null) : null,
    restartCount: a?.restartCount ?? 0,
    exitCode: exited ? (l?.exitCode ?? null) : (a?.lastExit?.exitCode ?? null),
    image: c.image,
    imageDigest: a?.imageDigest ?? null,
    startedAt: iso(running ? (l.startedAt ?? a?.startedAt) : a?.startedAt),
    // a record without the probes' fields (older agent) means running is ready
    ready: running && (a?.ready ?? true),
    started: running && (a?.started ?? true),
  };
}

const WAITING_REASONS = new Set([
  'CrashLoopBackOff',
  'ErrImagePull',
  'ImagePullBackOff',
  'CreateContainerError',
  'CreateContainerConfigError',
]);

/**
 * An init container's row: one that completed was removed from the host (pod-actors
 * finishInit), so its exit comes from the record; one that failed for good is shown by its exit.
 */
function initRow(rec: PodRecord, c: Container, l: AppStatus | undefined): InitStatusRow {
  const a = rec.apps[c.name];
  const row = appRow(rec, c, l);
  const sidecar = isSidecar(c);
  if (l?.state !== 'running' && !ranAndExited(l) && (a?.state === 'succeeded' || a?.state === 'failed') && a.lastExit) {
    const code = a.lastExit.exitCode;
    return { ...row, sidecar, state: 'terminated', exitCode: code, reason: code === 0 ? 'Completed' : (a.lastError?.reason ?? 'Error') };
  }
  return { ...row, sidecar };
}

/**
 * kubectl's word for a pod whose init containers are not all done (printers.go printPod): the
 * first init container that has not completed (nor is a started sidecar) says it —
 * Init:Error after a failed run, Init:CrashLoopBackOff while it backs off, Init:N/M while it
 * runs or waits; null once they are all done.
 */
export function initWord(inits: InitStatusRow[]): `Init:${string}` | null {
  for (const [i, r] of inits.entries()) {
    if (r.state === 'terminated' && r.exitCode === 0 && !WAITING_REASONS.has(r.reason ?? '')) continue;
    if (r.sidecar && r.state === 'running' && r.started) continue;
    if (r.reason && WAITING_REASONS.has(r.reason)) return `Init:${r.reason}`;
    if (r.state === 'terminated') return `Init:${r.reason && r.reason !== 'Completed' ? r.reason : `ExitCode:${r.exitCode ?? -1}`}`;
    return `Init:${i}/${inits.length}`;
  }
  return null;
}

/** The readiness gates' conditions as `berth condition` set them (pod-conditions.ts): type → True/False. */
export type GateConditions = Record<string, 'True' | 'False'>;

/** The kubelet's pod conditions (status.conditions), in its order, then the gates' conditions. */
export function podConditions(
  rec: PodRecord,
  apps: AppStatusRow[],
  inits: InitStatusRow[],
  completed: boolean,
  gates: GateConditions = {},
): PodCondition[] {
  const cond = (type: string, ok: boolean, reason?: string, message?: string): PodCondition => ({
    type,
    status: ok ? 'True' : 'False',
    ...(!ok && reason ? { reason } : {}),
    ...(!ok && message ? { message } : {}),
  });
  const sandboxReady =
    !['pending', 'pulling', 'verifying', 'rendering', 'sandbox', 'attaching', 'terminated'].includes(rec.phase) ||
    apps.some((a) => a.state !== 'waiting');
  const initialized = rec.initDone || inits.length === 0 || initWord(inits) === null;
  const incomplete = inits.filter((r) => !(r.state === 'terminated' && r.exitCode === 0) && !(r.sidecar && r.started)).map((r) => r.name);
  const unready = [...inits.filter((r) => r.sidecar && !r.ready), ...apps.filter((a) => !a.ready)].map((a) => a.name);
  const containersReady = unready.length === 0;
  const unreadyGates = (rec.pod.spec.readinessGates ?? []).map((g) => g.conditionType).filter((t) => gates[t] !== 'True');
  const gateMessage = unreadyGates
    .map((t) =>
      gates[t] === undefined
        ? `corresponding condition of pod readiness gate "${t}" does not exist.`
        : `the status of pod readiness gate "${t}" is not "True", but False`,
    )
    .join(', ');
  const notReadyWhy = (): [string, string] => {
    if (completed) return ['PodCompleted', ''];
    if (!containersReady) return ['ContainersNotReady', `containers with unready status: [${unready.join(' ')}]`];
    return ['ReadinessGatesNotReady', gateMessage];
  };
  const [why, whyMsg] = notReadyWhy();
  const out = [
    cond('PodReadyToStartContainers', sandboxReady),
    cond(
      'Initialized',
      initialized,
      completed ? 'PodCompleted' : 'ContainersNotInitialized',
      completed ? '' : `containers with incomplete status: [${incomplete.join(' ')}]`,
    ),
    cond('Ready', !completed && containersReady && unreadyGates.length === 0, why, whyMsg),
    cond(
      'ContainersReady',
      !completed && containersReady,
      completed ? 'PodCompleted' : 'ContainersNotReady',
      completed ? '' : `containers with unready status: [${unready.join(' ')}]`,
    ),
    cond('PodScheduled', true),
  ];
  for (const g of rec.pod.spec.readinessGates ?? []) {
    const v = gates[g.conditionType];
    if (v !== undefined) out.push({ type: g.conditionType, status: v });
  }
  return out;
}

/**
 * Status of an applied pod, observed: `live` is the runtime's view of each app (by app name),
 * `net` the host's view of the network (default: the record's). Once the host shows an app
 * (running, or exited after it started) the pod's word comes from its apps — every app
 * running is Running whatever phase the record was left in; the record only adds what the
 * host cannot tell (restart counts, back-off, the last error). Before that, the record's
 * setup phase says how far setup got (ContainerCreating, ErrImagePull, …).
 */
export function podStatusRow(
  rec: PodRecord,
  live: Record<string, AppStatus | undefined>,
  issue?: SpecIssue,
  net?: ObservedNetwork,
  gates?: GateConditions,
): PodStatusRow {
  const policy = rec.pod.spec.restartPolicy;
  const apps = rec.pod.spec.containers.map((c) => appRow(rec, c, live[c.name]));
  const inits = (rec.pod.spec.initContainers ?? []).map((c) => initRow(rec, c, live[c.name]));
  const sidecars = inits.filter((r) => r.sidecar);
  // READY as kubectl counts it: the apps and the sidecars
  const readyCount = [...sidecars, ...apps].filter((a) => a.ready).length;
  const runningCount = apps.filter((a) => a.state === 'running').length;
  const seen = apps.some((a) => a.state !== 'waiting');
  let status: PodStatusWord;
  let reason: string | null = null;
  let message: string | null = null;
  const err = rec.lastError;
  const ending = rec.phase === 'terminating' || rec.phase === 'terminated';
  const phase = seen && !ending && !(rec.phase === 'failed' && err?.step === 'deadline') ? 'running' : rec.phase;
  switch (phase) {
    case 'terminating':
    case 'terminated':
      status = 'Terminating';
      break;
    case 'pending':
      status = 'Pending';
      break;
    case 'pulling':
    case 'verifying':
    case 'rendering':
    case 'sandbox':
    case 'attaching':
    case 'initializing':
    case 'stepFailed':
    case 'setupBackoff':
      status = 'ContainerCreating';
      if (err) {
        message = err.message;
        reason = stepReason(err, rec.phase === 'setupBackoff');
        if (err.step === 'pull' || err.step === 'render') status = rec.phase === 'setupBackoff' ? 'ImagePullBackOff' : 'ErrImagePull';
      }
      break;
    case 'failed':
      if (err?.step === 'deadline') status = 'DeadlineExceeded';
      else
        status =
          err?.step === 'pull' || err?.step === 'verify' || err?.step === 'render'
            ? 'ErrImagePull'
            : err?.step === 'init'
              ? 'Error'
              : 'CreateContainerError';
      reason = err ? stepReason(err) : null;
      message = err?.message ?? null;
      break;
    default: {
      const crash = apps.find((a) => a.reason === 'CrashLoopBackOff');
      const image = apps.find((a) => a.reason === 'ImagePullBackOff' || a.reason === 'ErrImagePull');
      const failedStart = apps.find(
        (a) => a.reason === 'CreateContainerError' || a.reason === 'CreateContainerConfigError' || a.reason === 'StartError',
      );
      if (crash) {
        status = 'CrashLoopBackOff';
        reason = 'CrashLoopBackOff';
        const last = rec.apps[crash.name]?.lastExit;
        message = `back-off restarting app ${crash.name}${last ? ` (exit code ${last.exitCode})` : ''}`;
      } else if (image) {
        status = image.reason as 'ImagePullBackOff' | 'ErrImagePull';
        reason = status;
        message = appMessage(image.name, rec.apps[image.name]?.lastError?.message);
      } else if (failedStart) {
        status = failedStart.reason as 'CreateContainerError' | 'CreateContainerConfigError' | 'StartError';
        reason = status;
        message = appMessage(
          failedStart.name,
          rec.apps[failedStart.name]?.lastError?.message ?? rec.apps[failedStart.name]?.lastExit?.message,
        );
      } else if (runningCount === apps.length) status = 'Running';
      else if (apps.every((a) => a.state === 'terminated' && a.exitCode === 0) && policy !== 'Always') status = 'Completed';
      else if (apps.some((a) => a.state === 'terminated' && a.exitCode !== 0)) status = 'Error';
      // the apps' default waiting reason once a pod has init containers (kubelet)
      else status = inits.length > 0 ? 'PodInitializing' : 'ContainerCreating';
    }
  }
  // Init containers not all done: the first one that is not says it (kubectl), whatever the
  // setup phase — only an image error keeps its own words, prefixed.
  const initializing = inits.length > 0 && !rec.initDone && !ending && status !== 'DeadlineExceeded' && !seen;
  if (initializing) {
    const word = initWord(inits);
    if (status === 'ErrImagePull' || status === 'ImagePullBackOff') status = `Init:${status}`;
    else if (word) {
      status = word;
      const bad = inits.find((r) => r.state !== 'running' && r.reason && r.reason !== 'Completed');
      if (bad && !reason) {
        reason = bad.reason;
        const a = rec.apps[bad.name];
        message = a?.lastError
          ? `init container ${bad.name}: ${a.lastError.message}`
          : a?.lastExit
            ? `init container ${bad.name} exited with code ${a.lastExit.exitCode}`
            : null;
      }
    }
  }
  if (issue) {
    status = 'InvalidSpec';
    reason = 'InvalidSpec';
    message = `${issue.file}${issue.line ? `:${issue.line}:${issue.column ?? 1}` : ''}: ${issue.path ? `${issue.path}: ` : ''}${issue.message} (the last good spec keeps running)`;
  }
  const network = net ?? { netns: rec.netns, attachments: rec.attachments };
  // restarts: every init container's while initializing, then the sidecars' and the apps' (kubectl)
  const counted = initializing ? [...inits, ...apps] : [...sidecars, ...apps];
  const restartTimes = counted
    .filter((a) => a.restartCount > 0)
    .map((a) => rec.apps[a.name]?.lastExit?.finishedAt ?? rec.apps[a.name]?.startedAt ?? 0)
    .filter((t) => t > 0);
  const completed = status === 'Completed';
  return {
    namespace: rec.namespace,
    name: rec.name,
    uid: rec.uid,
    status,
    ready: `${readyCount}/${apps.length + sidecars.length}`,
    restarts: counted.reduce((n, a) => n + a.restartCount, 0),
    reason,
    message,
    source: rec.source.file,
    revision: rec.source.revision ?? null,
    netns: network.netns,
    ips: network.attachments.flatMap((a) => a.ips.map((ip) => ip.split('/')[0]!)),
    networks: network.attachments.map((a) => ({ name: a.network, interface: a.interface, ips: a.ips })),
    apps,
    initContainers: inits,
    conditions: podConditions(rec, apps, inits, completed, gates),
    createdAt: iso(rec.createdAt),
    labels: { ...(rec.pod.metadata.labels ?? {}) },
    ports: rec.pod.spec.containers.flatMap((c) =>
      (c.ports ?? []).map((p) => ({
        app: c.name,
        name: p.name ?? null,
        containerPort: p.containerPort,
        hostPort: p.hostPort ?? null,
        hostIP: p.hostIP ?? null,
        protocol: p.protocol ?? 'TCP',
      })),
    ),
    lastRestartAt: restartTimes.length ? iso(Math.max(...restartTimes)) : null,
  };
}

/** An app's message with the app named (the row's reason is the kubelet's word, not the app). */
const appMessage = (app: string, message: string | undefined): string | null => (message ? `app ${app}: ${message}` : null);

/** A row of a pod berth runs nothing for: what it is and why; no apps, network or conditions. */
function bareRow(row: Pick<PodStatusRow, 'namespace' | 'name' | 'uid' | 'status' | 'reason' | 'message' | 'source'>): PodStatusRow {
  // the key order of every other row (`status -o json` prints them as they are)
  return {
    namespace: row.namespace,
    name: row.name,
    uid: row.uid,
    status: row.status,
    ready: '0/0',
    restarts: 0,
    reason: row.reason,
    message: row.message,
    source: row.source,
    netns: null,
    ips: [],
    networks: [],
    apps: [],
    initContainers: [],
    conditions: [],
    createdAt: null,
    labels: {},
    ports: [],
    lastRestartAt: null,
  };
}

/** A row for a pod that has no applied spec: invalid from the start, or a losing duplicate. */
export function issueRow(issue: SpecIssue, status: 'InvalidSpec' | 'Conflict'): PodStatusRow {
  const [namespace, name] = (isPodKey(issue.key) ? issue.key : `default/${issue.file}`).split('/') as [string, string];
  return bareRow({
    namespace,
    name,
    uid: null,
    status,
    reason: status,
    message: `${issue.file}${issue.line ? `:${issue.line}:${issue.column ?? 1}` : ''}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`,
    source: issue.file,
  });
}

/** A row for a pod held for its unreadable record: only its uid is known; the message says which file and why. */
export function heldRow(h: HeldRecord): PodStatusRow {
  return bareRow({ namespace: '', name: h.uid, uid: h.uid, status: 'Unknown', reason: 'DataLoss', message: h.error.message, source: null });
}

/** Has this pod reached what its spec asks for? (`reconcile --once` exit code 0) */
export function converged(row: PodStatusRow): boolean {
  if (row.status === 'Completed') return true;
  // Running and every app and sidecar ready (readiness probes); the readiness gates are set
  // from outside (berth condition) and are not waited for
  const ready = row.conditions.find((c) => c.type === 'ContainersReady');
  return row.status === 'Running' && (ready === undefined || ready.status === 'True');
}

/** Issue keys name a pod (`namespace/name`) or a network (`name`). */
export function isPodKey(key: string | undefined): key is string {
  return key !== undefined && key.includes('/');
}

/**
 * Rows for every applied pod (with its apps' live state), pods whose current document is
 * invalid (InvalidSpec: the last good spec keeps running, or never applied), and documents
 * that lost a duplicate conflict. Sorted by namespace/name.
 */
export function statusRows(
  pods: Array<{ rec: PodRecord; live: Record<string, AppStatus | undefined>; net?: ObservedNetwork; gates?: GateConditions }>,
  issues: SpecIssue[],
  conflicts: SpecIssue[],
  /** `key@hash` of the pod documents that loaded this round: a file-wide error holds only the others */
  loaded?: string[],
  held: HeldRecord[] = [],
): PodStatusRow[] {
  const fresh = new Set(loaded ?? []);
  const invalid = new Map(issues.filter((i) => i.severity === 'error' && isPodKey(i.key)).map((i) => [i.key!, i]));
  // Errors without a key are about a whole file (a YAML syntax error, a refused file) or a
  // whole source (a spec directory that cannot be read): pods applied from it are held.
  const whole = issues.filter((i) => i.severity === 'error' && i.key === undefined && i.reason === undefined);
  const sources = issues.filter((i) => i.reason === 'SourceError');
  const rows = pods.map(({ rec, live, net, gates }) => {
    const fileIssue = fresh.has(`${rec.key}@${rec.hash}`) ? undefined : whole.find((i) => i.file === rec.source.file);
    const row = podStatusRow(rec, live, invalid.get(rec.key) ?? fileIssue, net, gates);
    const file = rec.source.file;
    const source = fileIssue
      ? undefined
      : sources.find((i) => i.file === file || file.startsWith(i.file.endsWith('/') ? i.file : `${i.file}/`));
    return source ? { ...row, reason: 'SourceError', message: `${source.message} (the pod is kept as it is)` } : row;
  });
  const keys = new Set(pods.map((p) => p.rec.key));
  for (const [key, i] of invalid) if (!keys.has(key)) rows.push(issueRow(i, 'InvalidSpec'));
  for (const c of conflicts) rows.push(issueRow(c, 'Conflict'));
  for (const h of held) rows.push(heldRow(h));
  return rows.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}
