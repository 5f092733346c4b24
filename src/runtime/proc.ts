/**
 * Process observation through /proc/<pid>/stat. `kill -0` is not a liveness check here: PID 1
 * reaps orphans late, so an exited monitor lingers as a zombie, and pid_max is small enough
 * that PIDs are reused. A process is "the one we started" only when its start time matches.
 */
import { readFileSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  /** clock ticks after boot (field 22) */
  startTime: number;
}

export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < 0) return undefined;
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const pid = Number(text.slice(0, open).trim());
  const state = rest[0];
  const ppid = Number(rest[1]);
  const startTime = Number(rest[19]);
  if (!state || !Number.isFinite(pid) || !Number.isFinite(startTime)) return undefined;
  return { pid, state, ppid, startTime };
}

export async function readProcStat(pid: number, procRoot = '/proc'): Promise<ProcStat | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    // A read of procfs never waits on a disk: synchronously it saves readFile's four thread-pool
    // round trips, and an idle agent does it every second for every app (waitExit).
    return parseProcStat(readFileSync(`${procRoot}/${pid}/stat`, 'utf8'));
  } catch {
    // the process is gone (ENOENT, ESRCH) or its stat unreadable: no process to report
    return undefined;
  }
}

/** Alive = exists, not a zombie or dead, and (when known) started at `startTime`. */
export async function isAlive(pid: number | undefined, startTime?: number): Promise<boolean> {
  if (pid === undefined) return false;
  const st = await readProcStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X' || st.state === 'x') return false;
  return startTime === undefined || st.startTime === startTime;
}
