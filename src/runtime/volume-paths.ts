/**
 * Paths inside a volume, resolved without trusting what the volume holds, and bind sources
 * pinned so that a link swapped in after the check cannot redirect them (the class of
 * CVE-2017-1002101; kubelet's answer is the same in kind).
 *
 * Node has no openat(2), but opening `/proc/self/fd/<dirfd>/<name>` with
 * `O_PATH | O_NOFOLLOW` looks `name` up in the directory the fd pins and never follows a
 * symlink in the last component: one component at a time, that is openat with
 * `O_NOFOLLOW`. Every symlink met inside a volume is refused (the strict choice: kubelet
 * follows the ones that stay inside). Missing directories are created one component at a
 * time in the pinned parent (mkdirat semantics) and opened again with `O_NOFOLLOW`.
 *
 * A pinned node is bind-mounted from `/proc/<berth pid>/fd/<n>` with `mount
 * --no-canonicalize` (canonicalizing would resolve the path again) onto a private target;
 * that target is the bind source the OCI runtime sees. Cleanup never removes through a
 * mount: targets are unmounted first and then removed with rmdir/unlink only.
 */
import { constants as fsc } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  readlink,
  realpath,
  rmdir,
  stat,
  unlink,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { join, posix } from 'node:path';
import { execa } from '../common/process.js';
import { BerthError, errnoOf, errorMessage, sleep } from '../common/index.js';
import { unescapeMountPath } from './host-facts.js';
import { makeDirs } from '../common/fs.js';

/** Linux `O_PATH` (Node does not export it): an fd that pins an inode without opening it for I/O. */
export const O_PATH = 0o10000000;
const O_NOFOLLOW = fsc.O_NOFOLLOW;

export type NodeKind = 'Directory' | 'File' | 'Socket' | 'CharDevice' | 'BlockDevice' | 'FIFO' | 'Symlink';

/** An inode held by an `O_PATH` fd. Close it when done (after pinning, the mount holds the inode). */
export class PinnedNode {
  private constructor(
    readonly handle: FileHandle,
    readonly kind: NodeKind,
    readonly mode: number,
    readonly dev: bigint,
    readonly ino: bigint,
    /** for messages only: never used to look the node up again */
    readonly description: string,
  ) {}

  static async of(handle: FileHandle, description: string): Promise<PinnedNode> {
    try {
      const st = await handle.stat({ bigint: true });
      return new PinnedNode(handle, kindOf(st), Number(st.mode & 0o7777n), st.dev, st.ino, description);
    } catch (err) {
      await handle.close().catch(() => undefined); // the open's error is the one to report
      throw err;
    }
  }

  get fd(): number {
    return this.handle.fd;
  }

  /** The pinned inode as a path of this process (the kernel's magic link, not a lookup by name). */
  get procPath(): string {
    return `/proc/self/fd/${this.handle.fd}`;
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined); // an O_PATH handle holds no data to flush; closing twice is harmless
  }
}

function kindOf(st: {
  isDirectory(): boolean;
  isFile(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isFIFO(): boolean;
  isSymbolicLink(): boolean;
}): NodeKind {
  if (st.isSymbolicLink()) return 'Symlink';
  if (st.isDirectory()) return 'Directory';
  if (st.isFile()) return 'File';
  if (st.isSocket()) return 'Socket';
  if (st.isCharacterDevice()) return 'CharDevice';
  if (st.isBlockDevice()) return 'BlockDevice';
  return 'FIFO';
}

/**
 * Open a host path with `O_PATH`. `follow: false` refuses a symlink as the last component
 * (used for berth's own directories); earlier components are the host's, as given.
 * Resolves undefined when nothing is at the path.
 */
export async function openPath(path: string, opts: { follow: boolean; description?: string }): Promise<PinnedNode | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, O_PATH | (opts.follow ? 0 : O_NOFOLLOW));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
  return PinnedNode.of(handle, opts.description ?? path);
}

/** Where the kernel says the pinned inode is now (readlink of the fd): for decisions, never for lookups. */
export async function currentPath(node: PinnedNode): Promise<string> {
  return readlink(node.procPath);
}

/** The components of a relative path inside a volume; refuses absolute paths and `..`. */
export function pathComponents(rel: string, what: string): string[] {
  if (rel.startsWith('/')) throw new BerthError('InvalidArgument', `${what} must be a relative path`);
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new BerthError('InvalidArgument', `${what} must not contain '..'`);
  if (parts.some((p) => p.includes('\0'))) throw new BerthError('InvalidArgument', `${what} must not contain NUL`);
  return parts;
}

export interface ResolveOptions {
  /** create missing components as directories with this mode (chmod'ed, so the umask does not apply) */
  createMode?: number;
  /** how errors name the path, e.g. `subPath "a/b" of volume "data"` */
  what: string;
}

/**
 * Resolve `rel` inside the directory `root` one component at a time, never following a
 * symlink. Every component but the last must be a directory. The returned node is new
 * (close it); `root` stays open and is the caller's.
 */
export async function resolveBeneath(root: PinnedNode, rel: string, opts: ResolveOptions): Promise<PinnedNode> {
  const parts = pathComponents(rel, opts.what);
  if (root.kind !== 'Directory') throw new BerthError('FailedPrecondition', `${opts.what}: the volume is not a directory`);
  let current = root;
  try {
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i]!;
      const last = i === parts.length - 1;
      const shown = parts.slice(0, i + 1).join('/');
      let next = await openBelow(current, name, shown);
      if (!next && opts.createMode !== undefined) {
        try {
          await mkdir(`${current.procPath}/${name}`, { mode: opts.createMode });
        } catch (err) {
          if (errnoOf(err) !== 'EEXIST') throw wrapFs(err, `${opts.what}: cannot create "${shown}"`);
        }
        next = await openBelow(current, name, shown);
        if (next?.kind === 'Directory') await chmod(next.procPath, opts.createMode);
      }
      if (!next) throw new BerthError('FailedPrecondition', `${opts.what}: "${shown}" does not exist in the volume`);
      if (next.kind === 'Symlink') {
        await next.close();
        const subject = parts.length === 1 ? `${opts.what} is a symlink` : `${opts.what}: "${shown}" is a symlink`;
        throw new BerthError('FailedPrecondition', `${subject}: refused (it could point outside the volume)`);
      }
      if (!last && next.kind !== 'Directory') {
        await next.close();
        throw new BerthError('FailedPrecondition', `${opts.what}: "${shown}" is not a directory`);
      }
      if (current !== root) await current.close();
      current = next;
    }
  } catch (err) {
    if (current !== root) await current.close();
    throw err;
  }
  if (current === root) {
    // an empty relative path names the root itself: hand out an fd of its own
    const again = await open(root.procPath, O_PATH);
    return PinnedNode.of(again, root.description);
  }
  return current;
}

async function openBelow(dir: PinnedNode, name: string, shown: string): Promise<PinnedNode | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(`${dir.procPath}/${name}`, O_PATH | O_NOFOLLOW);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw wrapFs(err, `cannot open "${shown}"`);
  }
  return PinnedNode.of(handle, shown);
}

function wrapFs(err: unknown, message: string): BerthError {
  const code = errnoOf(err) === 'EACCES' || errnoOf(err) === 'EPERM' ? 'PermissionDenied' : 'FailedPrecondition';
  return new BerthError(code, `${message}: ${errorMessage(err)}`, { cause: err });
}

/**
 * Bind-mount the pinned node onto `target` (created: a directory for a directory, an empty
 * file otherwise), replacing whatever was pinned there. Afterwards the target shows the
 * pinned inode whatever happens to the path it was found at; the node may be closed.
 * `recursive` carries the mounts below the node along (`--rbind`); never use it for a tree
 * that holds pin targets, or every pin would copy all earlier ones.
 */
export async function pinMount(node: PinnedNode, target: string, what: string, opts: { recursive?: boolean } = {}): Promise<void> {
  if (node.kind === 'Symlink')
    throw new BerthError('FailedPrecondition', `${what} is a symlink: refused (it could point outside the volume)`);
  await makeDirs(posix.dirname(target), 0o700);
  await unpinMount(target);
  if (node.kind === 'Directory') await mkdir(target, { mode: 0o700 });
  else await writeFile(target, '', { flag: 'wx', mode: 0o600 });
  // /proc/<pid>/fd/<n>: mount(8) is another process, our fd table is reached through our pid
  const source = `/proc/${process.pid}/fd/${node.fd}`;
  const r = await execa('mount', ['--no-canonicalize', opts.recursive ? '--rbind' : '--bind', source, target], {
    reject: false,
    stdin: 'ignore',
  });
  if (r.exitCode !== 0) {
    await removeTarget(target).catch(() => undefined); // the mount's error is the one to report; the next pinMount here unpins first
    throw new BerthError(
      'Internal',
      `${what}: bind mount of the pinned path onto ${target} failed: ${String(r.stderr).trim() || `mount exited with ${r.exitCode}`}`,
    );
  }
  const st = await stat(target, { bigint: true });
  if (st.dev !== node.dev || st.ino !== node.ino) {
    await unpinMount(target).catch(() => undefined); // the mismatch is the error to report; the next pinMount here unpins first
    throw new BerthError('Internal', `${what}: the mount at ${target} does not show the pinned inode`);
  }
}

/** Unmount `target` (everything stacked there) and remove it; nothing there is success. */
export async function unpinMount(target: string): Promise<void> {
  await unmountAtOrBelow(target);
  await removeTarget(target);
}

/** rmdir or unlink, never recursive: a target still mounted fails with EBUSY instead of being emptied. */
async function removeTarget(target: string): Promise<void> {
  let st;
  try {
    st = await lstat(target);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return;
    throw err;
  }
  try {
    if (st.isDirectory()) await rmdir(target);
    else await unlink(target);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return;
    throw new BerthError('Unavailable', `cannot remove pin target ${target}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Mount points at or below `dir` (as this mount namespace shows them), deepest first. */
export async function mountsAtOrBelow(dir: string): Promise<string[]> {
  let real: string;
  try {
    real = await realpath(dir);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = unescapeMountPath(mp);
    if (p === real || p.startsWith(real.endsWith('/') ? real : `${real}/`)) out.add(p);
  }
  return [...out].sort((a, b) => b.split('/').length - a.split('/').length || b.length - a.length);
}

/**
 * Unmount everything at or below `dir`, deepest first (a busy mount is retried, then
 * detached lazily), and check that nothing is left. Before any recursive removal of `dir`.
 */
export async function unmountAtOrBelow(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 12; attempt++) {
    const mounts = await mountsAtOrBelow(dir);
    if (mounts.length === 0) return;
    const lazy = attempt >= 6;
    for (const m of mounts) {
      await execa('umount', ['--no-canonicalize', ...(lazy ? ['--lazy'] : []), m], { reject: false, stdin: 'ignore' });
    }
    if ((await mountsAtOrBelow(dir)).length > 0 && !lazy) await sleep(20 * (attempt + 1));
  }
  const left = await mountsAtOrBelow(dir);
  if (left.length) throw new BerthError('Unavailable', `cannot unmount ${left.join(', ')}`);
}

/**
 * Remove a tree of pin targets laid out as `<dir>/<a>/<b>/<target>` (`depth` directory
 * levels above the targets): unmount everything below first, then rmdir/unlink bottom-up.
 * It never descends into a target, so a mount that appeared meanwhile fails the removal
 * (EBUSY) instead of being emptied.
 */
export async function removePinTree(dir: string, depth: number): Promise<void> {
  await unmountAtOrBelow(dir);
  const walk = async (d: string, level: number): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw err;
    }
    for (const n of names) {
      const p = join(d, n);
      if (level < depth) {
        // gone or unreadable: removeTarget below returns on ENOENT and reports anything else
        const st = await lstat(p).catch(() => undefined);
        if (st?.isDirectory()) {
          await walk(p, level + 1);
          continue;
        }
      }
      await removeTarget(p);
    }
    await rmdir(d).catch((err: unknown) => {
      if (errnoOf(err) !== 'ENOENT') throw new BerthError('Unavailable', `cannot remove ${d}: ${errorMessage(err)}`, { cause: err });
    });
  };
  await walk(dir, 0);
}
