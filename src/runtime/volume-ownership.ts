/**
 * `securityContext.fsGroup` ownership of a volume, as the kubelet sets it
 * (pkg/volume/volume_linux.go `SetVolumeOwnership`): every file and directory gets the group
 * fsGroup, group read/write (read-only volumes: read), directories also group search and the
 * setgid bit so that new files inherit the group. `fsGroupChangePolicy: OnRootMismatch`
 * skips the walk when the root already has the group, the bits and setgid; `Always` (the
 * default) walks every time the volume is set up.
 *
 * The walk never follows a symlink and never leaves the volume's filesystem: each entry is
 * opened `O_PATH | O_NOFOLLOW` in its pinned parent (volume-paths.ts); a symlink gets only
 * its group (lchown through the parent, as the kubelet's Lchown), everything else is changed
 * through its own fd, so an entry swapped for a link meanwhile cannot redirect a chmod.
 */
import { chmod, chown, lchown, open, readdir } from 'node:fs/promises';
import { errnoOf } from '../common/errors.js';
import { O_PATH, PinnedNode } from './volume-paths.js';
import { constants as fsc } from 'node:fs';

export type FsGroupChangePolicy = 'Always' | 'OnRootMismatch';

const RW_MASK = 0o660;
const RO_MASK = 0o440;
const EXEC_MASK = 0o110;
const SETGID = 0o2000;

/** The mode an entry gets: its own plus the group bits (and setgid, search for directories). */
export function fsGroupMode(mode: number, isDir: boolean, readOnly: boolean): number {
  let mask = readOnly ? RO_MASK : RW_MASK;
  if (isDir) mask |= SETGID | EXEC_MASK;
  return (mode & 0o7777) | mask;
}

/**
 * Whether the volume's ownership must be changed (kubelet `requiresPermissionChange` for
 * OnRootMismatch; Always: every time).
 */
export function needsOwnershipChange(
  root: { gid: number; mode: number; isDir: boolean },
  fsGroup: number,
  policy: FsGroupChangePolicy = 'Always',
  readOnly = false,
): boolean {
  if (policy === 'Always') return true;
  if (root.gid !== fsGroup) return true;
  if (!root.isDir) return true;
  const want = (readOnly ? RO_MASK : RW_MASK) | EXEC_MASK;
  return (root.mode & want) !== want || (root.mode & SETGID) === 0;
}

export interface OwnershipResult {
  changed: boolean;
  /** entries changed */
  entries: number;
}

/**
 * Give the tree at `root` (a pinned directory or file) the group `fsGroup` as above. The
 * caller keeps `root` open.
 */
export async function applyFsGroup(
  root: PinnedNode,
  fsGroup: number,
  opts: { policy?: FsGroupChangePolicy; readOnly?: boolean } = {},
): Promise<OwnershipResult> {
  const readOnly = opts.readOnly ?? false;
  const st = await root.handle.stat();
  if (!needsOwnershipChange({ gid: st.gid, mode: st.mode, isDir: st.isDirectory() }, fsGroup, opts.policy, readOnly))
    return { changed: false, entries: 0 };
  let entries = 0;
  const change = async (node: PinnedNode): Promise<void> => {
    const s = await node.handle.stat();
    await chown(node.procPath, s.uid, fsGroup);
    await chmod(node.procPath, fsGroupMode(s.mode, s.isDirectory(), readOnly));
    entries++;
  };
  const walk = async (dir: PinnedNode): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(dir.procPath);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw err;
    }
    for (const name of names) {
      let handle;
      try {
        handle = await open(`${dir.procPath}/${name}`, O_PATH | fsc.O_NOFOLLOW);
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') continue; // removed meanwhile
        throw err;
      }
      const node = await PinnedNode.of(handle, name);
      try {
        if (node.dev !== root.dev) continue; // another filesystem mounted inside: not this volume's
        if (node.kind === 'Symlink') {
          const s = await node.handle.stat().catch(() => undefined); // unreadable: owned by root, as lchown below gets
          await lchown(`${dir.procPath}/${name}`, s?.uid ?? 0, fsGroup).catch((err: unknown) => {
            if (errnoOf(err) !== 'ENOENT') throw err;
          });
          entries++;
          continue;
        }
        await change(node);
        if (node.kind === 'Directory') await walk(node);
      } finally {
        await node.close();
      }
    }
  };
  await change(root);
  if (root.kind === 'Directory') await walk(root);
  return { changed: true, entries };
}
