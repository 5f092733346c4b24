/**
 * The daemon's `<run>/status.json`: `berth status -o json`'s document (the agent's view of
 * every pod) plus the agent itself (pid, version, readiness) and its sources (spec
 * directories and git sources with the applied commit), written atomically when it changes
 * and at least every `refreshMs` (so that a reader can tell a live agent by `writtenAt`).
 */
import { writeFileAtomic, readJsonIfExists } from '../common/fs.js';
import type { Clock } from '../common/clock.js';
import { inputReportPath, type InputReport, type Layout, type PodStatusRow } from '../reconciler/index.js';
import { statusDoc } from '../cli/format.js';
import { join } from 'node:path';

export const statusFilePath = (l: Layout) => join(l.runDir, 'status.json');
export const socketPath = (l: Layout) => join(l.runDir, 'berth.sock');

export type AgentState = 'starting' | 'running' | 'stopping' | 'stopped';

export interface SourceStatus {
  type: 'dir' | 'git';
  /** the spec directory (git: its checkout) */
  specDir: string;
  repo?: string;
  ref?: string;
  path?: string;
  revision?: string | null;
  error: string | null;
}

export interface Readiness {
  ready: boolean;
  /** why not, in one line */
  reason: string | null;
}

export interface AgentSnapshot {
  rows: PodStatusRow[];
  report: InputReport | undefined;
  sources: SourceStatus[];
  readiness: Readiness;
}

/** Sources and readiness from the last sync's input report (`<state>/reconcile.json`). */
export async function readAgentInputs(layout: Layout, startedAt: number): Promise<Pick<AgentSnapshot, 'report' | 'sources' | 'readiness'>> {
  const report = await readJsonIfExists<InputReport>(inputReportPath(layout)).catch(() => undefined); // rewritten at every sync: a torn one shows no issues until then
  // written by this agent's first sync (an earlier agent's report does not count)
  const synced = report !== undefined && Date.parse(report.at) >= startedAt;
  const sourceErrors = synced ? report.issues.filter((i) => i.reason === 'SourceError' && i.severity === 'error') : [];
  const git = synced ? (report.sources ?? []) : [];
  const sources: SourceStatus[] = [
    ...layout.specDirs.map((d) => ({ type: 'dir' as const, specDir: d, error: sourceErrors.find((i) => i.file === d)?.message ?? null })),
    ...git.map((g) => ({
      type: 'git' as const,
      specDir: g.specDir,
      repo: g.repo,
      ref: g.ref,
      path: g.path,
      revision: g.revision,
      error: g.error ?? sourceErrors.find((i) => i.file === g.specDir)?.message ?? null,
    })),
  ];
  let readiness: Readiness = { ready: true, reason: null };
  if (!synced) readiness = { ready: false, reason: 'the first sync has not finished' };
  else if (sourceErrors.length) readiness = { ready: false, reason: sourceErrors.map((i) => i.message).join('; ') };
  return { report, sources, readiness };
}

/** One line for systemd's STATUS=: pod counts by status word, and what is wrong. */
export function statusLine(s: Pick<AgentSnapshot, 'rows' | 'readiness' | 'sources'>): string {
  const counts = new Map<string, number>();
  for (const r of s.rows) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const pods = s.rows.length === 1 ? '1 pod' : `${s.rows.length} pods`;
  const words = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([w, n]) => `${n} ${w}`);
  const revs = s.sources.filter((x) => x.type === 'git' && x.revision).map((x) => `git ${x.revision!.slice(0, 12)}`);
  const parts = [`${pods}${words.length ? `: ${words.join(', ')}` : ''}`, ...revs];
  if (!s.readiness.ready && s.readiness.reason) parts.push(`not ready: ${s.readiness.reason}`);
  return parts.join('; ');
}

export function statusFileDoc(
  s: AgentSnapshot,
  agent: { pid: number; version: string; startedAt: number; state: AgentState },
  now: number,
) {
  return {
    ...statusDoc(s.rows),
    agent: {
      pid: agent.pid,
      version: agent.version,
      state: agent.state,
      startedAt: new Date(agent.startedAt).toISOString(),
      ready: s.readiness.ready,
      notReadyReason: s.readiness.reason,
      lastSyncAt: s.report?.at ?? null,
    },
    sources: s.sources,
    writtenAt: new Date(now).toISOString(),
  };
}

/** Writes the file when its content (writtenAt aside) changed, or when `refreshMs` passed. */
export class StatusFileWriter {
  private last = '';
  private lastAt = 0;
  constructor(
    private readonly path: string,
    private readonly clock: Clock,
    private readonly refreshMs: number,
  ) {}

  async write(doc: ReturnType<typeof statusFileDoc>): Promise<boolean> {
    const { writtenAt: _w, ...rest } = doc;
    const sig = JSON.stringify(rest);
    const now = this.clock.now();
    if (sig === this.last && now - this.lastAt < this.refreshMs) return false;
    this.last = sig;
    this.lastAt = now;
    await writeFileAtomic(this.path, `${JSON.stringify(doc, null, 2)}\n`, 0o640);
    return true;
  }
}
