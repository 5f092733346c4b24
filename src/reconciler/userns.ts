/**
 * The host-ID ranges of pods with `hostUsers: false`, allocated as the kubelet's userns
 * manager does (KEP-127): each pod gets 65536 IDs at a multiple of 65536, never the host's
 * own 0..65535 and never another pod's. The range is kept in `<pod dir>/userns` in the
 * kubelet's format (`{"uidMappings":[{"hostId","containerId","length"}],"gidMappings":…}`), so
 * an agent restart finds every allocation again; it goes with the pod directory.
 *
 * The IDs pods may use: a `berth` entry in /etc/subuid and /etc/subgid (the same start and
 * count in both, multiples of 65536), as the kubelet reads its `kubelet` user's; else the
 * kubelet's default, 65536 up to 65536 × (1 + 110), 110 being its default maxPods.
 */
import { join } from 'node:path';
import { BerthError, wrap } from '../common/errors.js';
import { readJsonIfExists, readTextIfExists, readdirIfExists, writeJsonAtomic } from '../common/fs.js';
import { pinUserns, withNetnsInUserns, type IdRange, type PodUserns } from '../runtime/userns.js';
import type { Host } from './host.js';
import { podsDir, type Layout } from './layout.js';

export const USERNS_LENGTH = 65536;
/** the pod's range, as the kubelet keeps it */
export const USERNS_FILE = 'userns';
/** the pod's user namespace, pinned */
export const USERNS_PIN = 'userns.ns';

export interface UsernsPool {
  /** the first host ID pods may use: a multiple of USERNS_LENGTH, at least USERNS_LENGTH */
  first: number;
  /** how many ranges of USERNS_LENGTH IDs fit from `first` */
  count: number;
}

export const DEFAULT_USERNS_POOL: UsernsPool = { first: USERNS_LENGTH, count: 110 };

interface KubeletUsernsFile {
  uidMappings: Array<{ hostId: number; containerId: number; length: number }>;
  gidMappings: Array<{ hostId: number; containerId: number; length: number }>;
}

/** `user:start:count` lines of /etc/subuid or /etc/subgid: the first for `user`. */
export function subidEntry(text: string, user: string): { start: number; count: number } | undefined {
  for (const line of text.split('\n')) {
    const [name, start, count] = line.trim().split(':');
    if (name === user && start !== undefined && count !== undefined && /^\d+$/.test(start) && /^\d+$/.test(count))
      return { start: Number(start), count: Number(count) };
  }
  return undefined;
}

/** The pool from /etc/subuid and /etc/subgid texts (undefined: the file is missing). */
export function usernsPoolFrom(subuid: string | undefined, subgid: string | undefined, user = 'berth'): UsernsPool {
  const u = subuid === undefined ? undefined : subidEntry(subuid, user);
  const g = subgid === undefined ? undefined : subidEntry(subgid, user);
  if (!u && !g) return DEFAULT_USERNS_POOL;
  if (!u || !g || u.start !== g.start || u.count !== g.count) {
    throw new BerthError(
      'FailedPrecondition',
      `the "${user}" entries of /etc/subuid and /etc/subgid must give the same start and count (pods get the same host IDs as UIDs and GIDs)`,
    );
  }
  if (u.start % USERNS_LENGTH !== 0 || u.count % USERNS_LENGTH !== 0 || u.start < USERNS_LENGTH || u.count < USERNS_LENGTH) {
    throw new BerthError(
      'FailedPrecondition',
      `the "${user}" entry of /etc/subuid (${u.start}:${u.count}) must start at and span a multiple of ${USERNS_LENGTH}, above the host's own 0-${USERNS_LENGTH - 1}`,
    );
  }
  return { first: u.start, count: u.count / USERNS_LENGTH };
}

export async function usernsPool(): Promise<UsernsPool> {
  return usernsPoolFrom(await readTextIfExists('/etc/subuid'), await readTextIfExists('/etc/subgid'));
}

/** The lowest range of the pool that overlaps none of `used`. */
export function pickRange(used: IdRange[], pool: UsernsPool): IdRange {
  for (let i = 0; i < pool.count; i++) {
    const hostId = pool.first + i * USERNS_LENGTH;
    const end = hostId + USERNS_LENGTH;
    if (!used.some((r) => r.hostId < end && hostId < r.hostId + r.size)) return { hostId, size: USERNS_LENGTH };
  }
  throw new BerthError(
    'Unavailable',
    `no free range of host IDs for a user namespace: all ${pool.count} ranges from ${pool.first} are taken by pods (give berth more in /etc/subuid and /etc/subgid)`,
  );
}

export function rangeOfFile(f: KubeletUsernsFile | undefined): IdRange | undefined {
  const u = f?.uidMappings?.[0];
  const g = f?.gidMappings?.[0];
  if (!u || !g || u.containerId !== 0 || g.hostId !== u.hostId || g.length !== u.length) return undefined;
  return { hostId: u.hostId, size: u.length };
}

function fileOfRange(r: IdRange): KubeletUsernsFile {
  const m = [{ hostId: r.hostId, containerId: 0, length: r.size }];
  return { uidMappings: m, gidMappings: m };
}

/** one allocation at a time per state directory (the agent lock keeps other agents out) */
const allocating = new Map<string, Promise<unknown>>();

/** The pod's range: the one it has, else the lowest free one, written to `<pod dir>/userns`. */
export async function podRange(layout: Layout, uid: string, pool?: UsernsPool): Promise<IdRange> {
  const key = podsDir(layout);
  const run = async (): Promise<IdRange> => {
    const own = rangeOfFile(await readJsonIfExists<KubeletUsernsFile>(join(key, uid, USERNS_FILE)));
    if (own) return own;
    const used: IdRange[] = [];
    for (const other of await readdirIfExists(key)) {
      // a range file that cannot be read may hold a range in use: nothing is handed out until it is repaired
      const file = join(key, other, USERNS_FILE);
      const r = rangeOfFile(
        await readJsonIfExists<KubeletUsernsFile>(file).catch((err: unknown) => {
          throw wrap(err, `user namespace range ${file} cannot be read, so no range is handed out`, 'DataLoss');
        }),
      );
      if (r) used.push(r);
    }
    const range = pickRange(used, pool ?? (await usernsPool()));
    await writeJsonAtomic(join(key, uid, USERNS_FILE), fileOfRange(range), 0o600);
    return range;
  };
  const prev = allocating.get(key) ?? Promise.resolve();
  const next = prev.then(run, run);
  allocating.set(
    key,
    next.catch(() => undefined),
  ); // the chain only orders; the caller gets the error from `next`
  return next;
}

/**
 * The pod's user namespace, pinned at `<pod dir>/userns.ns`, and its network namespace
 * handle `netnsName` made inside it when there is none (adopted as it is otherwise). Refused
 * with the host's reason when the runtime or kernel cannot do it.
 */
export async function ensurePodUserns(host: Host, podDirPath: string, uid: string, netnsName: string | undefined): Promise<PodUserns> {
  const problem = await host.runtime.usernsProblem();
  if (problem)
    throw new BerthError('FailedPrecondition', `hostUsers: false is not supported by berth: ${problem}`, {
      details: { reason: 'CreateContainerConfigError' },
    });
  const range = await podRange(host.layout, uid);
  const userns = { ...range, path: join(podDirPath, USERNS_PIN) };
  await pinUserns(range, userns.path);
  if (netnsName !== undefined && !(await host.netns.exists(netnsName))) {
    await withNetnsInUserns(userns.path, (pid) => host.netns.attach(netnsName, pid));
  }
  return userns;
}
