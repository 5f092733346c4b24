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
 *
 * Volume sources: emptyDir (emptydir.ts: a directory, a tmpfs for `medium: Memory`, a
 * size-limited loop filesystem for `sizeLimit`), hostPath (the host's path checked against
 * its `type`), downwardAPI (downward-api.ts, written atomically, always read-only) and image
 * (an OCI image rendered by the image service, always read-only and noexec). fsGroup
 * ownership (runtime/volume-ownership.ts) is set on emptyDir and downwardAPI volumes when
 * they are set up, as the kubelet does; never on hostPath or image volumes.
 */
import { chmod, open, readlink, realpath, statfs } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { BerthError, errnoOf, errorMessage } from '../common/errors.js';
import { readdirIfExists, makeDirs } from '../common/fs.js';
import { DATA_DIR_LINK, writeAtomic } from '../runtime/atomic-writer.js';
import type { AppLaunch } from '../runtime/types.js';
import { applyFsGroup, fsGroupMode } from '../runtime/volume-ownership.js';
import {
  currentPath,
  openPath,
  pathComponents,
  pinMount,
  removePinTree,
  resolveBeneath,
  unpinMount,
  type NodeKind,
  type PinnedNode,
} from '../runtime/volume-paths.js';
import { expandVars } from '../runtime/oci-spec.js';
import type { Container, Pod, Volume } from '../api/pod.js';
import { downwardApiFiles, type NodeAllocatable, type PodIdentity } from './downward-api.js';
import { emptyDirPath, ensureEmptyDir, isSetUp, markSetUp, releaseVolumeMounts } from './emptydir.js';

export { EMPTY_DIR_MODE, emptyDirPath } from './emptydir.js';

/** What hostPath DirectoryOrCreate and FileOrCreate make (the kubelet's modes). */
const HOST_DIR_MODE = 0o755;
const HOST_FILE_MODE = 0o644;

/** The downwardAPI volume's root: world-readable, like the kubelet's (a wrapped emptyDir); the app gets it read-only. */
const DOWNWARD_DIR_MODE = 0o777;

/** What the volumes need to know beyond the pod spec. */
export interface VolumeContext {
  /** the pod's name, namespace and uid (downwardAPI); default: the spec's name and namespace, the pod dir's name */
  identity?: PodIdentity;
  /** unset limits in downwardAPI resourceFieldRefs; default: this machine (all CPUs, all memory, the pod dir's filesystem) */
  node?: NodeAllocatable;
  /** an image volume's rendered root filesystem by reference (the pod's pull and render steps made it) */
  imageRoot?: (reference: string) => string | undefined;
}

function identityOf(pod: Pod, podDir: string, ctx?: VolumeContext): PodIdentity {
  return ctx?.identity ?? { name: pod.metadata.name, namespace: pod.metadata.namespace, uid: basename(podDir) };
}

async function nodeOf(podDir: string, ctx?: VolumeContext): Promise<NodeAllocatable> {
  if (ctx?.node) return ctx.node;
  const fs = await statfs(dirname(podDir)).catch(() => undefined); // unknown size: no ephemeral-storage default limit
  return { cpuCores: cpus().length || 1, memoryBytes: totalmem(), ephemeralStorageBytes: fs ? fs.blocks * fs.bsize : 0 };
}

const fsGroupOf = (pod: Pod) => pod.spec.securityContext?.fsGroup;
const changePolicyOf = (pod: Pod) => pod.spec.securityContext?.fsGroupChangePolicy ?? 'Always';

/** fsGroup ownership of a volume's root and everything below (the kubelet's SetVolumeOwnership). */
async function ownVolume(pod: Pod, path: string, what: string, readOnly: boolean): Promise<void> {
  const fsGroup = fsGroupOf(pod);
  if (fsGroup === undefined) return;
  const root = await openPath(path, { follow: false, description: what });
  if (!root) throw new BerthError('Internal', `${what}: ${path} disappeared`);
  try {
    await applyFsGroup(root, fsGroup, { policy: changePolicyOf(pod), readOnly });
  } catch (err) {
    throw new BerthError('Unavailable', `${what}: cannot give it the group fsGroup ${fsGroup}: ${errorMessage(err)}`, { cause: err });
  } finally {
    await root.close();
  }
}

/** Write the downwardAPI volume's files (atomically; unchanged files are left as they are). */
async function writeDownwardApi(pod: Pod, v: Volume, podDir: string, ctx?: VolumeContext): Promise<string> {
  const dir = emptyDirPath(podDir, v.name);
  const what = `downwardAPI volume "${v.name}"`;
  const files = downwardApiFiles(pod, v, identityOf(pod, podDir, ctx), await nodeOf(podDir, ctx));
  const fsGroup = fsGroupOf(pod);
  const changed = await writeAtomic(dir, files, {
    what,
    dirMode: DOWNWARD_DIR_MODE,
    extraModeBits: fsGroup === undefined ? 0 : fsGroupMode(0, false, true),
  });
  if (changed) await ownVolume(pod, dir, what, true);
  return dir;
}

/** Set up one emptyDir or downwardAPI volume (the others need nothing before an app mounts them). */
async function setUpVolume(pod: Pod, v: Volume, podDir: string, ctx?: VolumeContext): Promise<void> {
  if (v.emptyDir) {
    // set up once, as the kubelet: again only when the directory or its mount is new (a reboot)
    const setUp = !(await isSetUp(podDir, v.name));
    const { path, fresh } = await ensureEmptyDir(pod, v, podDir, { setUp });
    if (fresh || setUp) {
      await ownVolume(pod, path, `emptyDir volume "${v.name}"`, false);
      await markSetUp(podDir, v.name);
    }
  } else if (v.downwardAPI) {
    await writeDownwardApi(pod, v, podDir, ctx);
  }
}

export const pinsDir = (podDir: string) => join(podDir, 'volume-subpaths');
export const pinTarget = (podDir: string, volume: string, app: string, index: number) => join(pinsDir(podDir), volume, app, String(index));

type MountPoint = { name: string; path: string; readOnly?: boolean | undefined };

/**
 * Set up the pod's volumes when its sandbox is made: emptyDirs (mode 0777 whatever the umask,
 * on their backing), downwardAPI files, fsGroup ownership of both.
 */
export async function ensureEmptyDirs(pod: Pod, podDir: string, ctx?: VolumeContext): Promise<void> {
  for (const v of pod.spec.volumes ?? []) await setUpVolume(pod, v, podDir, ctx);
}

export interface VolumeMountsInput {
  pod: Pod;
  container: Container;
  podDir: string;
  /** an appc image's mountPoints, bound to the pod volume of the same name when the container mounts nothing of that name or at that path */
  mountPoints?: MountPoint[] | undefined;
  /** the container's env, for `subPathExpr` (kubelet expands it from the container's env only); called only when needed */
  envOf?: () => Array<[string, string]>;
  /** identity, node and image roots (see VolumeContext) */
  context?: VolumeContext;
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
      const root = await openVolume(pod, v, podDir, input.context, !!sub);
      // downwardAPI and image volumes are read-only whatever the mount says (the kubelet's rule)
      const fixed = !!v.downwardAPI || !!v.image;
      let node: PinnedNode = root;
      try {
        const what = sub ? `subPath "${sub}" of volume "${v.name}"` : `volume "${v.name}"`;
        if (sub) node = await resolveBeneath(root, sub, { what, ...(fixed ? {} : { createMode: root.mode & 0o7777 || 0o755 }) });
        const target = pinTarget(podDir, v.name, c.name, index);
        // A whole hostPath keeps the host's mounts below it (as the runtime's rbind gave it),
        // unless it holds berth's pod dirs: then copying it would copy every pin (kubelet's
        // subPath pins are plain binds too).
        const recursive = !sub && !!v.hostPath && !(await holdsPods(root, podDir));
        await pinMount(node, target, what, { recursive });
        const propagation = 'mountPropagation' in m ? m.mountPropagation : undefined;
        out.push({
          destination: m.mountPath,
          source: target,
          readOnly: fixed || (m.readOnly ?? false),
          ...(propagation ? { propagation } : {}),
          ...(v.image ? { noexec: true } : {}),
        });
      } finally {
        if (node !== root) await node.close();
        await root.close();
      }
    }
  } catch (err) {
    await releaseAppMounts(podDir, c.name).catch(() => undefined); // best-effort undo; teardown releases what is left, the error is the setup's
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
function subPathOf(
  m: { subPath?: string | undefined; subPathExpr?: string | undefined },
  volume: string,
  env: (name: string) => string | undefined,
): string | undefined {
  if (m.subPath && m.subPathExpr)
    throw new BerthError('InvalidArgument', `volumeMount ${volume}: subPath and subPathExpr are mutually exclusive`);
  if (m.subPathExpr) {
    const missing = new Set<string>();
    const expanded = expandVars(m.subPathExpr, (name) => {
      const value = env(name);
      if (!value) missing.add(name);
      return value ?? '';
    });
    if (missing.size)
      throw new BerthError(
        'FailedPrecondition',
        `subPathExpr "${m.subPathExpr}" of volume "${volume}": missing value for ${[...missing].sort().join(', ')}`,
      );
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

async function openDirectory(p: string, what: string): Promise<PinnedNode> {
  const node = await openPath(p, { follow: false, description: what });
  if (node?.kind !== 'Directory') {
    await node?.close();
    throw new BerthError('Internal', `${what}: ${p} is ${node ? 'not a directory' : 'missing'}`);
  }
  return node;
}

/**
 * The volume's root as a pinned node: the emptyDir (set up again if a reboot took its
 * mount), the hostPath checked against its type, the downwardAPI files (rewritten: an app's
 * restart sees the current labels; a subPath resolves in the data directory itself, as its
 * names are links), or the image's rendered tree.
 */
async function openVolume(pod: Pod, v: Volume, podDir: string, ctx: VolumeContext | undefined, forSubPath: boolean): Promise<PinnedNode> {
  if (v.emptyDir) {
    const what = `emptyDir volume "${v.name}"`;
    await setUpVolume(pod, v, podDir, ctx);
    return openDirectory(emptyDirPath(podDir, v.name), what);
  }
  if (v.hostPath) return openHostPath(v.name, v.hostPath.path, v.hostPath.type ?? '');
  if (v.downwardAPI) {
    const dir = await writeDownwardApi(pod, v, podDir, ctx);
    const what = `downwardAPI volume "${v.name}"`;
    if (!forSubPath) return openDirectory(dir, what);
    const data = await readlink(join(dir, DATA_DIR_LINK));
    if (!data.startsWith('..') || data.includes('/'))
      throw new BerthError('Internal', `${what}: unexpected ${DATA_DIR_LINK} link "${data}"`);
    return openDirectory(join(dir, data), what);
  }
  if (v.image) {
    const what = `image volume "${v.name}" (${v.image.reference})`;
    const root = ctx?.imageRoot?.(v.image.reference);
    if (!root) throw new BerthError('Unavailable', `${what}: the image is not pulled and rendered yet`);
    return openDirectory(root, what);
  }
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
      // the kubelet's MkdirAll(path, 0755): every directory made is 0755, whatever berth's umask
      const first = await makeDirs(path, HOST_DIR_MODE).catch((err: unknown) => {
        throw new BerthError('FailedPrecondition', `${desc}: cannot create the directory: ${errorMessage(err)}`, { cause: err });
      });
      if (first) for (let d = path; d.length >= first.length; d = dirname(d)) await chmod(d, HOST_DIR_MODE);
    } else if (type === 'FileOrCreate') {
      try {
        // the kubelet's empty 0644 file, made only when nothing is there
        const f = await open(path, 'wx', HOST_FILE_MODE);
        await f.chmod(HOST_FILE_MODE);
        await f.close();
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') {
          const why =
            errnoOf(err) === 'ENOENT' ? 'its parent directory does not exist (FileOrCreate creates only the file)' : errorMessage(err);
          throw new BerthError('FailedPrecondition', `${desc}: cannot create the file: ${why}`, { cause: err });
        }
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
    throw new BerthError(
      'Unavailable',
      `hostPath type check failed for volume "${volume}": ${path} is not ${KIND_NOUN[want]} (type ${type})`,
    );
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
  if (errors.length)
    throw new BerthError('Unavailable', `release of ${app}'s volume pins: ${errors.map(errorMessage).join('; ')}`, { cause: errors[0] });
}

/**
 * Unmount and remove every pin of the pod, then the volumes' own mounts (tmpfs, size-limited
 * filesystems) at teardown; nothing there is success.
 */
export async function releasePodMounts(podDir: string): Promise<void> {
  await removePinTree(pinsDir(podDir), 2);
  await releaseVolumeMounts(podDir);
}

/** The image volumes' references and pull policies (of the pod, or of what one container mounts). */
export function imageVolumeRefs(
  pod: Pod,
  container?: Container,
): Array<{ reference: string; pullPolicy?: 'Always' | 'IfNotPresent' | 'Never' | undefined }> {
  const mounted = container ? new Set((container.volumeMounts ?? []).map((m) => m.name)) : undefined;
  return (pod.spec.volumes ?? []).flatMap((v) =>
    v.image && (!mounted || mounted.has(v.name)) ? [{ reference: v.image.reference, pullPolicy: v.image.pullPolicy }] : [],
  );
}
