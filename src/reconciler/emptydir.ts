/**
 * emptyDir volumes: a directory of the pod, mode 0777 as the kubelet makes it, on one of
 * three backings:
 * - `medium: Memory`: a tmpfs (`nosuid,nodev,mode=0777`) whose size is the kubelet's choice
 *   (`calculateEmptyDirMemorySize`): the smallest of the node's memory (berth reserves none
 *   of it, so allocatable = os.totalmem()), the pod's memory limit when every container
 *   declares one, and `sizeLimit`. Its pages count against the memory cgroup of the app that
 *   writes them, as on the kubelet.
 * - on disk with `sizeLimit`: a sparse ext4 image of the pod (`<pod>/volume-disks/<name>.ext4`)
 *   loop-mounted `nosuid,nodev` at the volume's directory. berth refuses the writes over the
 *   limit (ENOSPC) where the kubelet evicts the pod after it measured the usage: the limit
 *   holds at every moment and no other app of the pod is stopped. The filesystem is sized
 *   so that at least sizeLimit bytes of files fit (ext4's metadata takes the rest: at most
 *   about a tenth more, plus 4 MiB).
 * - on disk without a limit: a plain directory below the pod dir.
 * The mounts live below the pod dir and go at teardown (`releaseVolumeMounts`, called by
 * releasePodMounts). After a reboot the tmpfs is empty again and the disk image is mounted
 * again with its files.
 */
import { chmod, rename, rm, rmdir, stat, truncate, writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { execa } from '../common/process.js';
import { BerthError, errorMessage } from '../common/errors.js';
import { pathExists, makeDirs } from '../common/fs.js';
import { parseQuantity } from '../runtime/quantity.js';
import { mountsAtOrBelow, unmountAtOrBelow } from '../runtime/volume-paths.js';
import type { Pod, Volume } from '../api/pod.js';

/** emptyDir directories are world-writable, as the kubelet makes them (the pod dir above is private). */
export const EMPTY_DIR_MODE = 0o777;

export const volumesDir = (podDir: string) => join(podDir, 'volumes');
export const emptyDirPath = (podDir: string, volume: string) => join(volumesDir(podDir), volume);
export const diskImagesDir = (podDir: string) => join(podDir, 'volume-disks');
export const diskImagePath = (podDir: string, volume: string) => join(diskImagesDir(podDir), `${volume}.ext4`);

const MiB = 1024 * 1024;

/** The pod's memory limit as the kubelet's pod cgroup has it, or undefined when a container declares none. */
export function podMemoryLimit(pod: Pod): number | undefined {
  const limitOf = (c: { resources?: { limits?: Record<string, string | number> | undefined } | undefined }) => {
    const q = c.resources?.limits?.['memory'];
    return q === undefined ? undefined : parseQuantity(q);
  };
  const inits = pod.spec.initContainers ?? [];
  const all = [...inits, ...pod.spec.containers].map(limitOf);
  if (all.some((l) => l === undefined || l <= 0)) return undefined;
  // sidecars (restartPolicy Always) run beside the apps: they add up; the other init containers run alone
  const isSidecar = (c: unknown) => (c as { restartPolicy?: string }).restartPolicy === 'Always';
  const running = [...pod.spec.containers, ...inits.filter(isSidecar)].reduce((a, c) => a + limitOf(c)!, 0);
  const initPeak = Math.max(0, ...inits.filter((c) => !isSidecar(c)).map((c) => limitOf(c)!));
  return Math.max(running, initPeak);
}

/** The tmpfs size of a `medium: Memory` emptyDir in bytes (kubelet `calculateEmptyDirMemorySize`). */
export function memoryVolumeBytes(pod: Pod, v: Volume, nodeAllocatable = totalmem()): number {
  let size = nodeAllocatable;
  const podLimit = podMemoryLimit(pod);
  if (podLimit !== undefined && podLimit > 0 && podLimit <= size) size = podLimit;
  const sl = v.emptyDir?.sizeLimit === undefined ? undefined : parseQuantity(v.emptyDir.sizeLimit);
  if (sl !== undefined && sl > 0 && sl <= size) size = sl;
  return Math.ceil(size);
}

/** Size of the ext4 image for an on-disk emptyDir limited to `limit` bytes (4 KiB blocks). */
export function diskImageBytes(limit: number): number {
  const raw = limit + Math.ceil(limit / 10) + 4 * MiB;
  return Math.ceil(raw / 4096) * 4096;
}

export type EmptyDirBacking = { kind: 'dir' } | { kind: 'tmpfs'; bytes: number } | { kind: 'disk'; limit: number };

export function backingOf(pod: Pod, v: Volume, nodeAllocatable?: number): EmptyDirBacking {
  const ed = v.emptyDir ?? {};
  if (ed.medium === 'Memory') return { kind: 'tmpfs', bytes: memoryVolumeBytes(pod, v, nodeAllocatable) };
  const sl = ed.sizeLimit === undefined ? 0 : parseQuantity(ed.sizeLimit);
  if (sl > 0) return { kind: 'disk', limit: Math.ceil(sl) };
  return { kind: 'dir' };
}

async function isMountPoint(p: string): Promise<boolean> {
  return (await mountsAtOrBelow(p)).includes(p);
}

async function mount(args: string[], what: string): Promise<void> {
  const r = await execa('mount', args, { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0)
    throw new BerthError('Unavailable', `${what}: mount failed: ${String(r.stderr).trim() || `mount exited with ${r.exitCode}`}`);
}

/** A fresh ext4 image of the given size, made under a temporary name and renamed when complete. */
async function makeDiskImage(path: string, bytes: number, what: string): Promise<void> {
  await makeDirs(join(path, '..'), 0o700);
  const tmp = `${path}.tmp`;
  await rm(tmp, { force: true });
  await writeFile(tmp, '', { mode: 0o600 });
  await truncate(tmp, bytes);
  const r = await execa(
    'mkfs.ext4',
    ['-q', '-F', '-b', '4096', '-m', '0', '-O', '^has_journal', '-E', 'nodiscard,lazy_itable_init=1', tmp],
    { reject: false, stdin: 'ignore' },
  );
  if (r.exitCode !== 0) {
    await rm(tmp, { force: true });
    throw new BerthError('Unavailable', `${what}: mkfs.ext4 failed: ${String(r.stderr).trim() || `exit ${r.exitCode}`}`);
  }
  await rename(tmp, path);
}

/**
 * Make the emptyDir's directory and its backing (idempotent: a mounted volume is kept as it
 * is). Returns the directory and whether it is new (made or mounted now). A new directory, or
 * one being set up (`setUp`), gets the mode 0777; the caller sets its ownership.
 */
export async function ensureEmptyDir(
  pod: Pod,
  v: Volume,
  podDir: string,
  opts: { setUp?: boolean; nodeAllocatable?: number } = {},
): Promise<{ path: string; fresh: boolean }> {
  const p = emptyDirPath(podDir, v.name);
  const what = `emptyDir volume "${v.name}"`;
  let fresh = (await makeDirs(p, EMPTY_DIR_MODE)) !== undefined;
  const backing = backingOf(pod, v, opts.nodeAllocatable);
  if (backing.kind !== 'dir' && !(await isMountPoint(p))) {
    fresh = true;
    if (backing.kind === 'tmpfs') {
      await mount(['--no-canonicalize', '-t', 'tmpfs', '-o', `nosuid,nodev,mode=0777,size=${backing.bytes}`, 'tmpfs', p], what);
    } else {
      const img = diskImagePath(podDir, v.name);
      const made = !(await pathExists(img));
      if (made) await makeDiskImage(img, diskImageBytes(backing.limit), what);
      await mount(['--no-canonicalize', '-t', 'ext4', '-o', 'loop,nosuid,nodev', img, p], what);
      if (made) await rmdir(join(p, 'lost+found')).catch(() => undefined); // not the app's: an emptyDir starts empty
    }
  }
  if (fresh || opts.setUp) {
    const st = await stat(p);
    // the kubelet's 0777 (a setgid bit from fsGroup stays)
    if ((st.mode & 0o777) !== EMPTY_DIR_MODE) await chmod(p, (st.mode & 0o7000) | EMPTY_DIR_MODE);
  }
  return { path: p, fresh };
}

/** Marks a volume whose set-up (mode, ownership) is done, as the kubelet's ready dir: an agent restart does not redo it. */
export const readyMarker = (podDir: string, volume: string) => join(podDir, 'volume-ready', volume);

export async function isSetUp(podDir: string, volume: string): Promise<boolean> {
  return pathExists(readyMarker(podDir, volume));
}

export async function markSetUp(podDir: string, volume: string): Promise<void> {
  await makeDirs(join(podDir, 'volume-ready'), 0o700);
  await writeFile(readyMarker(podDir, volume), '');
}

/** Unmount every volume backing of the pod (teardown) and drop the disk images. */
export async function releaseVolumeMounts(podDir: string): Promise<void> {
  try {
    await unmountAtOrBelow(volumesDir(podDir));
  } catch (err) {
    throw new BerthError('Unavailable', `unmount of the pod's volumes: ${errorMessage(err)}`, { cause: err });
  }
  await rm(diskImagesDir(podDir), { recursive: true, force: true });
  await rm(join(podDir, 'volume-ready'), { recursive: true, force: true });
}
