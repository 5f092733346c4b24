/**
 * Chroot-scoped path resolution (SEC-01/02), written for berth after the idea of
 * cyphar/filepath-securejoin: every symlink met while walking `unsafePath` is evaluated as
 * if `root` were `/`, so `/etc`, `../../etc` and `a/../../..` all stay inside `root`.
 * Components that do not exist are appended lexically. The result is a host path inside
 * `root`; its final component is whatever the walk reached (callers that must not follow
 * the last component resolve only the parent, see `resolveParent`).
 */
import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { BerthError, errnoOf } from '../common/index.js';

const MAX_SYMLINKS = 255;

/** Clean("/" + name) relative to the root (SEC-01): "" is the root itself. */
export function cleanEntryPath(name: string): string {
  const cleaned = posix.normalize(`/${name}`);
  return cleaned.replace(/^\/+/, '').replace(/\/+$/, '');
}

/** Resolve `unsafePath` inside `root` following symlinks as if chrooted there. */
export async function secureJoin(root: string, unsafePath: string): Promise<string> {
  const rootClean = posix.normalize(root).replace(/\/+$/, '') || '/';
  const stack: string[] = []; // resolved components below root
  let pending = unsafePath.split('/');
  let links = 0;
  while (pending.length > 0) {
    const comp = pending.shift() as string;
    if (comp === '' || comp === '.') continue;
    if (comp === '..') {
      stack.pop();
      continue;
    }
    const candidate = posix.join(rootClean, ...stack, comp);
    let isLink = false;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch (err) {
      const code = errnoOf(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
    if (!isLink) {
      stack.push(comp);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new BerthError('InvalidArgument', `too many symlinks resolving ${unsafePath} inside ${root}`);
    }
    const target = await readlink(candidate);
    if (target.startsWith('/')) stack.length = 0;
    pending = [...target.split('/'), ...pending];
  }
  return posix.join(rootClean, ...stack);
}

/** Host paths of the resolved parent and the unresolved final component of a cleaned entry path. */
export async function resolveParent(root: string, rel: string): Promise<{ parent: string; base: string; path: string }> {
  const parentRel = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
  const base = posix.basename(rel);
  const parent = await secureJoin(root, parentRel);
  return { parent, base, path: posix.join(parent, base) };
}
