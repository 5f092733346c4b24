/**
 * Where berth keeps things on the host (DESIGN.md §3) and how host objects are named.
 * Every object carries the `berth` prefix so that `berth gc` and tests can find leaks.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf } from '../common/errors.js';
import { makeDirs } from '../common/fs.js';

export interface Layout {
  configDir: string;
  stateDir: string;
  runDir: string;
  logDir: string;
  specDirs: string[];
}

export const PREFIX = 'berth';

/** The last input report of the agent (reconcile.json): issues, conflicts, what was loaded. */
export const inputReportPath = (l: Layout) => join(l.stateDir, 'reconcile.json');
export const podsDir = (l: Layout) => join(l.stateDir, 'pods');
export const podDir = (l: Layout, uid: string) => join(podsDir(l), uid);
export const cniCacheDir = (l: Layout) => join(l.stateDir, 'cni');
export const ipamDataDir = (l: Layout) => join(l.stateDir, 'cni', 'networks');
export const podLogDir = (l: Layout, namespace: string, name: string, uid: string) => join(l.logDir, `${namespace}_${name}_${uid}`);
export const appLogPath = (l: Layout, namespace: string, name: string, uid: string, app: string, execution: number) =>
  join(podLogDir(l, namespace, name, uid), app, `${execution}.log`);

/** The short id in every host object name of a pod: 12 hex digits of its uid. */
export const podShortId = (uid: string) => uid.replace(/-/g, '').slice(0, 12);
export const netnsName = (uid: string) => `${PREFIX}-${podShortId(uid)}`;
/** CNI container id of the pod's sandbox (CNI-25 name rules hold). */
export const sandboxId = (uid: string) => `${PREFIX}-${podShortId(uid)}`;
export const containerId = (uid: string, app: string) => `${PREFIX}-${podShortId(uid)}-${app}`;
/** The pod infra process of shareProcessNamespace pods (pod-infra.ts): `POD` is no app name (those are lowercase). */
export const infraContainerId = (uid: string) => containerId(uid, 'POD');
/** The pod cgroup of pod-level resources, below the runtime's cgroup parent (runtime/pod-cgroup.ts). */
export const podCgroupName = (uid: string) => `pod-${podShortId(uid)}`;

/**
 * A pod's uid: derived from the installation, the pod's namespace/name and the hash of its
 * spec. Equal specs give equal uids, so a run interrupted at any point is finished by the
 * next one on the same objects (no duplicates); a changed spec is a new pod.
 */
export function podUid(installationId: string, key: string, specHash: string): string {
  const b = createHash('sha256').update(`berth/pod/v1\0${installationId}\0${key}\0${specHash}`).digest().subarray(0, 16);
  // An RFC 9562 UUID, version 8 (name-based, custom hash), variant 10xx: appc pods need a UUID.
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * A random id made once per state directory, so that two installations never share names.
 * With `create: false` (read-only commands) a missing id is not written: a throw-away one is
 * returned (no pod can be named after an id that was never saved).
 */
export async function installationId(l: Layout, opts: { create?: boolean } = {}): Promise<string> {
  const file = join(l.stateDir, 'installation-id');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  if (opts.create === false) return randomBytes(8).toString('hex');
  await makeDirs(l.stateDir);
  const id = randomBytes(8).toString('hex');
  try {
    await writeFile(file, `${id}\n`, { flag: 'wx' });
    return id;
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return (await readFile(file, 'utf8')).trim();
    throw err;
  }
}
