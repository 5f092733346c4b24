/**
 * `berth gc`, the scan: observe what findOrphans (orphans.ts) judges — pod dirs and records,
 * mounts below `<state>/pods`, `berth-*` netns handles, runtime containers (crun and runc) and
 * monitor files, the CNI cache, host-local reservations of the networks in use, the nat
 * tables, log dirs and bridges. Reads only.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock } from '../common/clock.js';
import { errnoOf } from '../common/errors.js';
import { readdirIfExists } from '../common/fs.js';
import { CACHE_TEMP_NAME, STALE_TEMP_MS } from '../cni/cache.js';
import type { Iptables } from '../cni/host/ipmasq.js';
import type { CachedAttachment, Cni, NetnsManager } from '../cni/types.js';
import type { OciRuntime } from '../runtime/types.js';
import { mountsAtOrBelow } from '../runtime/volume-paths.js';
import { bridgesOf } from './gc.js';
import { cniCacheDir, ipamDataDir, PREFIX, podsDir, type Layout } from './layout.js';
import type { IpamReservation, ObservedBridge, ObservedContainer, ObservedHost } from './orphans.js';
import { readRecord, type PodRecord } from './records.js';

/** host-local's dataDir when a network sets none. */
export const HOST_LOCAL_DEFAULT_DIR = '/var/lib/cni/networks';

export interface ScanDeps {
  layout: Layout;
  cni: Pick<Cni, 'getCachedAttachments'>;
  netns: Pick<NetnsManager, 'list'>;
  /** the OCI runtimes whose containers to look at (crun and runc) */
  ociRuntimes: Array<Pick<OciRuntime, 'name' | 'list' | 'state'>>;
  iptables?: Iptables;
  /** the conflists (JSON) of the Network specs this installation loads */
  specNetworks?: string[];
  now?: number;
}

async function dirsIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}

function decodeConfig(a: CachedAttachment): string | undefined {
  return a.config ? Buffer.from(a.config, 'base64').toString('utf8') : undefined;
}

/** Network name and host-local dataDirs of a conflist. */
function ipamDirsOf(conflist: string): { name: string; dirs: string[] } | undefined {
  try {
    const l = JSON.parse(conflist) as { name?: unknown; plugins?: Array<{ ipam?: { type?: unknown; dataDir?: unknown } }> };
    if (typeof l.name !== 'string') return undefined;
    const dirs = (l.plugins ?? [])
      .filter((p) => p.ipam?.type === 'host-local')
      .map((p) => (typeof p.ipam?.dataDir === 'string' && p.ipam.dataDir ? p.ipam.dataDir : HOST_LOCAL_DEFAULT_DIR));
    return { name: l.name, dirs };
  } catch {
    return undefined; // a conflist that does not parse names no IPAM directory to scan
  }
}

async function reservationsIn(dir: string, network: string, own: boolean): Promise<IpamReservation[]> {
  const out: IpamReservation[] = [];
  for (const n of await readdirIfExists(join(dir, network))) {
    if (n === 'lock' || n.startsWith('last_reserved_ip')) continue;
    const file = join(dir, network, n);
    let text: string;
    try {
      if (!(await lstat(file)).isFile()) continue;
      text = await readFile(file, 'utf8');
    } catch {
      continue; // released by host-local since the listing: no reservation
    }
    const [containerId, ifName] = text.split(/\r?\n/).map((s) => s.trim());
    if (!containerId?.startsWith(`${PREFIX}-`)) continue;
    out.push({ file, network, ip: n, containerId, ...(ifName ? { ifName } : {}), own });
  }
  return out;
}

async function bridgePorts(name: string): Promise<number | undefined> {
  try {
    return (await readdir(`/sys/class/net/${name}/brif`)).length;
  } catch {
    return undefined; // not a bridge (or gone): ports unknown
  }
}

export async function scanHost(d: ScanDeps): Promise<ObservedHost> {
  const l = d.layout;
  // compared with the kernel's file times (stale cache temporaries), which are wall clock: so is systemClock
  const now = d.now ?? systemClock.now();
  const records: PodRecord[] = [];
  const unreadableRecords: string[] = [];
  const podDirs = await dirsIn(podsDir(l));
  for (const uid of podDirs) {
    try {
      const r = await readRecord(l, uid);
      if (r) records.push(r);
    } catch {
      unreadableRecords.push(uid); // DataLoss: the pod is held, its host objects are not orphans (orphans.ts)
    }
  }

  const mounts = (await mountsAtOrBelow(podsDir(l))).filter((m) => m.startsWith(`${podsDir(l)}/`));
  const netns = (await d.netns.list(`${PREFIX}-`)).filter((n) => n.startsWith(`${PREFIX}-`));

  const containers = new Map<string, ObservedContainer>();
  for (const rt of d.ociRuntimes) {
    for (const id of await rt.list().catch(() => [] as string[])) {
      // a runtime not installed has no containers
      if (!id.startsWith(`${PREFIX}-`) || containers.has(id)) continue;
      const st = await rt.state(id).catch(() => undefined); // gone since list: seen without its bundle
      containers.set(id, { id, runtime: rt.name as 'crun' | 'runc', ...(st?.bundle ? { bundle: st.bundle } : {}), monitor: false });
    }
  }
  for (const dir of [join(l.runDir, 'containers'), join(l.runDir, 'exits')]) {
    for (const id of await readdirIfExists(dir)) {
      if (!id.startsWith(`${PREFIX}-`)) continue;
      const c = containers.get(id);
      if (c) c.monitor = true;
      else containers.set(id, { id, monitor: true });
    }
  }

  const attachments = await d.cni.getCachedAttachments();
  const staleCacheTemps: string[] = [];
  const resultsDir = join(cniCacheDir(l), 'results');
  for (const n of await readdirIfExists(resultsDir)) {
    if (!CACHE_TEMP_NAME.test(n)) continue;
    const st = await lstat(join(resultsDir, n)).catch(() => undefined); // gone already
    if (st?.isFile() && now - st.mtimeMs >= STALE_TEMP_MS) staleCacheTemps.push(n);
  }

  // Networks this installation uses, with their bridges and IPAM dirs.
  const conflists = [
    ...records.flatMap((r) => r.networks.map((n) => n.conflist)),
    ...attachments.map(decodeConfig).filter((c): c is string => c !== undefined),
    ...(d.specNetworks ?? []),
  ];
  const networkNames = new Set<string>([
    ...records.flatMap((r) => r.networks.map((n) => n.name)),
    ...attachments.map((a) => a.networkName),
  ]);
  const bridgesOfNetwork: Record<string, string[]> = {};
  const ipamDirs = new Map<string, Set<string>>(); // dataDir → network names
  for (const c of conflists) {
    const info = ipamDirsOf(c);
    if (!info) continue;
    networkNames.add(info.name);
    bridgesOfNetwork[info.name] = [...new Set([...(bridgesOfNetwork[info.name] ?? []), ...bridgesOf(c)])];
    for (const dir of info.dirs) ipamDirs.set(dir, (ipamDirs.get(dir) ?? new Set()).add(info.name));
  }
  const own = ipamDataDir(l);
  for (const n of await dirsIn(own)) ipamDirs.set(own, (ipamDirs.get(own) ?? new Set()).add(n));
  const ipam: IpamReservation[] = [];
  for (const [dir, nets] of ipamDirs) {
    for (const net of nets) ipam.push(...(await reservationsIn(dir, net, dir === own || dir.startsWith(`${l.stateDir}/`))));
  }

  const nat: ObservedHost['nat'] = {};
  if (d.iptables) {
    for (const f of [4, 6] as const) {
      const save = await d.iptables.save(f).catch(() => undefined); // no iptables for this family: no rules to look at
      if (save !== undefined) nat[f] = save;
    }
  }

  const bridgesInUse = [...new Set(records.flatMap((r) => r.networks.flatMap((n) => bridgesOf(n.conflist))))];
  const bridges: ObservedBridge[] = [];
  for (const name of new Set(Object.values(bridgesOfNetwork).flat())) {
    if (!name.startsWith(PREFIX)) continue;
    const ports = await bridgePorts(name);
    if (ports !== undefined) bridges.push({ name, ports });
  }

  return {
    layout: l,
    records,
    unreadableRecords,
    podDirs,
    mounts,
    netns,
    containers: [...containers.values()],
    attachments,
    staleCacheTemps,
    ipam,
    nat,
    logDirs: await dirsIn(l.logDir),
    bridges,
    networkNames: [...networkNames],
    bridgesInUse,
    bridgesOfNetwork,
  };
}
