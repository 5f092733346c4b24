/** Output formatting for the operator: kubectl-like tables and JSON. */
import { systemClock } from '../common/clock.js';
import type { PodStatusRow } from '../reconciler/index.js';
import { relaxedPath } from './jsonpath.js';

export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * kubectl's age (apimachinery duration.HumanDuration): seconds up to 2 minutes, then
 * minutes (with seconds below 10m), hours (with minutes below 8h), days (with hours below
 * 8d), years.
 */
export function kubeAge(ms: number): string {
  const secs = Math.floor(ms / 1000);
  if (secs < -1) return '<invalid>';
  if (secs < 0) return '0s';
  if (secs < 120) return `${secs}s`;
  const mins = Math.floor(secs / 60);
  if (mins < 10) return secs % 60 ? `${mins}m${secs % 60}s` : `${mins}m`;
  if (mins < 180) return `${mins}m`;
  const hours = Math.floor(mins / 60);
  if (hours < 8) return mins % 60 ? `${hours}h${mins % 60}m` : `${hours}h`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 ? `${days}d${hours % 24}h` : `${days}d`;
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) return days % 365 ? `${years}y${days % 365}d` : `${years}y`;
  return `${years}y`;
}

const since = (iso: string | null, now: number) => (iso ? kubeAge(now - Date.parse(iso)) : '<unknown>');

/** RESTARTS as kubectl shows it: `5 (2m ago)` after a restart, `0` before any. */
export function restartsText(r: Pick<PodStatusRow, 'restarts' | 'lastRestartAt'>, now: number): string {
  if (r.restarts === 0) return '0';
  return r.lastRestartAt ? `${r.restarts} (${since(r.lastRestartAt, now)} ago)` : String(r.restarts);
}

/** PORTS of `-o wide`: `8080->80/TCP` for a hostPort, `80/TCP` for a containerPort alone. */
export function portsText(r: Pick<PodStatusRow, 'ports'>): string {
  const parts = r.ports.map(
    (p) =>
      `${p.hostPort !== null ? `${p.hostIP && p.hostIP !== '0.0.0.0' ? `${p.hostIP}:` : ''}${p.hostPort}->` : ''}${p.containerPort}/${p.protocol}`,
  );
  return [...new Set(parts)].join(',') || '<none>';
}

export interface TableOptions {
  wide?: boolean;
  /** `-A`: a NAMESPACE column first */
  allNamespaces?: boolean;
  now?: number;
}

export function statusHead(o: TableOptions): string[] {
  const head = ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'];
  if (o.allNamespaces) head.unshift('NAMESPACE');
  if (o.wide) head.push('IP', 'NETWORKS', 'PORTS', 'IMAGE', 'REVISION');
  return head;
}

export function statusCells(r: PodStatusRow, o: TableOptions): string[] {
  const now = o.now ?? systemClock.now();
  const line = [r.name, r.ready, r.status, restartsText(r, now), r.createdAt ? kubeAge(now - Date.parse(r.createdAt)) : '<unknown>'];
  if (o.allNamespaces) line.unshift(r.namespace);
  if (o.wide) {
    line.push(
      r.ips.join(',') || '<none>',
      r.networks.map((n) => `${n.name}(${n.interface})`).join(',') || (r.netns === null && r.uid ? 'host' : '<none>'),
      portsText(r),
      [...new Set(r.apps.map((a) => a.image))].join(',') || '<none>',
      r.revision ? r.revision.slice(0, 12) : '<none>',
    );
  }
  return line;
}

/** Column widths of a table, so that rows printed later (`-w`) line up with it. */
export function widths(rows: string[][]): number[] {
  const n = Math.max(0, ...rows.map((r) => r.length));
  return Array.from({ length: n }, (_, i) => Math.max(0, ...rows.map((r) => (r[i] ?? '').length)));
}

export function tableLine(r: string[], w: number[]): string {
  return r
    .map((c, i) => (i === r.length - 1 ? c : c.padEnd(Math.max(w[i] ?? 0, c.length) + 3)))
    .join('')
    .trimEnd();
}

/** The `status` table; `noHeaders` leaves out the header line. */
export function statusTable(rows: PodStatusRow[], o: TableOptions & { noHeaders?: boolean } = {}): string {
  const body = rows.map((r) => statusCells(r, o));
  const all = o.noHeaders ? body : [statusHead(o), ...body];
  const w = widths(all);
  return all.map((r) => tableLine(r, w)).join('\n');
}

function appJson(a: PodStatusRow['apps'][number]) {
  return {
    name: a.name,
    state: a.state,
    reason: a.reason,
    pid: a.pid,
    restartCount: a.restartCount,
    exitCode: a.exitCode,
    image: a.image,
    imageDigest: a.imageDigest,
    startedAt: a.startedAt,
    ready: a.ready,
    started: a.started,
  };
}

/** One pod of `berth status -o json` (DESIGN.md §1 fields, then the added ones). */
export function podJson(r: PodStatusRow) {
  return {
    namespace: r.namespace,
    name: r.name,
    uid: r.uid,
    status: r.status,
    ready: r.ready,
    restarts: r.restarts,
    reason: r.reason,
    message: r.message,
    // the spec file, and the git commit it was applied from (null for spec directories)
    source: { file: r.source, revision: r.revision ?? null },
    netns: r.netns,
    ips: r.ips,
    networks: r.networks,
    apps: r.apps.map(appJson),
    initContainers: r.initContainers.map((a) => ({ ...appJson(a), sidecar: a.sidecar })),
    conditions: r.conditions,
    labels: r.labels,
    ports: r.ports,
    createdAt: r.createdAt,
    lastRestartAt: r.lastRestartAt,
  };
}

/** The document of `-o json`, `-o yaml` and `-o jsonpath`. */
export function statusDoc(rows: PodStatusRow[]) {
  return { pods: rows.map(podJson) };
}

/** `berth status -o json`: the stable interface of DESIGN.md §1. */
export function statusJson(rows: PodStatusRow[]): string {
  return JSON.stringify(statusDoc(rows), null, 2);
}

/**
 * `--sort-by`: order rows by the value the relaxed JSONPath selects in each pod's JSON
 * (`.name`, `.restarts`, `.apps[0].restartCount`): numbers by value, others as text; rows
 * without the field first (kubectl puts them first as well); stable otherwise.
 */
export function sortRows(rows: PodStatusRow[], expr: string): PodStatusRow[] {
  const select = relaxedPath(expr);
  const keyed = rows.map((r, i) => ({ r, i, v: select(podJson(r))[0] }));
  const rank = (v: unknown) => (v === undefined || v === null ? 0 : 1);
  keyed.sort((a, b) => {
    if (rank(a.v) !== rank(b.v)) return rank(a.v) - rank(b.v);
    if (typeof a.v === 'number' && typeof b.v === 'number' && a.v !== b.v) return a.v - b.v;
    const sa = typeof a.v === 'object' ? JSON.stringify(a.v) : String(a.v);
    const sb = typeof b.v === 'object' ? JSON.stringify(b.v) : String(b.v);
    return sa < sb ? -1 : sa > sb ? 1 : a.i - b.i;
  });
  return keyed.map((k) => k.r);
}
