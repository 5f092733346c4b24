/**
 * `berth gc`, the find step (DESIGN.md §1, issue 13 item 9, issue 14 item 6): from what the
 * host shows and the pod records, the berth objects no pod owns. Pure: the scan
 * (orphan-scan.ts) observes, the apply step (orphan-apply.ts) removes.
 *
 * Ownership. A pod with a record owns everything named after its short id (netns
 * `berth-<id>`, containers `berth-<id>-<app>`, CNI container id `berth-<id>`) and its pod dir,
 * mounts, log dir; none of that is ever listed. A pod.json that exists but cannot be read
 * counts as a record (never guessed away).
 *
 * Attribution. Some host objects live in places several installations share (the netns dir,
 * the OCI runtimes' default roots, iptables, a shared IPAM dataDir): a name with the berth
 * prefix alone does not say which state dir made it. Such an object is taken only when this
 * state dir holds a trace of its pod (pod dir, log dir, CNI cache entry, monitor files, a
 * container bundle below `<state>/pods`, a reservation in `<state>/cni/networks`), or, for
 * masquerade rules and reservations, when its network is one this installation uses.
 */
import { join } from 'node:path';
import type { CachedAttachment } from '../cni/types.js';
import { PREFIX, podsDir, podShortId, sandboxId, type Layout } from './layout.js';
import type { PodRecord } from './records.js';

export interface ObservedContainer {
  id: string;
  /** the OCI runtime whose `list` shows it; undefined when only monitor files are left */
  runtime?: 'crun' | 'runc';
  /** the runtime's bundle path, when it reports one */
  bundle?: string;
  /** monitor files of this run dir (`<run>/containers/<id>`, `<run>/exits/<id>`) name it */
  monitor: boolean;
}

/** One host-local reservation: `<dataDir>/<network>/<ip>` holding the container id and interface. */
export interface IpamReservation {
  file: string;
  network: string;
  ip: string;
  containerId: string;
  ifName?: string;
  /** the dataDir is this state dir's own (`<state>/cni/networks`) */
  own: boolean;
}

export interface ObservedBridge {
  name: string;
  /** how many ports are plugged into it */
  ports: number;
}

/** What the scan saw. */
export interface ObservedHost {
  layout: Layout;
  records: PodRecord[];
  /** uids of pod dirs whose pod.json exists but cannot be read: treated as owned */
  unreadableRecords: string[];
  /** uids of the directories in `<state>/pods` */
  podDirs: string[];
  /** mount points at or below `<state>/pods` */
  mounts: string[];
  /** `berth-*` names in the netns dir */
  netns: string[];
  containers: ObservedContainer[];
  /** every entry of `<state>/cni/results` */
  attachments: CachedAttachment[];
  /** temporary files of interrupted cache writes older than the cache's safety age */
  staleCacheTemps: string[];
  ipam: IpamReservation[];
  /** `iptables-save -t nat` (4) and `ip6tables-save -t nat` (6); absent when not available */
  nat: Partial<Record<4 | 6, string>>;
  /** names in the log dir */
  logDirs: string[];
  /** existing berth-named bridges of networks this installation knows */
  bridges: ObservedBridge[];
  /** networks this installation uses: records, CNI cache, Network specs */
  networkNames: string[];
  /** bridge names of the networks in use by records, per network list */
  bridgesInUse: string[];
  /** bridge names of each network name (from the cache and the records) */
  bridgesOfNetwork: Record<string, string[]>;
}

export type Orphan =
  | { kind: 'container'; name: string; reason: string; runtime?: 'crun' | 'runc' }
  | { kind: 'cni-attachment'; name: string; reason: string; attachment: CachedAttachment }
  | { kind: 'iptables'; name: string; reason: string; family: 4 | 6; network: string; containerId: string; rule?: string }
  | { kind: 'netns'; name: string; reason: string }
  | { kind: 'ipam'; name: string; reason: string; file: string }
  | { kind: 'mount'; name: string; reason: string; uid: string }
  | { kind: 'pod-dir'; name: string; reason: string; uid: string }
  | { kind: 'log-dir'; name: string; reason: string; path: string }
  | { kind: 'cni-cache-temp'; name: string; reason: string }
  | { kind: 'bridge'; name: string; reason: string };

export type OrphanKind = Orphan['kind'];

/** The order the apply step works in: what uses a thing goes before the thing. */
export const KIND_ORDER: OrphanKind[] = [
  'container',
  'cni-attachment',
  'iptables',
  'netns',
  'ipam',
  'mount',
  'pod-dir',
  'log-dir',
  'cni-cache-temp',
  'bridge',
];

/** The pod short id in a berth object name (`berth-<12 hex>` or `berth-<12 hex>-…`). */
export function shortOfName(name: string): string | undefined {
  const m = new RegExp(`^${PREFIX}-([0-9a-f]{12})(?:-|$)`).exec(name);
  return m?.[1];
}

/** berth's pod uids are RFC 9562 version 8 (podUid); kubelet's (v4) in a shared log dir never match. */
const BERTH_UID = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The uid of a log dir `<ns>_<name>_<uid>`. */
export function uidOfLogDir(name: string): string | undefined {
  const uid = name.slice(name.lastIndexOf('_') + 1);
  return name.includes('_') && BERTH_UID.test(uid) ? uid : undefined;
}

/** The pod uid of a path below `<state>/pods/<uid>/…`. */
function uidBelowPods(l: Layout, p: string): string | undefined {
  const root = `${podsDir(l)}/`;
  if (!p.startsWith(root)) return undefined;
  const uid = p.slice(root.length).split('/')[0];
  return uid || undefined;
}

/** `--comment "name: \"N\" id: \"C\""` as iptables-save writes the plugins' masquerade comment. */
const MASQ_COMMENT = /--comment "name: \\"((?:[^"\\]|\\.)*)\\" id: \\"((?:[^"\\]|\\.)*)\\""/;

/** Masquerade rules in a nat table dump: `-A` lines with the plugins' comment. */
export function masqRules(save: string): Array<{ chain: string; rule: string; network: string; containerId: string; source?: string }> {
  const out = [];
  let inNat = false;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) inNat = line === '*nat';
    if (!inNat) continue;
    const a = /^-A (\S+) /.exec(line);
    const m = a && MASQ_COMMENT.exec(line);
    if (!a || !m) continue;
    const src = /(?:^| )-s (\S+)/.exec(line)?.[1];
    out.push({
      chain: a[1]!,
      rule: line,
      network: m[1]!.replace(/\\(.)/g, '$1'),
      containerId: m[2]!.replace(/\\(.)/g, '$1'),
      ...(src ? { source: src } : {}),
    });
  }
  return out;
}

const bare = (a: string) => a.split('/')[0]!.toLowerCase();

/** Every orphan, in apply order. */
export function findOrphans(h: ObservedHost): Orphan[] {
  const l = h.layout;
  const liveUids = new Set([...h.records.map((r) => r.uid), ...h.unreadableRecords]);
  const live = new Set([...liveUids].map(podShortId));
  const liveSandbox = new Set([...live].map((s) => `${PREFIX}-${s}`));
  const ourNetworks = new Set(h.networkNames);
  const out: Orphan[] = [];

  // Traces of pods in this state dir (see Attribution above).
  const traced = new Set<string>();
  for (const uid of h.podDirs) traced.add(podShortId(uid));
  for (const n of h.logDirs) {
    const uid = uidOfLogDir(n);
    if (uid) traced.add(podShortId(uid));
  }
  for (const a of h.attachments) {
    const s = shortOfName(a.containerId);
    if (s) traced.add(s);
  }
  const ownBundle = (c: ObservedContainer) => c.bundle !== undefined && uidBelowPods(l, c.bundle) !== undefined;
  for (const c of h.containers) {
    const s = shortOfName(c.id);
    if (s && (c.monitor || ownBundle(c))) traced.add(s);
  }
  for (const r of h.ipam) {
    const s = shortOfName(r.containerId);
    if (s && r.own) traced.add(s);
  }

  // Runtime containers and monitor files.
  for (const c of h.containers) {
    const s = shortOfName(c.id);
    if (!s || live.has(s)) continue;
    const bundleUid = c.bundle !== undefined ? uidBelowPods(l, c.bundle) : undefined;
    if (bundleUid !== undefined && liveUids.has(bundleUid)) continue;
    if (!c.monitor && bundleUid === undefined) continue; // another installation's, or not ours to say
    const where = c.runtime ? `${c.runtime} container` : 'monitor files only';
    out.push({ kind: 'container', name: c.id, reason: `${where}; pod ${s} has no record`, ...(c.runtime ? { runtime: c.runtime } : {}) });
  }

  // CNI attachments in the cache (the cache is this state dir's: every entry is ours).
  const valid = new Set(
    h.records.flatMap((r) => [`${sandboxId(r.uid)}/lo`, ...r.networks.map((n) => `${sandboxId(r.uid)}/${n.interface}`)]),
  );
  const ownedAttachment = (a: CachedAttachment) =>
    valid.has(`${a.containerId}/${a.ifName}`) || (shortOfName(a.containerId) !== undefined && live.has(shortOfName(a.containerId)!));
  const orphanCids = new Set<string>();
  for (const a of h.attachments) {
    if (ownedAttachment(a)) continue;
    orphanCids.add(a.containerId);
    const ips = (a.result.ips ?? []).map((i) => i.address);
    out.push({
      kind: 'cni-attachment',
      name: `${a.networkName}-${a.containerId}-${a.ifName}`,
      reason: `no pod record owns container ${a.containerId} ${a.ifName}${ips.length ? ` (${ips.join(', ')})` : ''}`,
      attachment: a,
    });
  }

  // Masquerade rules (bridge/ptp ipMasq), both families.
  const podIps = new Map<string, Set<string>>(); // `${network}/${cid}` → addresses the pod has
  const addIp = (k: string, a: string) => podIps.set(k, (podIps.get(k) ?? new Set()).add(bare(a)));
  for (const r of h.records) for (const at of r.attachments ?? []) for (const ip of at.ips) addIp(`${at.network}/${sandboxId(r.uid)}`, ip);
  for (const a of h.attachments) for (const ip of a.result.ips ?? []) addIp(`${a.networkName}/${a.containerId}`, ip.address);
  for (const family of [4, 6] as const) {
    const save = h.nat[family];
    if (save === undefined) continue;
    const seen = new Set<string>();
    for (const m of masqRules(save)) {
      const s = shortOfName(m.containerId);
      if (!s) continue;
      if (liveSandbox.has(m.containerId)) {
        // A pod with a record: a POSTROUTING rule for an address it does not have is the
        // leftover of a second ADD (two agents on one state dir, issue 14 item 6).
        const have = podIps.get(`${m.network}/${m.containerId}`);
        if (m.chain !== 'POSTROUTING' || !m.source || !have || have.has(bare(m.source))) continue;
        out.push({
          kind: 'iptables',
          name: `${family === 4 ? 'iptables' : 'ip6tables'} -t nat ${m.rule}`,
          reason: `masquerade rule for ${bare(m.source)}, an address pod ${s} does not have (a second ADD)`,
          family,
          network: m.network,
          containerId: m.containerId,
          rule: m.rule,
        });
        continue;
      }
      if (!traced.has(s) && !ourNetworks.has(m.network)) continue;
      const k = `${m.network}/${m.containerId}`;
      if (seen.has(k)) continue;
      seen.add(k);
      out.push({
        kind: 'iptables',
        name: `${family === 4 ? 'iptables' : 'ip6tables'} nat ${k}`,
        reason: `masquerade rules and chain of container ${m.containerId} on ${m.network}: no pod record owns it`,
        family,
        network: m.network,
        containerId: m.containerId,
      });
    }
  }

  // Network namespaces.
  for (const n of h.netns) {
    const s = shortOfName(n);
    if (!s || n !== `${PREFIX}-${s}` || live.has(s) || !traced.has(s)) continue;
    out.push({ kind: 'netns', name: n, reason: `pod ${s} has no record` });
  }

  // host-local reservations.
  const ownedCids = new Set([...liveSandbox, ...h.attachments.filter(ownedAttachment).map((a) => a.containerId)]);
  for (const r of h.ipam) {
    const s = shortOfName(r.containerId);
    if (!s) continue;
    if (liveSandbox.has(r.containerId)) {
      // A pod with a record: a reservation of an address it does not have on that network is
      // a second ADD's (two agents on one state dir, issue 14 item 6).
      const have = podIps.get(`${r.network}/${r.containerId}`);
      if (!have || have.has(bare(r.ip))) continue;
      out.push({
        kind: 'ipam',
        name: r.file,
        reason: `${r.ip} on ${r.network} is reserved for ${r.containerId}, which does not have it (a second ADD)`,
        file: r.file,
      });
      continue;
    }
    if (ownedCids.has(r.containerId)) continue;
    if (!r.own && !traced.has(s) && !ourNetworks.has(r.network)) continue;
    out.push({
      kind: 'ipam',
      name: r.file,
      reason: `${r.ip} on ${r.network} is reserved for ${r.containerId}${orphanCids.has(r.containerId) ? ', an orphan attachment' : ', which no attachment owns'}`,
      file: r.file,
    });
  }

  // Mounts and pod dirs.
  for (const m of h.mounts) {
    const uid = uidBelowPods(l, m);
    if (!uid || liveUids.has(uid)) continue;
    out.push({ kind: 'mount', name: m, reason: `below the dir of pod ${uid}, which has no record`, uid });
  }
  for (const uid of h.podDirs) {
    if (liveUids.has(uid)) continue;
    out.push({ kind: 'pod-dir', name: join(podsDir(l), uid), reason: 'no pod record (pod.json) in it', uid });
  }

  // Log dirs.
  for (const n of h.logDirs) {
    const uid = uidOfLogDir(n);
    if (!uid || liveUids.has(uid)) continue;
    out.push({ kind: 'log-dir', name: join(l.logDir, n), reason: `pod ${uid} has no record`, path: join(l.logDir, n) });
  }

  for (const n of h.staleCacheTemps)
    out.push({ kind: 'cni-cache-temp', name: n, reason: 'temporary file of an interrupted CNI cache write' });

  // Bridges no network in use needs.
  const used = new Set(h.bridgesInUse);
  const orphanBridges = new Set(
    out.flatMap((o) => (o.kind === 'cni-attachment' ? (h.bridgesOfNetwork[o.attachment.networkName] ?? []) : [])),
  );
  for (const b of h.bridges) {
    if (!b.name.startsWith(PREFIX) || used.has(b.name)) continue;
    if (b.ports > 0 && !orphanBridges.has(b.name)) continue;
    out.push({
      kind: 'bridge',
      name: b.name,
      reason: b.ports ? 'no pod record uses it (removed once its orphan ports are gone)' : 'no pod record uses it; nothing is plugged in',
    });
  }

  return out.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));
}
