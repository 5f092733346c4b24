/**
 * Whether the OCI runtime makes idmapped mounts from `mounts[].uidMappings` / `gidMappings`
 * (runtime-spec 1.1), which a pod with `hostUsers: false` needs for its volumes: a runtime
 * that ignores the fields (runc 1.1) bind-mounts the volume unmapped, and its files would get
 * the pod's host IDs. Asked of the runtime by capability, not by name:
 *
 * 1. its `features` document (runtime-spec features.md): `linux.mountExtensions.idmap.enabled`
 *    decides; a document without the field from a runtime whose `ociVersionMax` is below 1.1.0
 *    cannot know the fields (runc 1.1.5 says 1.0.2-dev), so that is a no as well;
 * 2. otherwise (no `features` command, as crun 1.8.1; or a 1.1 runtime silent on idmap) a probe:
 *    the runtime creates, and never starts, a throwaway container whose only volume is a bind
 *    mount of a root-owned directory with a mapping, and the owner is read from the host through
 *    `/proc/<pid>/root`. Mapped: supported; still root's: the runtime ignored the mapping.
 *
 * The probe's container and files are removed afterwards, also when it fails. A probe that
 * cannot be run is a refusal with its reason: berth does not guess.
 */
import { chmod, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../common/index.js';
import type { OciFeatures, OciRuntime } from './types.js';
import { makeDirs } from '../common/fs.js';

/** The mapping the probe asks for: container 0 is host `PROBE_HOST_ID` (nothing runs with it). */
const PROBE_HOST_ID = 65536;
const PROBE_SIZE = 65536;
const MOUNT_TARGET = 'idmap-probe';
/** the container's process: never started, but crun checks at create that it can be executed */
const INIT = 'berth-idmap-probe';

export interface IdmapProbeOptions {
  /** scratch directory (made and removed here), under berth's run dir */
  dir: string;
  /** the throwaway container's id (a berth-owned prefix) */
  containerId: string;
}

/** What the runtime's features document says: true, false, or undefined (it does not tell). */
export function idmapFromFeatures(f: OciFeatures | undefined): boolean | undefined {
  if (!f) return undefined;
  const enabled = f.linux?.mountExtensions?.idmap?.enabled;
  if (typeof enabled === 'boolean') return enabled;
  return f.ociVersionMax !== undefined && olderThan11(f.ociVersionMax) ? false : undefined;
}

/** `1.0.2-dev` < 1.1.0; an unparseable version is not taken as older. */
function olderThan11(version: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major < 1 || (major === 1 && minor < 1);
}

/** Why the runtime cannot make a pod's idmapped volume mounts, or undefined when it can. */
export async function runtimeIdmapProblem(oci: OciRuntime, opts: IdmapProbeOptions): Promise<string | undefined> {
  const features = await oci.features();
  const said = idmapFromFeatures(features);
  if (said === true) return undefined;
  const who = `the OCI runtime ${await oci.version()}`;
  const need = "makes no idmapped mounts (OCI mounts[].uidMappings, runtime-spec 1.1), which a pod's volumes need";
  const fix = 'run berth with --runtime crun (or runc 1.2 or later)';
  if (said === false) {
    const why =
      features?.linux?.mountExtensions?.idmap?.enabled === false
        ? 'its features report linux.mountExtensions.idmap.enabled: false'
        : `its features report runtime-spec ${features?.ociVersionMax ?? '?'} at most and no linux.mountExtensions.idmap`;
    return `${who} ${need}: ${why}; ${fix}`;
  }
  try {
    const { onDisk, seen } = await probeMountOwner(oci, opts);
    if (seen === onDisk + PROBE_HOST_ID) return undefined;
    return `${who} ${need}: a throwaway container's bind mount with uidMappings 0→${PROBE_HOST_ID} showed a directory owned by ${onDisk} as owned by ${seen}, not ${onDisk + PROBE_HOST_ID}; ${fix}`;
  } catch (err) {
    return `could not tell whether ${who} makes idmapped mounts (OCI mounts[].uidMappings): the probe failed: ${errorMessage(err)}`;
  }
}

/** Create the probe container, read the owner of its mount target from the host, remove it all. */
async function probeMountOwner(oci: OciRuntime, opts: IdmapProbeOptions): Promise<{ onDisk: number; seen: number }> {
  const bundle = join(opts.dir, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  const source = join(opts.dir, 'source');
  const cleanup = async () => {
    await oci.delete(opts.containerId, true);
    await rm(opts.dir, { recursive: true, force: true });
  };
  await cleanup(); // what an earlier probe that was killed left
  try {
    for (const d of [source, join(rootfs, MOUNT_TARGET), join(rootfs, 'dev'), join(rootfs, 'proc')]) await makeDirs(d);
    await writeFile(join(rootfs, INIT), '#!/bin/sh\n');
    await chmod(join(rootfs, INIT), 0o755);
    await writeFile(join(bundle, 'config.json'), JSON.stringify(probeConfig(rootfs, source)));
    await oci.create(opts.containerId, bundle);
    const st = await oci.state(opts.containerId);
    if (!st || st.pid <= 0) throw new Error(`the container ${opts.containerId} has no process after create`);
    return { onDisk: (await stat(source)).uid, seen: (await stat(join('/proc', String(st.pid), 'root', MOUNT_TARGET))).uid };
  } finally {
    await cleanup().catch(() => undefined); // scratch: the answer is already decided
  }
}

/** A container with its own user namespace and nothing else of the host: no network, a read-only empty root. */
function probeConfig(rootfs: string, source: string) {
  const mapping = [{ containerID: 0, hostID: PROBE_HOST_ID, size: PROBE_SIZE }];
  return {
    ociVersion: '1.1.0',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: [`/${INIT}`], env: [], cwd: '/', noNewPrivileges: true },
    root: { path: 'rootfs', readonly: true },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'mode=755', 'size=64k'] },
      {
        destination: `/${MOUNT_TARGET}`,
        type: 'bind',
        source,
        options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'],
        uidMappings: mapping,
        gidMappings: mapping,
      },
    ],
    linux: {
      namespaces: [{ type: 'user' }, { type: 'mount' }, { type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }],
      uidMappings: mapping,
      gidMappings: mapping,
    },
  };
}
