/**
 * Pod status in kubectl's words (DESIGN.md §1), observed: from what the host shows now (is
 * the app's process there, how did it exit, the netns handle, the CNI cache), plus the pod
 * record for what the host cannot tell (restart counts, back-off, the last error, how far
 * setup got). `berth status -o json` is a stable interface: keep the field names.
 */
import type { SpecIssue } from '../spec/types.js';
import type { AppStatus } from '../runtime/types.js';
import type { Attachment } from '../state-machines/pod.machine.js';
import type { PodRecord } from './records.js';

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
  | 'CreateContainerConfigError';

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

/** The pod's network as the host shows it: the netns handle (null when gone) and the CNI cache. */
export interface ObservedNetwork {
  netns: string | null;
  attachments: Attachment[];
}

type AppRec = PodRecord['apps'][string];

/** Has the host seen this execution run? An exit before "started" is the agent's interrupted start. */
const ranAndExited = (l: AppStatus | undefined): boolean => l?.state === 'exited' && l.startedAt !== undefined;

/** Why an app that the host does not show running waits, in the kubelet's words. */
function waitingReason(a: AppRec | undefined, l: AppStatus | undefined): string | null {
  if (a?.lastError?.reason === 'ErrImagePull') return a.state === 'backoff' || a.state === 'startFailed' ? 'ImagePullBackOff' : 'ErrImagePull';
  // a start that failed (not an exit: exits clear lastError) is the start's reason, retried or not
  if ((a?.state === 'failed' || a?.state === 'backoff') && a.lastError) return a.lastError.reason === 'CreateContainerConfigError' ? 'CreateContainerConfigError' : 'CreateContainerError';
  if (a?.state === 'backoff' && (a.backoffMs ?? 0) > 0) return 'CrashLoopBackOff';
  if (ranAndExited(l)) return l?.reason ?? (l?.exitCode === 0 ? 'Completed' : 'Error');
  // a process that could not be run, not retried (restartPolicy Never): its container is gone
  if (a?.state === 'failed' && a.lastExit?.reason === 'StartError') return 'StartError';
  return l?.state === 'created' || a?.state === 'starting' ? 'ContainerCreating' : null;
}

function appRow(rec: PodRecord, c: PodRecord['pod']['spec']['containers'][number], l: AppStatus | undefined): AppStatusRow {
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
  };
}

/**
 * Status of an applied pod, observed: `live` is the runtime's view of each app (by app name),
 * `net` the host's view of the network (default: the record's). Once the host shows an app
 * (running, or exited after it started) the pod's word comes from its apps — every app
 * running is Running whatever phase the record was left in; the record only adds what the
 * host cannot tell (restart counts, back-off, the last error). Before that, the record's
 * setup phase says how far setup got (ContainerCreating, ErrImagePull, …).
 */
export function podStatusRow(rec: PodRecord, live: Record<string, AppStatus | undefined>, issue?: SpecIssue, net?: ObservedNetwork): PodStatusRow {
  const policy = rec.pod.spec.restartPolicy;
  const apps = rec.pod.spec.containers.map((c) => appRow(rec, c, live[c.name]));
  const readyCount = apps.filter((a) => a.state === 'running').length;
  const seen = apps.some((a) => a.state !== 'waiting');
  let status: PodStatusWord;
  let reason: string | null = null;
  let message: string | null = null;
  const err = rec.lastError;
  const phase = seen && rec.phase !== 'terminating' && rec.phase !== 'terminated' ? 'running' : rec.phase;
  switch (phase) {
    case 'terminating':
    case 'terminated':
      status = 'Terminating';
      break;
    case 'pending':
      status = 'Pending';
      break;
    case 'pulling':
    case 'rendering':
    case 'sandbox':
    case 'attaching':
    case 'initializing':
    case 'stepFailed':
    case 'setupBackoff':
      status = 'ContainerCreating';
      if (err) {
        message = err.message;
        reason = err.step;
        if (err.step === 'pull' || err.step === 'render') status = rec.phase === 'setupBackoff' ? 'ImagePullBackOff' : 'ErrImagePull';
      }
      break;
    case 'failed':
      status = err?.step === 'pull' || err?.step === 'render' ? 'ErrImagePull' : err?.step === 'init' ? 'Error' : 'CreateContainerError';
      reason = err?.step ?? null;
      message = err?.message ?? null;
      break;
    default: {
      const crash = apps.find((a) => a.reason === 'CrashLoopBackOff');
      const image = apps.find((a) => a.reason === 'ImagePullBackOff' || a.reason === 'ErrImagePull');
      const failedStart = apps.find((a) => a.reason === 'CreateContainerError' || a.reason === 'CreateContainerConfigError' || a.reason === 'StartError');
      if (crash) {
        status = 'CrashLoopBackOff';
        reason = crash.name;
        const last = rec.apps[crash.name]?.lastExit;
        message = `back-off restarting app ${crash.name}${last ? ` (exit code ${last.exitCode})` : ''}`;
      } else if (image) {
        status = image.reason as 'ImagePullBackOff' | 'ErrImagePull';
        reason = image.name;
        message = rec.apps[image.name]?.lastError?.message ?? null;
      } else if (failedStart) {
        status = failedStart.reason as 'CreateContainerError' | 'CreateContainerConfigError' | 'StartError';
        reason = failedStart.name;
        message = rec.apps[failedStart.name]?.lastError?.message ?? rec.apps[failedStart.name]?.lastExit?.message ?? null;
      } else if (readyCount === apps.length) status = 'Running';
      else if (apps.every((a) => a.state === 'terminated' && a.exitCode === 0) && policy !== 'Always') status = 'Completed';
      else if (apps.some((a) => a.state === 'terminated' && a.exitCode !== 0)) status = 'Error';
      else status = 'ContainerCreating';
    }
  }
  if (issue) {
    status = 'InvalidSpec';
    reason = 'InvalidSpec';
    message = `${issue.file}${issue.line ? `:${issue.line}:${issue.column ?? 1}` : ''}: ${issue.path ? `${issue.path}: ` : ''}${issue.message} (the last good spec keeps running)`;
  }
  const network = net ?? { netns: rec.netns, attachments: rec.attachments };
  const restartTimes = apps
    .filter((a) => a.restartCount > 0)
    .map((a) => rec.apps[a.name]?.lastExit?.finishedAt ?? rec.apps[a.name]?.startedAt ?? 0)
    .filter((t) => t > 0);
  return {
    namespace: rec.namespace,
    name: rec.name,
    uid: rec.uid,
    status,
    ready: `${readyCount}/${apps.length}`,
    restarts: apps.reduce((n, a) => n + a.restartCount, 0),
    reason,
    message,
    source: rec.source.file,
    revision: rec.source.revision ?? null,
    netns: network.netns,
    ips: network.attachments.flatMap((a) => a.ips.map((ip) => ip.split('/')[0]!)),
    networks: network.attachments.map((a) => ({ name: a.network, interface: a.interface, ips: a.ips })),
    apps,
    createdAt: iso(rec.createdAt),
    labels: { ...(rec.pod.metadata.labels ?? {}) },
    ports: rec.pod.spec.containers.flatMap((c) =>
      (c.ports ?? []).map((p) => ({ app: c.name, name: p.name ?? null, containerPort: p.containerPort, hostPort: p.hostPort ?? null, hostIP: p.hostIP ?? null, protocol: p.protocol ?? 'TCP' })),
    ),
    lastRestartAt: restartTimes.length ? iso(Math.max(...restartTimes)) : null,
  };
}

/** A row for a pod that has no applied spec: invalid from the start, or a losing duplicate. */
export function issueRow(issue: SpecIssue, status: 'InvalidSpec' | 'Conflict'): PodStatusRow {
  const [namespace, name] = (isPodKey(issue.key) ? issue.key : `default/${issue.file}`).split('/') as [string, string];
  return {
    namespace,
    name,
    uid: null,
    status,
    ready: '0/0',
    restarts: 0,
    reason: status,
    message: `${issue.file}${issue.line ? `:${issue.line}:${issue.column ?? 1}` : ''}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`,
    source: issue.file,
    netns: null,
    ips: [],
    networks: [],
    apps: [],
    createdAt: null,
    labels: {},
    ports: [],
    lastRestartAt: null,
  };
}

/** Has this pod reached what its spec asks for? (`reconcile --once` exit code 0) */
export function converged(row: PodStatusRow): boolean {
  return row.status === 'Running' || row.status === 'Completed';
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
  pods: Array<{ rec: PodRecord; live: Record<string, AppStatus | undefined>; net?: ObservedNetwork }>,
  issues: SpecIssue[],
  conflicts: SpecIssue[],
  /** `key@hash` of the pod documents that loaded this round: a file-wide error holds only the others */
  loaded?: string[],
): PodStatusRow[] {
  const fresh = new Set(loaded ?? []);
  const invalid = new Map(issues.filter((i) => i.severity === 'error' && isPodKey(i.key)).map((i) => [i.key!, i]));
  // Errors without a key are about a whole file (a YAML syntax error, a refused file) or a
  // whole source (a spec directory that cannot be read): pods applied from it are held.
  const whole = issues.filter((i) => i.severity === 'error' && i.key === undefined && i.reason === undefined);
  const sources = issues.filter((i) => i.reason === 'SourceError');
  const rows = pods.map(({ rec, live, net }) => {
    const fileIssue = fresh.has(`${rec.key}@${rec.hash}`) ? undefined : whole.find((i) => i.file === rec.source.file);
    const row = podStatusRow(rec, live, invalid.get(rec.key) ?? fileIssue, net);
    const file = rec.source.file;
    const source = fileIssue ? undefined : sources.find((i) => i.file === file || file.startsWith(i.file.endsWith('/') ? i.file : `${i.file}/`));
    return source ? { ...row, reason: 'SourceError', message: `${source.message} (the pod is kept as it is)` } : row;
  });
  const keys = new Set(pods.map((p) => p.rec.key));
  for (const [key, i] of invalid) if (!keys.has(key)) rows.push(issueRow(i, 'InvalidSpec'));
  for (const c of conflicts) rows.push(issueRow(c, 'Conflict'));
  return rows.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}
