/**
 * One agent per state directory (issue 13.4): `berth reconcile` holds an exclusive flock(2) on
 * `<state>/berth.lock` for its whole life. Node has no flock, but a flock belongs to the open
 * file description, not to the process: berth opens the file, util-linux `flock` locks that
 * description through an inherited descriptor and exits, and the lock stays with the
 * description berth keeps open. It goes away with the agent however it ends (kill -9
 * included); the descriptor is close-on-exec in berth, so conmon and apps never inherit it.
 * The holder's pid is written into the file, for the message a second agent gives.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from '../common/process.js';
import { BerthError } from '../common/errors.js';
import { makeDirs } from '../common/fs.js';

export const lockPath = (stateDir: string) => join(stateDir, 'berth.lock');

/** flock's exit code when the lock is held by someone else (`--conflict-exit-code`). */
const CONFLICT = 75;

export interface AgentLock {
  path: string;
  /** Release the lock (closing the description); the process ending does the same. */
  release(): Promise<void>;
}

/** Locks held by this process: strong references, so that the handle is never collected (and closed). */
const held = new Set<FileHandle>();

/**
 * Take the agent lock of `stateDir`, or fail with FailedPrecondition
 * "another berth (pid N) holds STATE" at once (never waits).
 */
export async function acquireAgentLock(stateDir: string): Promise<AgentLock> {
  await makeDirs(stateDir);
  const path = lockPath(stateDir);
  // 'a+' creates the file without truncating it: the holder's pid must survive a failed attempt.
  const fh = await open(path, 'a+', 0o644);
  let r;
  try {
    r = await execa('flock', ['--nonblock', '--exclusive', '--conflict-exit-code', String(CONFLICT), '3'], {
      // fd 3 of flock is our description (execa passes any descriptor through; its types only list 3–9)
      stdio: ['ignore', 'ignore', 'pipe', fh.fd as 3],
      reject: false,
    });
  } catch (err) {
    await fh.close();
    throw new BerthError('FailedPrecondition', `cannot lock ${path}: flock (util-linux) failed to run`, { cause: err });
  }
  if (r.exitCode !== 0) {
    await fh.close();
    if (r.exitCode === CONFLICT) {
      const pid = (await readFile(path, 'utf8').catch(() => '')).trim(); // only for the message: 'unknown' without it
      throw new BerthError('FailedPrecondition', `another berth (pid ${/^\d+$/.test(pid) ? pid : 'unknown'}) holds ${stateDir}`, {
        details: { lock: path, ...(/^\d+$/.test(pid) ? { pid: Number(pid) } : {}) },
      });
    }
    throw new BerthError('Internal', `cannot lock ${path}: flock exited with ${r.exitCode ?? r.signal}: ${String(r.stderr).trim()}`);
  }
  held.add(fh);
  await fh.truncate(0);
  await fh.write(`${process.pid}\n`, 0);
  await fh.sync().catch(() => undefined); // the pid is advisory (messages); the flock is the lock
  return {
    path,
    async release() {
      if (!held.delete(fh)) return;
      await fh.close();
    },
  };
}
