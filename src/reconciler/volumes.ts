/**
 * A container's volumes as bind sources that cannot be turned against the host.
 *
 * Each mount (the container's volumeMounts and an appc image's implied mountPoints) is
 * opened as an `O_PATH` fd: the emptyDir under the pod dir, or the hostPath (the operator's
 * host path, checked against its `type` on that fd). `subPath` / `subPathExpr` is resolved
 * inside it component by component without following any symlink (runtime
 * `resolveBeneath`), and the result is bind-mounted from the fd onto a private target,
 * `<pod>/volume-subpaths/<volume>/<app>/<mount index>`, which is what the OCI runtime
 * binds into the app. A link swapped in after the check cannot redirect the mount.
 */
import { chmod, mkdir, open, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BerthError, errnoOf, errorMessage } from '../common/errors.js';
import { readdirIfExists } from '../common/fs.js';
import type { AppLaunch } from '../runtime/types.js';
import { currentPath, openPath, pathComponents, pinMount, removePinTree, resolveBeneath, unpinMount, type NodeKind, type PinnedNode } from '../runtime/volume-paths.js';
import { expandVars } from '../runtime/oci-spec.js';
import type { Container, Pod, Volume } from '../spec/pod.js';

/** emptyDir directories are world-writable, as the kubelet makes them (the pod dir above is private). */
export const EMPTY_DIR_MODE = 0o777;

export const emptyDirPath = (podDir: string, volume: string) => join(podDir, 'volumes', volume);
export const pinsDir = (podDir: string) => join(podDir, 'volume-subpaths');
export const pinTarget = (podDir: string, volume: string, app: string, index: number) => join(pinsDir(podDir), volume, app, String(index));

type MountPoint = { name: string; path: string; readOnly?: boolean | undefined };

/** Create the pod's emptyDir directories (mode 0777 whatever the umask). */
export async function ensureEmptyDirs(pod: Pod, podDir: string): Promise<void> {
  for (const v of pod.spec.volumes ?? []) {
    if (!v.emptyDir) continue;
    const p = emptyDirPath(podDir, v.name);
    await mkdir(p, { recursive: true, mode: EMPTY_DIR_MODE });
    await chmod(p, EMPTY_DIR_MODE);
  }
}

export interface VolumeMountsInput {
  pod: Pod;
  container: Container;
  podDir: string;
  /** an appc image's mountPoints, bound to the pod volume of the same name when the container mounts nothing of that name or at that path */
  mountPoints?: MountPoint[] | undefined;
  /** the container's env, for `subPathExpr` (kubelet expands it from the container's env only); called only when needed */
  envOf?: () => Array<[string, string]>;
}

/**
 * The container's mounts, each pinned. The app's earlier pins are dropped first (every
 * execution resolves again: the volume may have changed). On error nothing of this app
 * stays pinned.
 */
export async function volumeMounts(input: VolumeMountsInput): Promise<NonNullable<AppLaunch['mounts']>> {
  const { pod, container: c, podDir } = input;
  const vols = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
  const explicit = c.volumeMounts ?? [];
  const implied = (input.mountPoints ?? [])
    .filter((mp) => vols.has(mp.name) && !explicit.some((m) => m.name === mp.name || m.mountPath === mp.path))
    .map((mp) => ({ name: mp.name, mountPath: mp.path, readOnly: mp.readOnly ?? false, subPath: undefined, subPathExpr: undefined }));
  let env: Map<string, string> | undefined;
  const lookup = (name: string) => (env ??= new Map(input.envOf?.() ?? [])).get(name);
  await releaseAppMounts(podDir, c.name);
  const out: NonNullable<AppLaunch['mounts']> = [];
  try {
    for (const [index, m] of [...explicit, ...implied].entries()) {
      const v = vols.get(m.name);
      if (!v) throw new BerthError('InvalidArgument', `volumeMount ${m.name}: no such volume`);
      const sub = subPathOf(m, v.name, lookup);
      const root = await openVolume(v, podDir);
      let node: PinnedNode = root;
      try {
        const what = sub ? `subPath "${sub}" of volume "${v.name}"` : `volume "${v.name}"`;
        if (sub) node = await resolveBeneath(root, sub, { what, createMode: root.mode || 0o755 });
        const target = pinTarget(podDir, v.name, c.name, index);
        // A whole hostPath keeps the host's mounts below it (as the runtime's rbind gave it),
        // unless it holds berth's pod dirs: then copying it would copy every pin (kubelet's
        // subPath pins are plain binds too).
        const recursive = !sub && !!v.hostPath && !(await holdsPods(root, podDir));
        await pinMount(node, target, what, { recursive });
        const propagation = 'mountPropagation' in m ? m.mountPropagation : undefined;
        out.push({ destination: m.mountPath, source: target, readOnly: m.readOnly ?? false, ...(propagation ? { propagation } : {}) });
      } finally {
        if (node !== root) await node.close();
        await root.close();
      }
    }
  } catch (err) {
    await releaseAppMounts(podDir, c.name).catch(() => undefined);
    throw err;
  }
  return out;
}

/** Whether the volume's tree and berth's pods dir contain one another. */
async function holdsPods(root: PinnedNode, podDir: string): Promise<boolean> {
  const a = await currentPath(root);
  const b = await realpath(dirname(podDir)).catch(() => dirname(podDir));
  const within = (x: string, y: string) => x === y || x.startsWith(y.endsWith('/') ? y : `${y}/`);
  return within(a, b) || within(b, a);
}

/** The mount's subPath, `subPathExpr` expanded from the container's env; validated either way. */
function subPathOf(m: { subPath?: string | undefined; subPathExpr?: string | undefined }, volume: string, env: (name: string) => string | undefined): string | undefined {
  if (m.subPath && m.subPathExpr) throw new BerthError('InvalidArgument', `volumeMount ${volume}: subPath and subPathExpr are mutually exclusive`);
  if (m.subPathExpr) {
    const missing = new Set<string>();
    const expanded = expandVars(m.subPathExpr, (name) => {
      const value = env(name);
      if (!value) missing.add(name);
      return value ?? '';
    });
    if (missing.size) throw new BerthError('FailedPrecondition', `subPathExpr "${m.subPathExpr}" of volume "${volume}": missing value for ${[...missing].sort().join(', ')}`);
    pathComponents(expanded, `subPathExpr "${m.subPathExpr}" of volume "${volume}" (expanded to "${expanded}")`);
    return expanded;
  }
  if (m.subPath) pathComponents(m.subPath, `subPath "${m.subPath}" of volume "${volume}"`);
  return m.subPath || undefined;
}

const KIND_NOUN: Record<NodeKind, string> = {
  Directory: 'a directory',
  File: 'a file',
  Socket: 'a socket',
  CharDevice: 'a character device',
  BlockDevice: 'a block device',
  FIFO: 'a FIFO',
  Symlink: 'a symlink',
};

/** What each hostPath type needs to find (after any creation). */
const TYPE_KIND: Record<string, NodeKind | undefined> = {
  Directory: 'Directory',
  DirectoryOrCreate: 'Directory',
  File: 'File',
  FileOrCreate: 'File',
  Socket: 'Socket',
  CharDevice: 'CharDevice',
  BlockDevice: 'BlockDevice',
};

/** The volume's root as a pinned node: the emptyDir, or the hostPath checked against its type. */
async function openVolume(v: Volume, podDir: string): Promise<PinnedNode> {
  if (v.emptyDir) {
    const p = emptyDirPath(podDir, v.name);
    let node = await openPath(p, { follow: false, description: `emptyDir ${v.name}` });
    if (!node) {
      await mkdir(p, { recursive: true, mode: EMPTY_DIR_MODE });
      await chmod(p, EMPTY_DIR_MODE);
      node = await openPath(p, { follow: false, description: `emptyDir ${v.name}` });
    }
    if (node?.kind !== 'Directory') {
      await node?.close();
      throw new BerthError('Internal', `emptyDir ${p} of volume "${v.name}" is not a directory`);
    }
    return node;
  }
  if (v.hostPath) return openHostPath(v.name, v.hostPath.path, v.hostPath.type ?? '');
  throw new BerthError('InvalidArgument', `volume ${v.name} has no supported source`);
}

/**
 * A hostPath is the operator's path on the host: it is opened as the host resolves it, and
 * its type is checked on the very fd that is then pinned (no second lookup). `''` checks
 * nothing and, as containerd does, creates a missing path as a directory.
 */
async function openHostPath(volume: string, path: string, type: string): Promise<PinnedNode> {
  const desc = `hostPath ${path} of volume "${volume}"`;
  let node = await openPath(path, { follow: true, description: desc });
  if (!node) {
    if (type === '' || type === 'DirectoryOrCreate') {
      await mkdir(path, { recursive: true, mode: 0o755 }).catch((err: unknown) => {
        throw new BerthError('FailedPrecondition', `${desc}: cannot create the directory: ${errorMessage(err)}`, { cause: err });
      });
    } else if (type === 'FileOrCreate') {
      try {
        await (await open(path, 'a', 0o644)).close();
      } catch (err) {
        const why = errnoOf(err) === 'ENOENT' ? 'its parent directory does not exist (FileOrCreate creates only the file)' : errorMessage(err);
        throw new BerthError('FailedPrecondition', `${desc}: cannot create the file: ${why}`, { cause: err });
      }
    } else {
      const want = TYPE_KIND[type];
      throw new BerthError('Unavailable', `${desc} does not exist (type ${type} needs ${want ? KIND_NOUN[want] : 'it'} there)`);
    }
    node = await openPath(path, { follow: true, description: desc });
    if (!node) throw new BerthError('Unavailable', `${desc} disappeared right after it was created`);
  }
  const want = TYPE_KIND[type];
  if (want && node.kind !== want) {
    await node.close();
    throw new BerthError('Unavailable', `hostPath type check failed for volume "${volume}": ${path} is not ${KIND_NOUN[want]} (type ${type})`);
  }
  return node;
}

/** Unmount and remove every pin of one app (before it starts again, after it is removed). */
export async function releaseAppMounts(podDir: string, app: string): Promise<void> {
  const errors: unknown[] = [];
  for (const volume of await readdirIfExists(pinsDir(podDir))) {
    const appDir = join(pinsDir(podDir), volume, app);
    for (const index of await readdirIfExists(appDir)) {
      await unpinMount(join(appDir, index)).catch((err: unknown) => errors.push(err));
    }
  }
  if (errors.length) throw new BerthError('Unavailable', `release of ${app}'s volume pins: ${errors.map(errorMessage).join('; ')}`, { cause: errors[0] });
}

/** Unmount and remove every pin of the pod (teardown); nothing there is success. */
export async function releasePodMounts(podDir: string): Promise<void> {
  await removePinTree(pinsDir(podDir), 2);
}
