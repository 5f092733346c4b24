import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, stat, writeFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errnoOf } from './errors.js';

/**
 * `mkdir -p`: `path` and its missing parents, each with `mode`. Returns the first directory it
 * made, or undefined when `path` was already a directory (as `fs.mkdir` with `recursive`).
 * Not Node's `recursive: true`: that one loops forever, spinning a core, where a parent exists
 * but the child cannot be made and the kernel says ENOENT (`mkdir /proc/1/x`: a state dir given
 * under procfs or sysfs hung berth); here such a child fails with its own error.
 */
export async function makeDirs(path: string, mode = 0o777): Promise<string | undefined> {
  try {
    await mkdir(path, { mode });
    return path;
  } catch (err) {
    if (errnoOf(err) === 'EEXIST' && (await stat(path)).isDirectory()) return undefined;
    if (errnoOf(err) !== 'ENOENT' || dirname(path) === path) throw err;
  }
  const first = await makeDirs(dirname(path), mode);
  try {
    await mkdir(path, { mode });
  } catch (err) {
    // made by someone else meanwhile: as good
    if (errnoOf(err) === 'EEXIST' && (await stat(path)).isDirectory()) return first;
    throw err;
  }
  return first ?? path;
}

/** makeDirs for the few places that must not yield (a watcher set up synchronously). */
export function makeDirsSync(path: string, mode = 0o777): void {
  try {
    mkdirSync(path, { mode });
    return;
  } catch (err) {
    if (errnoOf(err) === 'EEXIST' && statSync(path).isDirectory()) return;
    if (errnoOf(err) !== 'ENOENT' || dirname(path) === path) throw err;
  }
  makeDirsSync(dirname(path), mode);
  try {
    mkdirSync(path, { mode });
  } catch (err) {
    // made by someone else meanwhile: as good
    if (!(errnoOf(err) === 'EEXIST' && statSync(path).isDirectory())) throw err;
  }
}

/**
 * Write-then-rename, so that readers never see half a file. `makeParents: false` for a file
 * that belongs in a directory someone else removes (a pod's record): then a missing directory
 * is ENOENT instead of being made again.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
  o: { makeParents?: boolean } = {},
): Promise<void> {
  if (o.makeParents ?? true) await makeDirs(dirname(path));
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data, { mode });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function writeJsonAtomic(path: string, value: unknown, mode = 0o644, o: { makeParents?: boolean } = {}): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, mode, o);
}

/** JSON of a file, or undefined when it does not exist. */
export async function readJsonIfExists<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}

export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Names in a directory, sorted; none when the directory does not exist. */
export async function readdirIfExists(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}

/** Is there anything at `p` (a dangling symlink counts)? Errors other than ENOENT are thrown. */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false;
    throw err;
  }
}
