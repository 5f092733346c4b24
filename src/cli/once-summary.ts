/**
 * What `reconcile --once` did, pod by pod (issue 12 item 2): which pods it created, updated
 * (replaced or restarted), deleted or left unchanged, where each ended and, for each that did
 * not converge, the one line that says why. Derived from the pod records before the run and
 * the status rows after it, so it reports what the host shows, not what was attempted.
 */
import { converged, type OnceResult, type PodStatusRow } from '../reconciler/index.js';
import { formatIssue } from '../api/index.js';

export type PodChange = 'created' | 'updated' | 'deleted' | 'unchanged' | 'invalid';

export interface SummaryRow {
  namespace: string;
  name: string;
  change: PodChange;
  status: string;
  ready: string;
  converged: boolean;
  reason: string | null;
  /** for a pod that did not converge: why, in one line */
  why: string | null;
}

export interface OnceSummary {
  exitCode: number;
  pods: SummaryRow[];
  /** every input problem, `file:line:col: severity: message` */
  issues: string[];
}

/** A pod record's identity: its uid, and the hash of the spec it runs (a container update keeps the uid). */
export interface AppliedPod {
  uid: string;
  hash: string;
}

/** `before`/`after`: namespace/name → the pod record when the run began and when it ended. */
export function summarize(before: Map<string, AppliedPod>, res: OnceResult, after: Map<string, AppliedPod> = new Map()): OnceSummary {
  const pods: SummaryRow[] = [];
  const seen = new Set<string>();
  for (const r of res.rows) {
    const key = `${r.namespace}/${r.name}`;
    seen.add(key);
    const prev = before.get(key);
    const now = after.get(key);
    const updated = prev !== undefined && (prev.uid !== r.uid || (now !== undefined && now.uid === prev.uid && now.hash !== prev.hash));
    const change: PodChange = r.uid === null ? 'invalid' : prev === undefined ? 'created' : updated ? 'updated' : 'unchanged';
    pods.push(row(r, change));
  }
  for (const key of [...before.keys()].filter((k) => !seen.has(k)).sort()) {
    const [namespace, name] = key.split('/') as [string, string];
    pods.push({ namespace, name, change: 'deleted', status: 'Deleted', ready: '-', converged: true, reason: null, why: null });
  }
  return { exitCode: res.exitCode, pods, issues: res.issues.map(formatIssue) };
}

function row(r: PodStatusRow, change: PodChange): SummaryRow {
  const ok = change !== 'invalid' && converged(r) && r.status !== 'InvalidSpec';
  // the status word is kubectl's reason (ErrImagePull, CrashLoopBackOff…); the message says why
  const why = ok ? null : [r.status, r.message ?? r.reason].filter(Boolean).join(': ');
  return { namespace: r.namespace, name: r.name, change, status: r.status, ready: r.ready, converged: ok, reason: r.reason, why };
}

const RESULT: Record<number, string> = { 0: 'converged', 1: 'not converged', 2: 'invalid input' };

/** The summary as a table, with one line per pod that did not converge. */
export function formatSummary(s: OnceSummary): string {
  const head = ['NAMESPACE', 'NAME', 'CHANGE', 'STATUS', 'READY'];
  const cells = s.pods.map((p) => [p.namespace, p.name, p.change, p.status, p.ready]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!))).join('   ');
  const out = [line(head), ...cells.map(line)];
  const failed = s.pods.filter((p) => !p.converged && p.why);
  if (failed.length) out.push('', ...failed.map((p) => `${p.namespace}/${p.name}: ${p.why}`));
  const counts = (['created', 'updated', 'deleted', 'unchanged', 'invalid'] as const)
    .map((c) => [c, s.pods.filter((p) => p.change === c).length] as const)
    .filter(([, n]) => n > 0);
  out.push(
    '',
    `${RESULT[s.exitCode] ?? `exit ${s.exitCode}`}: ${counts.map(([c, n]) => `${n} ${c}`).join(', ') || 'no pods'}${s.issues.length ? `, ${s.issues.length} input problem${s.issues.length > 1 ? 's' : ''}` : ''}`,
  );
  return `${out.join('\n')}\n`;
}
