/**
 * A directory of files replaced all at once, as the kubelet's AtomicWriter does for
 * downwardAPI (and configMap, secret) volumes: the files are written to a fresh
 * `..<timestamp>.<random>` directory, the `..data` symlink is swapped to it with one
 * rename, and each top-level name of the payload is a symlink `name -> ..data/name`. A
 * reader sees either the old set of files or the new one, never a mix; the old directory
 * is removed afterwards. Nothing is written when the payload is unchanged.
 *
 * The directory is berth's own (below the private pod dir) and the apps get it read-only,
 * so no app can plant anything in it; the payload's paths are checked again here anyway.
 */
import { chmod, lstat, mkdtemp, readFile, readdir, readlink, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BerthError, errnoOf } from '../common/errors.js';
import { pathComponents } from './volume-paths.js';
import { makeDirs } from '../common/fs.js';

export const DATA_DIR_LINK = '..data';

export interface PayloadFile {
  path: string;
  data: string;
  mode: number;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `..2006_01_02_15_04_05.` (UTC), the kubelet's prefix; mkdtemp adds the random part. */
export function dataDirPrefix(now: Date): string {
  return `..${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}.`;
}

function checkPayload(files: PayloadFile[], what: string): Map<string, PayloadFile> {
  const out = new Map<string, PayloadFile>();
  for (const f of files) {
    const parts = pathComponents(f.path, `${what}: path "${f.path}"`);
    if (parts.length === 0 || parts[0]!.startsWith('..'))
      throw new BerthError('InvalidArgument', `${what}: path "${f.path}" must name a file and not start with '..'`);
    out.set(parts.join('/'), { ...f, path: parts.join('/') });
  }
  const names = [...out.keys()];
  for (const n of names) {
    if (names.some((m) => m.startsWith(`${n}/`)))
      throw new BerthError('InvalidArgument', `${what}: "${n}" is both a file and a directory of other files`);
  }
  return out;
}

/** The data directory `..data` points at now, or undefined. */
async function currentDataDir(dir: string): Promise<string | undefined> {
  try {
    const target = await readlink(join(dir, DATA_DIR_LINK));
    return target.startsWith('..') && !target.includes('/') ? target : undefined;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'EINVAL') return undefined;
    throw err;
  }
}

async function unchanged(dataDir: string, payload: Map<string, PayloadFile>, extraBits: number): Promise<boolean> {
  const found: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(dataDir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else found.push(p);
    }
  };
  await walk('');
  if (found.length !== payload.size) return false;
  for (const p of found) {
    const f = payload.get(p);
    if (!f) return false;
    const st = await lstat(join(dataDir, p));
    if (!st.isFile() || (st.mode & 0o7777) !== ((f.mode | extraBits) & 0o7777)) return false;
    if ((await readFile(join(dataDir, p), 'utf8')) !== f.data) return false;
  }
  return true;
}

/**
 * Write `files` into `dir` atomically. Returns whether anything changed. `dir` is created
 * (mode `dirMode`) when missing. `extraModeBits`: bits someone adds to the files afterwards
 * (fsGroup's group read), so that such a file still counts as unchanged.
 */
export async function writeAtomic(
  dir: string,
  files: PayloadFile[],
  opts: { what: string; dirMode?: number; now?: Date; extraModeBits?: number },
): Promise<boolean> {
  const payload = checkPayload(files, opts.what);
  await makeDirs(dir, opts.dirMode ?? 0o755);
  if (opts.dirMode !== undefined) {
    const st = await stat(dir);
    if ((st.mode & 0o777) !== opts.dirMode) await chmod(dir, (st.mode & 0o7000) | opts.dirMode);
  }
  const old = await currentDataDir(dir);
  // an old data dir that cannot be compared is simply replaced by a fresh one
  if (old && (await unchanged(join(dir, old), payload, opts.extraModeBits ?? 0).catch(() => false))) return false;

  const fresh = await mkdtemp(join(dir, dataDirPrefix(opts.now ?? new Date())));
  await chmod(fresh, 0o755);
  try {
    for (const f of payload.values()) {
      const p = join(fresh, f.path);
      await makeDirs(dirname(p), 0o755);
      await writeFile(p, f.data, { flag: 'wx', mode: f.mode });
      await chmod(p, f.mode); // whatever the umask
    }
    const tmpLink = join(dir, `${DATA_DIR_LINK}_tmp`);
    await rm(tmpLink, { force: true });
    await symlink(fresh.slice(dir.length + 1), tmpLink);
    await rename(tmpLink, join(dir, DATA_DIR_LINK));
  } catch (err) {
    await rm(fresh, { recursive: true, force: true });
    throw err;
  }
  // the user-visible names: a link per top-level name, stale ones removed
  const top = new Set([...payload.keys()].map((p) => p.split('/')[0]!));
  for (const name of top) {
    const p = join(dir, name);
    const want = `${DATA_DIR_LINK}/${name}`;
    const have = await readlink(p).catch((err: unknown) => {
      if (errnoOf(err) !== 'ENOENT' && errnoOf(err) !== 'EINVAL') throw err; // absent, or not a symlink: replaced below
      return undefined;
    });
    if (have === want) continue;
    if (have !== undefined) await unlink(p);
    await symlink(want, p);
  }
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('..')) {
      // older data directories (also ones a crash left behind)
      if (e.isDirectory() && join(dir, e.name) !== fresh) await rm(join(dir, e.name), { recursive: true, force: true });
      continue;
    }
    if (top.has(e.name)) continue;
    if (e.isSymbolicLink() && (await readlink(join(dir, e.name))).startsWith(`${DATA_DIR_LINK}/`)) await unlink(join(dir, e.name));
  }
  return true;
}
