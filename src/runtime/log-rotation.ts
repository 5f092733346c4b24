/**
 * Size-based rotation of an app's CRI log, as the kubelet's container log manager does it
 * (`--container-log-max-size`, `--container-log-max-files`, defaults 10Mi × 5), without losing
 * a line: the live file `<n>.log` is renamed to `<n>.log.<UTC stamp>` while conmon keeps
 * writing to the same inode, then conmon is told through its `ctl` FIFO (message type 2,
 * "reopen logs") to open `<n>.log` afresh; what it wrote between the two lands in the renamed
 * file. conmon's own `--log-size-max` is not used: it truncates, losing lines.
 *
 * Readers (logs.ts logSegments) see an execution's log as its rotated files in stamp order,
 * then the live file. maxFiles counts the live file, as the kubelet does.
 */
import { constants } from 'node:fs';
import { open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BerthError, errnoOf } from '../common/index.js';
import { parseQuantity } from './quantity.js';

export interface LogRotationLimits {
  /** rotate when the live file reaches this many bytes */
  maxBytes: number;
  /** files kept per execution, the live one included (≥ 2) */
  maxFiles: number;
}

/** The kubelet's defaults: 10Mi × 5. */
export const DEFAULT_LOG_ROTATION: LogRotationLimits = { maxBytes: 10 * 1024 * 1024, maxFiles: 5 };

export function checkLogRotation(l: LogRotationLimits): LogRotationLimits {
  if (!Number.isInteger(l.maxBytes) || l.maxBytes < 1)
    throw new BerthError('InvalidArgument', `--container-log-max-size must be a positive size, got ${l.maxBytes}`);
  if (!Number.isInteger(l.maxFiles) || l.maxFiles < 2)
    throw new BerthError('InvalidArgument', `--container-log-max-files must be at least 2, got ${l.maxFiles}`);
  return l;
}

/** The limits from the flags' text (`10Mi`, `5`), checked. */
export function logRotationOf(maxSize: string, maxFiles: string): LogRotationLimits {
  let maxBytes: number;
  try {
    maxBytes = Math.floor(parseQuantity(maxSize));
  } catch {
    throw new BerthError('InvalidArgument', `--container-log-max-size: "${maxSize}" is not a size (10Mi, 500Ki, 1G)`);
  }
  const files = Number(maxFiles);
  return checkLogRotation({ maxBytes, maxFiles: Number.isInteger(files) ? files : NaN });
}

/** `20261202-004501.123` (UTC, sorts as it happened); a counter suffix keeps names unique. */
function stamp(now: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}.${p(now.getUTCMilliseconds(), 3)}`;
}

/** Rotated files of the live log `logPath`, oldest first. */
export async function rotatedLogs(logPath: string): Promise<string[]> {
  const dir = dirname(logPath);
  const base = basename(logPath);
  const names = await readdir(dir).catch((err: unknown) => {
    if (errnoOf(err) === 'ENOENT') return [] as string[];
    throw err;
  });
  return names
    .filter((n) => n.startsWith(`${base}.`) && /^\d{8}-\d{6}\.\d{3}(-\d+)?$/.test(n.slice(base.length + 1)))
    .sort()
    .map((n) => join(dir, n));
}

/** Ask conmon to reopen its log file (ctl FIFO message "2 0 0"); false when no monitor listens. */
export async function reopenConmonLog(ctlFifo: string): Promise<boolean> {
  let fh;
  try {
    // non-blocking: with no reader (monitor gone) this is ENXIO instead of a hang
    fh = await open(ctlFifo, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    if (['ENXIO', 'ENOENT'].includes(errnoOf(err) ?? '')) return false;
    throw err;
  }
  try {
    await fh.write('2 0 0\n');
    return true;
  } finally {
    await fh.close();
  }
}

/**
 * Rotate `logPath` when it has reached maxBytes and prune rotated files beyond maxFiles - 1.
 * `reopen` makes the writer open a fresh live file (reopenConmonLog); when it cannot (no
 * monitor), the file is left as it is. Returns whether it rotated.
 */
export async function rotateLogIfNeeded(
  logPath: string,
  limits: LogRotationLimits,
  reopen: () => Promise<boolean>,
  now = new Date(),
): Promise<boolean> {
  let size: number;
  try {
    size = (await stat(logPath)).size;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false;
    throw err;
  }
  if (size < limits.maxBytes) return false;
  let target = `${logPath}.${stamp(now)}`;
  for (let i = 1; await exists(target); i++) target = `${logPath}.${stamp(now)}-${i}`;
  await rename(logPath, target);
  if (!(await reopen())) {
    // nobody writes any more: put it back, an exited app's log is not rotated
    await rename(target, logPath).catch(() => undefined); // not rotated either way; the log stays readable at one of the two names
    return false;
  }
  const rotated = await rotatedLogs(logPath);
  for (const old of rotated.slice(0, Math.max(0, rotated.length - (limits.maxFiles - 1)))) await unlink(old).catch(() => undefined); // the next rotation removes it
  return true;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false; // cannot be seen is the same as not there for this check
  }
}
