/**
 * Private host directories (containerd's layout: the root 0711, everything below 0700). What
 * lives there must stay out of reach of unprivileged host users: rendered image trees and
 * overlay upper dirs hold setuid files an image or container root made, emptyDirs hold what
 * apps wrote, logs hold what apps printed. Existing installations are tightened on start.
 */
import { chmod, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf } from '../common/errors.js';
import { makeDirs } from '../common/fs.js';
import type { Logger } from '../common/logger.js';
import type { Layout } from './layout.js';

/** Root directories: traversable (0711) so that berth's own tools can name paths below, not listable. */
export const ROOT_DIR_MODE = 0o711;
/** Everything berth keeps below a root. */
export const PRIVATE_DIR_MODE = 0o700;

/** Create `dir` with `mode`, or tighten it when it exists with more; returns whether it changed. */
async function ensureMode(dir: string, mode: number): Promise<boolean> {
  await makeDirs(dir, mode);
  const st = await stat(dir);
  if ((st.mode & 0o7777) === mode) return false;
  await chmod(dir, mode);
  return true;
}

/** The direct children of `dir` that are directories (missing dir: none). */
async function childDirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}

/**
 * State dir and run dir 0711, every directory directly below them 0700 (pods, rendered trees,
 * blobs, CNI state, monitor files), each pod dir 0700, the log dir 0700.
 */
export async function secureHostDirs(layout: Layout, log?: Logger): Promise<void> {
  const tightened: string[] = [];
  const note = (dir: string) => (changed: boolean) => void (changed && tightened.push(dir));
  for (const root of [layout.stateDir, layout.runDir]) {
    await ensureMode(root, ROOT_DIR_MODE).then(note(root));
    for (const d of await childDirs(root)) await ensureMode(d, PRIVATE_DIR_MODE).then(note(d));
  }
  await ensureMode(join(layout.stateDir, 'pods'), PRIVATE_DIR_MODE).then(note(join(layout.stateDir, 'pods')));
  for (const d of await childDirs(join(layout.stateDir, 'pods'))) await ensureMode(d, PRIVATE_DIR_MODE).then(note(d));
  await ensureMode(layout.logDir, PRIVATE_DIR_MODE).then(note(layout.logDir));
  if (tightened.length) log?.info({ dirs: tightened }, 'tightened permissions of host directories');
}
