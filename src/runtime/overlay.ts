/**
 * The per-execution root filesystem: an overlay whose lower dir is the rendered image tree
 * (never written), with a fresh upper/work pair under `<bundleDir>/exec-<n>/`, mounted at
 * `<bundleDir>/rootfs`. Every execution therefore starts from a clean copy of the image.
 */
import { chown, lchown, readFile, mkdir, rm, lstat, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { execa } from '../common/process.js';
import { BerthError, errnoOf, readdirIfExists, sleep } from '../common/index.js';
import { unescapeMountPath } from './host-facts.js';
import { resolveInRoot } from './users.js';
import { makeDirs } from '../common/fs.js';

export interface OverlayPaths {
  merged: string;
  execDir: string;
  upper: string;
  work: string;
}

export function overlayPaths(bundleDir: string, execution: number): OverlayPaths {
  const execDir = join(bundleDir, `exec-${execution}`);
  return { merged: join(bundleDir, 'rootfs'), execDir, upper: join(execDir, 'upper'), work: join(execDir, 'work') };
}

/** Mount points (unescaped) in /proc/self/mountinfo. */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map(unescapeMountPath);
}

export async function isMountPoint(path: string): Promise<boolean> {
  return (await mountPoints()).includes(path);
}

/** The lower dir of the overlay mounted at `path` (its mount options in /proc/self/mountinfo); undefined when none is. */
export async function overlayLowerDir(path: string): Promise<string | undefined> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of text.split('\n').reverse()) {
    const f = line.split(' ');
    if (f[4] === undefined || unescapeMountPath(f[4]) !== path) continue;
    const sep = f.indexOf('-');
    if (f[sep + 1] !== 'overlay') return undefined;
    // berth's lower dirs never hold `,` or `:` (mountOverlay refuses them)
    const opt = (f[sep + 3] ?? '').split(',').find((o) => o.startsWith('lowerdir='));
    return opt ? unescapeMountPath(opt.slice('lowerdir='.length)) : undefined;
  }
  return undefined;
}

const UNSAFE_OVERLAY_PATH = /[,:\n]/;

/**
 * How a pod with a user namespace gets its rootfs (runtime/userns.ts): `lowerView` mounts a
 * view of the lower tree at a directory (an idmapped mount), used as the lower dir and
 * unmounted as soon as the overlay holds it; the upper dir (the rootfs's own root directory)
 * and the mount points made later are owned by `owner`, the container's root on the host.
 */
export interface OverlayUserns {
  lowerView: (lower: string, at: string) => Promise<void>;
  owner: { uid: number; gid: number };
}

export async function mountOverlay(lower: string, p: OverlayPaths, userns?: OverlayUserns): Promise<void> {
  for (const d of [lower, p.upper, p.work]) {
    if (UNSAFE_OVERLAY_PATH.test(d)) throw new BerthError('InvalidArgument', `overlay path must not contain , or : (${d})`);
  }
  await rm(p.execDir, { recursive: true, force: true });
  await makeDirs(p.upper);
  await makeDirs(p.work);
  await makeDirs(p.merged);
  await unmountAll(p.merged);
  let lowerDir = lower;
  if (userns) {
    await chown(p.upper, userns.owner.uid, userns.owner.gid);
    lowerDir = join(p.execDir, 'lower');
    await mkdir(lowerDir);
    await userns.lowerView(lower, lowerDir);
  }
  try {
    const r = await execa(
      'mount',
      ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowerDir},upperdir=${p.upper},workdir=${p.work}`, p.merged],
      {
        reject: false,
        stdin: 'ignore',
      },
    );
    if (r.exitCode !== 0) throw new BerthError('Internal', `mount overlay at ${p.merged}: ${String(r.stderr).trim()}`);
  } finally {
    // the overlay keeps its own clone of the view: nothing stays mounted at lowerDir
    if (lowerDir !== lower) await unmountAll(lowerDir);
  }
}

/**
 * Unmount everything stacked at `path`: retry a busy mount a few times, then detach it lazily.
 * Not mounted is success.
 */
export async function unmountAll(path: string): Promise<void> {
  for (let attempt = 0; attempt < 20 && (await isMountPoint(path)); attempt++) {
    const lazy = attempt >= 8;
    const r = await execa('umount', [...(lazy ? ['-l'] : []), path], { reject: false, stdin: 'ignore' });
    if (r.exitCode !== 0 && !lazy) await sleep(25 * (attempt + 1));
  }
  if (await isMountPoint(path)) throw new BerthError('Unavailable', `cannot unmount ${path}`);
}

/**
 * Create the destination of a bind mount inside the mounted rootfs (writes go to the upper
 * dir): a directory, or an empty file when the source is a file. Symlinks are resolved inside
 * the rootfs, never on the host.
 */
export async function ensureMountPoint(
  rootfs: string,
  destination: string,
  sourceIsDir: boolean,
  owner?: { uid: number; gid: number },
): Promise<void> {
  const dest = posix.normalize(`/${destination}`);
  const parent = resolveInRoot(rootfs, posix.dirname(dest));
  const target = posix.join(parent, posix.basename(dest));
  const made = await makeDirs(parent);
  // in a user namespace, what berth makes belongs to the container's root, not to an unmapped host root
  if (made && owner) await chownMade(rootfs, made, parent, owner);
  try {
    await lstat(target);
    return;
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  if (sourceIsDir) await makeDirs(target);
  else
    await writeFile(target, '', { flag: 'wx' }).catch((err: unknown) => {
      if (errnoOf(err) !== 'EEXIST') throw err;
    });
  if (owner) await lchown(target, owner.uid, owner.gid);
}

/** chown `first` (the first directory mkdir made) and every directory below it down to `last`. */
async function chownMade(rootfs: string, first: string, last: string, owner: { uid: number; gid: number }): Promise<void> {
  if (!first.startsWith(rootfs)) return;
  for (let d = last; d.length >= first.length; d = posix.dirname(d)) {
    await lchown(d, owner.uid, owner.gid);
    if (d === first) break;
  }
}

/** Exec dirs (`exec-<n>`) present in a bundle dir. */
export async function execDirs(bundleDir: string): Promise<string[]> {
  return (await readdirIfExists(bundleDir)).filter((n) => /^exec-\d+$/.test(n)).map((n) => join(bundleDir, n));
}
