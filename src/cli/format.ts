/** Output formatting for the operator: kubectl-like tables and JSON. */
import { formatAge } from '../common/duration.js';
import type { PodStatusRow } from '../reconciler/index.js';

export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n');
}

const displayName = (r: PodStatusRow) => (r.namespace === 'default' ? r.name : `${r.namespace}/${r.name}`);

export function statusTable(rows: PodStatusRow[], wide: boolean, now = Date.now()): string {
  const head = ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'];
  if (wide) head.push('IP', 'NETWORKS', 'IMAGE');
  const body = rows.map((r) => {
    const line = [displayName(r), r.ready, r.status, String(r.restarts), r.createdAt ? formatAge(now - Date.parse(r.createdAt)) : '-'];
    if (wide) {
      line.push(
        r.ips.join(',') || '-',
        r.networks.map((n) => `${n.name}(${n.interface})`).join(',') || (r.netns === null && r.uid ? 'host' : '-'),
        [...new Set(r.apps.map((a) => a.image))].join(',') || '-',
      );
    }
    return line;
  });
  return table([head, ...body]);
}

/** `berth status -o json`: the stable interface of DESIGN.md §1. */
export function statusJson(rows: PodStatusRow[]): string {
  return JSON.stringify(
    {
      pods: rows.map((r) => ({
        namespace: r.namespace,
        name: r.name,
        uid: r.uid,
        status: r.status,
        ready: r.ready,
        restarts: r.restarts,
        reason: r.reason,
        message: r.message,
        source: r.source,
        netns: r.netns,
        ips: r.ips,
        networks: r.networks,
        apps: r.apps.map((a) => ({
          name: a.name,
          state: a.state,
          reason: a.reason,
          pid: a.pid,
          restartCount: a.restartCount,
          exitCode: a.exitCode,
          image: a.image,
          imageDigest: a.imageDigest,
        })),
      })),
    },
    null,
    2,
  );
}
