/**
 * `berth describe POD` in kubectl's layout (kubectl/pkg/describe describePod): the same
 * sections, labels and value formats (probes, ports, env sources, mounts, volumes, the events
 * table with `(x4 over 2m)`), aligned with Go's text/tabwriter rules (minwidth 0, padding 2):
 * a run of consecutive lines with a cell in a column shares that column's width. Pure: the
 * command gathers the record, the observed status and the events; tests feed fixed ones.
 */
import { qosClass } from '../runtime/qos.js';
import type { AppStatus } from '../runtime/types.js';
import type { Container, EnvVar, Pod, Volume } from '../api/pod.js';
import type { PodRecord, PodStatusRow, StoredEvent } from '../reconciler/index.js';
import { kubeAge } from './format.js';

export interface DescribeInput {
  rec: PodRecord;
  /** the observed status row (collectStatus) */
  row: PodStatusRow;
  /** the runtime's view of every app, init containers too (by name) */
  live: Record<string, AppStatus | undefined>;
  events: StoredEvent[];
  now: number;
  /** kubectl's Node line: `name/hostIP` */
  node: string;
  /** OCI runtime name, the Container ID's scheme (`crun://berth-…`) */
  runtime: string;
  /** the host's allocatable (for resourceFieldRef env values of unset limits) */
  allocatable?: { cpuCores: number; memoryBytes: number };
  /** the pod is being torn down (Terminating) */
  terminating?: boolean;
}

/** Go's text/tabwriter (minwidth 0, padding 2, spaces): tab-terminated cells aligned in blocks. */
export function tabwrite(text: string, padding = 2): string {
  const lines = text.split('\n').map((l) => l.split('\t'));
  const widths: number[][] = lines.map(() => []);
  const len = (s: string) => [...s].length;
  const format = (line0: number, line1: number, col: number): void => {
    let i = line0;
    while (i < line1) {
      if (lines[i]!.length - 1 <= col) {
        i++;
        continue;
      }
      const start = i;
      let w = 0;
      for (; i < line1 && lines[i]!.length - 1 > col; i++) w = Math.max(w, len(lines[i]![col]!) + padding);
      for (let j = start; j < i; j++) widths[j]![col] = w;
      format(start, i, col + 1);
    }
  };
  format(0, lines.length, 0);
  return lines
    .map((cells, n) => cells.map((c, k) => (k < cells.length - 1 ? c + ' '.repeat(Math.max(0, widths[n]![k]! - len(c))) : c)).join(''))
    .join('\n');
}

const pad2 = (n: number) => String(n).padStart(2, '0');
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Go's time.RFC1123Z in local time: `Wed, 02 Dec 2026 00:10:00 +0000`. */
export function rfc1123z(ms: number): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const z = `${sign}${pad2(Math.floor(Math.abs(off) / 60))}${pad2(Math.abs(off) % 60)}`;
  return `${DAYS[d.getDay()]}, ${pad2(d.getDate())} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${z}`;
}

type ProbeSpec = NonNullable<Container['livenessProbe']>;

/** kubectl DescribeProbe, with the API server's defaults (timeout 1, period 10, #success 1, #failure 3). */
export function describeProbe(p: ProbeSpec): string {
  const attrs = `delay=${p.initialDelaySeconds ?? 0}s timeout=${p.timeoutSeconds ?? 1}s period=${p.periodSeconds ?? 10}s #success=${p.successThreshold ?? 1} #failure=${p.failureThreshold ?? 3}`;
  if (p.exec) return `exec [${p.exec.command.join(' ')}] ${attrs}`;
  if (p.httpGet) {
    const h = p.httpGet;
    const host = h.host ?? '';
    const port = String(h.port);
    const hostPort = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const path = h.path ? (h.path.startsWith('/') ? h.path : `/${h.path}`) : '';
    return `http-get ${(h.scheme ?? 'HTTP').toLowerCase()}://${hostPort}${path} ${attrs}`;
  }
  if (p.tcpSocket) return `tcp-socket ${p.tcpSocket.host ?? ''}:${p.tcpSocket.port} ${attrs}`;
  if (p.grpc) return `grpc <pod>:${p.grpc.port} ${p.grpc.service ?? ''} ${attrs}`;
  return `unknown ${attrs}`;
}

const orNone = (s: string) => (s === '' ? '<none>' : s);

/** kubectl's env value sources: `(v1:metadata.name)`, `(limits.memory)`. */
function envLines(c: Container, pod: Pod, rec: PodRecord, ips: string[], node: DescribeInput): string[] {
  const env: EnvVar[] = c.env ?? [];
  if (env.length === 0) return ['    Environment:\t<none>'];
  const out = ['    Environment:'];
  for (const e of env) {
    const from = e.valueFrom;
    if (!from) {
      (e.value ?? '').split('\n').forEach((s, i) => out.push(i === 0 ? `      ${e.name}:\t${s}` : `      \t${s}`));
    } else if (from.fieldRef) {
      out.push(
        `      ${e.name}:\t${fieldValue(from.fieldRef.fieldPath, pod, rec, ips, node.node)} (${from.fieldRef.apiVersion ?? 'v1'}:${from.fieldRef.fieldPath})`,
      );
    } else if (from.resourceFieldRef) {
      const r = from.resourceFieldRef;
      const [kind, name] = r.resource.split('.') as [string, string];
      const q = kind === 'limits' ? c.resources?.limits?.[name] : (c.resources?.requests?.[name] ?? c.resources?.limits?.[name]);
      const v = q === undefined ? (kind === 'limits' && (name === 'cpu' || name === 'memory') ? 'node allocatable' : '0') : String(q);
      out.push(`      ${e.name}:\t${v} (${r.resource})`);
    }
  }
  return out;
}

function fieldValue(path: string, pod: Pod, rec: PodRecord, ips: string[], node: string): string {
  const sub = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path);
  if (sub) return (sub[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[sub[2]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return rec.name;
    case 'metadata.namespace':
      return rec.namespace;
    case 'metadata.uid':
      return rec.uid;
    case 'spec.nodeName':
      return node.split('/')[0] ?? '';
    case 'status.podIP':
      return ips[0] ?? '';
    case 'status.podIPs':
      return ips.join(',');
    case 'status.hostIP':
      return node.split('/')[1] ?? '';
    default:
      return '';
  }
}

function portLines(c: Container): string[] {
  const ports = c.ports ?? [];
  const p = ports.map((x) => `${x.containerPort}/${x.protocol ?? 'TCP'}`).join(', ');
  const h = ports.map((x) => `${x.hostPort ?? 0}/${x.protocol ?? 'TCP'}`).join(', ');
  return [
    p.includes(',') ? `    Ports:\t${p}` : `    Port:\t${orNone(p)}`,
    h.includes(',') ? `    Host Ports:\t${h}` : `    Host Port:\t${orNone(h)}`,
  ];
}

function stateLines(
  name: string,
  s:
    | { kind: 'running'; startedAt?: number }
    | { kind: 'waiting'; reason?: string | null; message?: string | null }
    | { kind: 'terminated'; reason?: string; message?: string; exitCode: number; startedAt?: number; finishedAt?: number },
): string[] {
  if (s.kind === 'running') return [`    ${name}:\tRunning`, ...(s.startedAt ? [`      Started:\t${rfc1123z(s.startedAt)}`] : [])];
  if (s.kind === 'waiting')
    return [
      `    ${name}:\tWaiting`,
      ...(s.reason ? [`      Reason:\t${s.reason}`] : []),
      ...(s.message ? [`      Message:\t${s.message}`] : []),
    ];
  return [
    `    ${name}:\tTerminated`,
    ...(s.reason ? [`      Reason:\t${s.reason}`] : []),
    ...(s.message ? [`      Message:\t${s.message}`] : []),
    `      Exit Code:\t${s.exitCode}`,
    ...(s.startedAt ? [`      Started:\t${rfc1123z(s.startedAt)}`] : []),
    ...(s.finishedAt ? [`      Finished:\t${rfc1123z(s.finishedAt)}`] : []),
  ];
}

const exitReason = (code: number, reason?: string) => reason ?? (code === 0 ? 'Completed' : 'Error');

function containerLines(c: Container, init: boolean, input: DescribeInput): string[] {
  const { rec, row, live } = input;
  const a = rec.apps[c.name] as
    | (PodRecord['apps'][string] & {
        ready?: boolean;
        lastExit?: { exitCode: number; finishedAt: number; reason?: string; message?: string } | null;
      })
    | undefined;
  const l = live[c.name];
  const appRow = row.apps.find((x) => x.name === c.name);
  const out = [`  ${c.name}:`];
  if (l && l.state !== 'unknown') out.push(`    Container ID:\t${input.runtime}://${l.containerId}`);
  out.push(`    Image:\t${c.image}`);
  out.push(`    Image ID:\t${a?.imageDigest ? `${c.image}@${a.imageDigest}` : ''}`);
  out.push(...portLines(c));
  if (c.command?.length) out.push('    Command:', ...c.command.flatMap((x) => x.split('\n').map((s) => `      ${s}`)));
  if (c.args?.length) out.push('    Args:', ...c.args.flatMap((x) => x.split('\n').map((s) => `      ${s}`)));
  const ran = l?.state === 'exited' && l.startedAt !== undefined;
  const lastExit = a?.lastExit ?? null;
  const again = a?.state === 'backoff' || a?.state === 'starting'; // an exit being answered with a restart
  const initCompleted = init && !c.restartPolicy && (rec.initDone || a?.state === 'succeeded');
  if (l?.state === 'running') {
    const startedAt = l.startedAt ?? a?.startedAt ?? undefined;
    out.push(...stateLines('State', { kind: 'running', ...(startedAt ? { startedAt } : {}) }));
  } else if (ran && !again) {
    const code = l.exitCode ?? -1;
    out.push(
      ...stateLines('State', {
        kind: 'terminated',
        exitCode: code,
        reason: exitReason(code, l.reason ?? lastExit?.reason),
        ...(lastExit?.message ? { message: lastExit.message } : {}),
        ...(l.startedAt ? { startedAt: l.startedAt } : {}),
        ...(l.finishedAt ? { finishedAt: l.finishedAt } : {}),
      }),
    );
  } else if (initCompleted && !again) {
    const code = lastExit?.exitCode ?? 0;
    out.push(
      ...stateLines('State', {
        kind: 'terminated',
        exitCode: code,
        reason: exitReason(code, lastExit?.reason),
        ...(lastExit?.finishedAt ? { finishedAt: lastExit.finishedAt } : {}),
      }),
    );
  } else {
    const reason =
      appRow?.reason ??
      (a?.lastError?.reason === 'ErrImagePull'
        ? a.state === 'backoff'
          ? 'ImagePullBackOff'
          : 'ErrImagePull'
        : a?.state === 'backoff' && (a.backoffMs ?? 0) > 0
          ? 'CrashLoopBackOff'
          : null) ??
      (!init && (rec.pod.spec.initContainers?.length ?? 0) > 0 && !rec.initDone ? 'PodInitializing' : 'ContainerCreating');
    out.push(...stateLines('State', { kind: 'waiting', reason, message: a?.lastError?.message ?? null }));
  }
  // the previous execution's end, when the app was restarted (the current one is State)
  const restarts = a?.restartCount ?? 0;
  if (
    lastExit &&
    lastExit.finishedAt > 0 &&
    (l?.state === 'running' || a?.state === 'backoff' || a?.state === 'starting') &&
    restarts > 0
  ) {
    out.push(
      ...stateLines('Last State', {
        kind: 'terminated',
        exitCode: lastExit.exitCode,
        reason: exitReason(lastExit.exitCode, lastExit.reason),
        ...(lastExit.message ? { message: lastExit.message } : {}),
        finishedAt: lastExit.finishedAt,
      }),
    );
  }
  const ready = typeof a?.ready === 'boolean' ? a.ready && l?.state === 'running' : l?.state === 'running';
  out.push(`    Ready:\t${ready || (initCompleted && !again) ? 'True' : 'False'}`);
  out.push(`    Restart Count:\t${restarts}`);
  const lim = c.resources?.limits ?? {};
  const req = c.resources?.requests ?? {};
  if (Object.keys(lim).length)
    out.push(
      '    Limits:',
      ...Object.keys(lim)
        .sort()
        .map((k) => `      ${k}:\t${lim[k]}`),
    );
  if (Object.keys(req).length)
    out.push(
      '    Requests:',
      ...Object.keys(req)
        .sort()
        .map((k) => `      ${k}:\t${req[k]}`),
    );
  if (c.livenessProbe) out.push(`    Liveness:\t${describeProbe(c.livenessProbe)}`);
  if (c.readinessProbe) out.push(`    Readiness:\t${describeProbe(c.readinessProbe)}`);
  if (c.startupProbe) out.push(`    Startup:\t${describeProbe(c.startupProbe)}`);
  out.push(...envLines(c, rec.pod, rec, row.ips, input));
  const mounts = [...(c.volumeMounts ?? [])].sort((x, y) => x.mountPath.localeCompare(y.mountPath));
  if (mounts.length === 0) out.push('    Mounts:\t<none>');
  else
    out.push(
      '    Mounts:',
      ...mounts.map(
        (m) =>
          `      ${m.mountPath} from ${m.name} (${[m.readOnly ? 'ro' : 'rw', ...(m.subPath ? [`path="${m.subPath}"`] : [])].join(',')})`,
      ),
    );
  return out;
}

function volumeLines(volumes: Volume[]): string[] {
  if (volumes.length === 0) return ['Volumes:\t<none>'];
  const out = ['Volumes:'];
  for (const v of volumes) {
    out.push(`  ${v.name}:`);
    if (v.hostPath)
      out.push(
        '    Type:\tHostPath (bare host directory volume)',
        `    Path:\t${v.hostPath.path}`,
        `    HostPathType:\t${v.hostPath.type || '<none>'}`,
      );
    else if (v.emptyDir)
      out.push(
        "    Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)",
        `    Medium:\t${v.emptyDir.medium ?? ''}`,
        `    SizeLimit:\t${v.emptyDir.sizeLimit !== undefined && String(v.emptyDir.sizeLimit) !== '0' ? String(v.emptyDir.sizeLimit) : '<unset>'}`,
      );
    else if (v.downwardAPI) {
      out.push('    Type:\tDownwardAPI (a volume populated by information about the pod)', '    Items:');
      for (const i of v.downwardAPI.items ?? []) {
        if (i.fieldRef) out.push(`      ${i.fieldRef.fieldPath} -> ${i.path}`);
        if (i.resourceFieldRef) out.push(`      ${i.resourceFieldRef.resource} -> ${i.path}`);
      }
    } else if (v.image)
      out.push(
        '    Type:\tImage (a container image or OCI artifact)',
        `    Reference:\t${v.image.reference}`,
        `    PullPolicy:\t${v.image.pullPolicy ?? ''}`,
      );
    else out.push('    Type:\t<unknown>');
  }
  return out;
}

/** The pod's phase as the kubelet computes it (Pending, Running, Succeeded, Failed). */
export function podPhase(rec: PodRecord, live: Record<string, AppStatus | undefined>): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  const states = rec.pod.spec.containers.map((c) => live[c.name]);
  if (states.some((s) => s?.state === 'running')) return 'Running';
  const ended = states.filter((s) => s?.state === 'exited' && s.startedAt !== undefined);
  if (ended.length === states.length && states.length > 0) {
    if (ended.every((s) => s!.exitCode === 0)) return 'Succeeded';
    return rec.pod.spec.restartPolicy === 'Always' || rec.pod.spec.restartPolicy === 'OnFailure' ? 'Running' : 'Failed';
  }
  if (rec.phase === 'failed') return 'Failed';
  return ended.length > 0 ? 'Running' : 'Pending';
}

/** kubectl's event table: Type Reason Age From Message, `3m (x4 over 10m)` for counted ones. */
export function eventLines(events: StoredEvent[], now: number): string[] {
  if (events.length === 0) return ['Events:\t<none>'];
  const sorted = [...events].sort((a, b) => a.lastTimestamp - b.lastTimestamp);
  return [
    'Events:',
    '  Type\tReason\tAge\tFrom\tMessage',
    '  ----\t------\t----\t----\t-------',
    ...sorted.map((e) => {
      const first = kubeAge(now - e.firstTimestamp);
      const age = e.count > 1 ? `${kubeAge(now - e.lastTimestamp)} (x${e.count} over ${first})` : first;
      return `  ${e.type}\t${e.reason}\t${age}\t${e.source}\t${e.message.trim()}`;
    }),
  ];
}

function multiline(title: string, entries: string[]): string[] {
  if (entries.length === 0) return [`${title}:\t<none>`];
  return entries.map((e, i) => (i === 0 ? `${title}:\t${e}` : `\t${e}`));
}

export function formatDescribe(input: DescribeInput): string {
  const { rec, row, live } = input;
  const pod = rec.pod;
  const labels = pod.metadata.labels ?? {};
  const annotations = pod.metadata.annotations ?? {};
  const phase = podPhase(rec, live);
  const out: string[] = [`Name:\t${rec.name}`, `Namespace:\t${rec.namespace}`];
  if (pod.spec.priority !== undefined) out.push(`Priority:\t${pod.spec.priority}`);
  if (pod.spec.priorityClassName) out.push(`Priority Class Name:\t${pod.spec.priorityClassName}`);
  out.push(`Node:\t${input.node}`, `Start Time:\t${rfc1123z(rec.createdAt)}`);
  out.push(
    ...multiline(
      'Labels',
      Object.keys(labels)
        .sort()
        .map((k) => `${k}=${labels[k]}`),
    ),
  );
  out.push(
    ...multiline(
      'Annotations',
      Object.keys(annotations)
        .sort()
        .map((k) => `${k}: ${annotations[k]}`),
    ),
  );
  if (input.terminating) out.push(`Status:\tTerminating`, `Termination Grace Period:\t${pod.spec.terminationGracePeriodSeconds ?? 30}s`);
  else out.push(`Status:\t${phase}`);
  // berth's one-word status when it says more than the phase (CrashLoopBackOff, InvalidSpec…)
  if (!['Running', 'Completed', 'Pending', 'ContainerCreating', 'Terminating'].includes(row.status)) out.push(`Reason:\t${row.status}`);
  if (row.message && row.status !== 'Running') out.push(`Message:\t${row.message}`);
  out.push(`Source:\t${rec.source.file}${rec.source.line ? `:${rec.source.line}` : ''}`);
  const ips = pod.spec.hostNetwork ? [input.node.split('/')[1] ?? ''].filter(Boolean) : row.ips;
  out.push(`IP:\t${ips[0] ?? ''}`);
  if (ips.length === 0) out.push('IPs:\t<none>');
  else out.push('IPs:', ...ips.map((ip) => `  IP:\t${ip}`));
  if (pod.spec.initContainers?.length)
    out.push('Init Containers:', ...pod.spec.initContainers.flatMap((c) => containerLines(c, true, input)));
  out.push('Containers:', ...pod.spec.containers.flatMap((c) => containerLines(c, false, input)));
  // the kubelet's pod conditions, from what the host shows
  const pastSandbox = !['pending', 'init', 'pulling', 'verifying', 'rendering', 'sandbox', 'terminated'].includes(rec.phase);
  const sandboxReady = pod.spec.hostNetwork ? pastSandbox : row.netns !== null;
  const apps = pod.spec.containers.map((c) => {
    const a = rec.apps[c.name] as { ready?: boolean } | undefined;
    return live[c.name]?.state === 'running' && a?.ready !== false;
  });
  const allReady = apps.every(Boolean) && apps.length > 0;
  const tf = (b: boolean) => (b ? 'True' : 'False');
  out.push(
    'Conditions:',
    '  Type\tStatus',
    `  PodReadyToStartContainers \t${tf(sandboxReady)} `,
    `  Initialized \t${tf(rec.initDone || !pod.spec.initContainers?.length)} `,
    `  Ready \t${tf(allReady)} `,
    `  ContainersReady \t${tf(allReady)} `,
    `  PodScheduled \tTrue `,
  );
  out.push(...volumeLines(pod.spec.volumes ?? []));
  out.push(`QoS Class:\t${qosClass(pod)}`);
  const sel = pod.spec.nodeSelector ?? {};
  out.push(
    ...multiline(
      'Node-Selectors',
      Object.keys(sel)
        .sort()
        .map((k) => `${k}=${sel[k]}`),
    ),
  );
  const tolerations = (pod.spec.tolerations ?? []).map((t) => {
    const x = t as { key?: string; operator?: string; value?: string; effect?: string; tolerationSeconds?: number };
    return `${x.key ?? ''}${x.value ? `=${x.value}` : ''}${x.effect ? `:${x.effect}` : ''}${x.operator === 'Exists' ? ' op=Exists' : ''}${x.tolerationSeconds !== undefined ? ` for ${x.tolerationSeconds}s` : ''}`;
  });
  out.push(...multiline('Tolerations', tolerations));
  return `${tabwrite(out.join('\n'))}\n${tabwrite(eventLines(input.events, input.now).join('\n'))}\n`;
}
