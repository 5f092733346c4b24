/**
 * A pod's CNI attachments: loopback, and each network of the pod with its capability
 * arguments (CNI-07), the runtime parameters berth passes for them, and the daemon's
 * periodic CHECK with repair.
 */
import { BerthError, codeOf, errorMessage } from '../common/errors.js';
import { pathExists } from '../common/fs.js';
import type { Attachment } from '../state-machines/pod.machine.js';
import type { Logger } from '../common/logger.js';
import type { CachedAttachment, CniResult, NetworkConfigList, RuntimeConf } from '../cni/types.js';
import { cachedConfigList, CniError, parseNetworkConfigList, versionAtLeast } from '../cni/index.js';
import { isKnownCniVersion } from '../cni/result.js';
import { podCapabilityArgs } from '../api/capability-args.js';
import type { Host } from './host.js';
import { netnsName, sandboxId } from './layout.js';
import type { RecordedEvent, PodRecord } from './records.js';

/** The loopback attachment every pod sandbox gets before its networks (as CRI runtimes do). */
export const LOOPBACK_LIST = JSON.stringify({ cniVersion: '1.0.0', name: 'berth-loopback', plugins: [{ type: 'loopback' }] });

function cniArgs(rec: PodRecord): Array<[string, string]> {
  return [
    ['K8S_POD_NAMESPACE', rec.namespace],
    ['K8S_POD_NAME', rec.name],
    ['K8S_POD_INFRA_CONTAINER_ID', sandboxId(rec.uid)],
    ['K8S_POD_UID', rec.uid],
  ];
}

export function runtimeConf(rec: PodRecord, netns: string, ifName: string, capabilityArgs: Record<string, unknown>): RuntimeConf {
  return { containerId: sandboxId(rec.uid), netns, ifName, args: cniArgs(rec), capabilityArgs };
}

/**
 * The network lists of a pod, loopback first, with their capability arguments (CNI-07:
 * portMappings and bandwidth on the first network, ips/mac from the networks annotation,
 * dns from spec.dnsConfig; see podCapabilityArgs).
 */
export function attachmentsOf(
  rec: Pick<PodRecord, 'pod' | 'networks'>,
): Array<{ list: NetworkConfigList; ifName: string; caps: Record<string, unknown> }> {
  const out = [{ list: parseNetworkConfigList(LOOPBACK_LIST), ifName: 'lo', caps: {} as Record<string, unknown> }];
  rec.networks.forEach((n, index) => {
    out.push({ list: parseNetworkConfigList(n.conflist), ifName: n.interface, caps: podCapabilityArgs({ pod: rec.pod, ref: n, index }) });
  });
  return out;
}

/**
 * portmap 1.1.1's CHECK looks at ip6tables even for an IPv4-only attachment and fails with
 * "could not check ipv6 dnat" (code 999) on this host's iptables-nft, every time (reproduced
 * with the plugin alone). Treating that as a failure would repair healthy pods on every round,
 * so for an attachment without an IPv6 address berth checks the list again without portmap
 * (the other plugins still get their CHECK; portmap's IPv4 rules go unchecked).
 */
function isPortmapIpv6CheckBug(err: unknown, result: { ips?: Array<{ address: string }> }): boolean {
  if (!(err instanceof CniError) || err.plugin !== 'portmap' || err.verb !== 'CHECK') return false;
  if (!/ipv6/i.test(err.msg)) return false;
  return !(result.ips ?? []).some((ip) => ip.address.includes(':'));
}

/**
 * Periodic CHECK of a running pod's attachments (daemon mode, CNI-14): every attachment whose
 * list is ≥0.4.0 and not `disableCheck` is CHECKed with the config it was ADDed with and the
 * same runtime parameters. A failed CHECK (or a cache entry gone) repairs the attachment: DEL,
 * then ADD again (a DEL follows a failed ADD too). Returns one event per repair attempt;
 * healthy pods give none and are not touched.
 */
export async function checkPodAttachments(
  host: Host,
  rec: PodRecord,
  log: Logger,
  signal?: AbortSignal,
  opts: { full?: boolean } = {},
): Promise<RecordedEvent[]> {
  if (rec.pod.spec.hostNetwork || !rec.netns) return [];
  const events: RecordedEvent[] = [];
  for (const a of attachmentsOf(rec)) {
    const rt = runtimeConf(rec, rec.netns, a.ifName, a.caps);
    const cached = await host.cni.getCachedResult(a.list.name, rt.containerId, a.ifName);
    const list = (cached && cachedConfigList(cached)) || a.list;
    if (list.disableCheck || !isKnownCniVersion(list.cniVersion) || !versionAtLeast(list.cniVersion, '0.4.0')) continue;
    // between two plugin CHECKs of the pod, only its host side is looked at (no plugin run)
    if (opts.full === false && cached && (await hostSideIntact(cached.result))) continue;
    let failure: unknown;
    if (!cached) {
      failure = new BerthError('NotFound', 'the attachment has no cached result');
    } else {
      try {
        await host.cni.checkNetworkList(list, rt, signal);
      } catch (err) {
        failure = err;
        if (isPortmapIpv6CheckBug(err, cached.result)) {
          failure = undefined;
          const rest = list.plugins.filter((p) => p.type !== 'portmap');
          if (rest.length) await host.cni.checkNetworkList({ ...list, plugins: rest }, rt, signal).catch((e: unknown) => (failure = e));
        }
      }
    }
    if (failure === undefined) continue;
    if (codeOf(failure) === 'Canceled') throw failure;
    const why = errorMessage(failure);
    const where = { network: list.name, interface: a.ifName };
    log.warn({ ...where, err: failure, event: 'cni.checkFailed' }, 'cni check failed: repairing the attachment');
    try {
      await host.cni.delNetworkList(list, rt, signal);
      let result;
      try {
        result = await host.cni.addNetworkList(list, rt, signal);
      } catch (err) {
        await host.cni.delNetworkList(list, rt).catch(() => undefined); // best-effort undo; the ADD's error is the one to report
        throw err;
      }
      const ips = (result.ips ?? []).map((i) => i.address);
      rec.attachments = rec.attachments.map((x) => (x.network === list.name && x.interface === a.ifName ? { ...x, ips } : x));
      log.warn({ ...where, ips, event: 'cni.repaired' }, 'attachment repaired');
      events.push({
        at: host.clock.now(),
        type: 'Warning',
        reason: 'NetworkRepaired',
        message: `CHECK failed (${why}); DEL + ADD done${ips.length ? `, ips ${ips.join(', ')}` : ''}`,
        ...where,
      });
    } catch (err) {
      if (codeOf(err) === 'Canceled') throw err;
      log.error({ ...where, err, event: 'cni.repairFailed' }, 'attachment repair failed');
      events.push({
        at: host.clock.now(),
        type: 'Warning',
        reason: 'NetworkRepairFailed',
        message: `CHECK failed (${why}); repair failed: ${errorMessage(err)}`,
        ...where,
      });
    }
  }
  return events;
}

/**
 * The daemon's check round runs the plugins' CHECK of a pod at its first round and every
 * FULL_CHECK_EVERY-th after (with `--cni-check 60s`: every 10 minutes); the rounds between
 * look only at the host side of its attachments (hostSideIntact), which shows a deleted veth
 * or bridge without running a plugin. Four plugin runs per pod and round cost an idle agent
 * with 100 pods about a tenth of a core (bench/daemon.mjs, issue 11).
 */
export const FULL_CHECK_EVERY = 10;

/**
 * Every interface outside the pod's namespace that the result names (a bridge, a veth's host
 * end) is there: a look at /sys/class/net. A name that could not be a link name counts as gone.
 */
export async function hostSideIntact(result: CniResult): Promise<boolean> {
  for (const i of result.interfaces ?? []) {
    if (i.sandbox) continue;
    if (!/^[^/\0\s]{1,15}$/.test(i.name) || i.name === '.' || i.name === '..') return false;
    if (!(await pathExists(`/sys/class/net/${i.name}`))) return false;
  }
  return true;
}

/**
 * Why an attachment with a cached result cannot be kept (undefined: it can). A namespace made
 * just now (after a reboot, or after someone deleted it) holds nothing the cache names: the
 * result, its IPAM reservation and the host's rules for it are stale. In an adopted namespace,
 * the interface the result names, or one of its addresses, may be gone (a deleted veth).
 * `present` is what the namespace holds, undefined when it could not be looked at.
 */
export function staleReason(
  adopted: boolean,
  present: Record<string, string[]> | undefined,
  ifName: string,
  result: CniResult,
): string | undefined {
  if (!adopted) return 'the network namespace was created anew';
  if (!present) return undefined;
  const have = present[ifName];
  if (!have) return `interface ${ifName} is missing from the network namespace`;
  const bare = (a: string) => a.split('/')[0]!.toLowerCase();
  const want = (result.ips ?? [])
    .filter((ip) => ip.interface === undefined || result.interfaces?.[ip.interface]?.name === ifName)
    .map((ip) => ip.address)
    // a pod's sysctls may turn IPv6 off after the loopback ADD reported ::1: not a lost lo
    .filter((a) => ifName !== 'lo' || !a.includes(':'));
  const missing = want.filter((w) => !have.some((h) => bare(h) === bare(w)));
  return missing.length ? `address ${missing.join(', ')} is missing from ${ifName}` : undefined;
}

/**
 * DEL a stale attachment with the config it was ADDed with: the plugins release its IPAM
 * reservation and host rules (CniRuntime removes masquerade rules the bridge plugin cannot
 * find once the interface is gone). Should that DEL fail and the network have changed since,
 * the current config is tried. An attachment that cannot be released is an error (the cache
 * entry stays and a new ADD could not run over it); the pod's setup is retried.
 */
async function releaseStale(
  host: Host,
  list: NetworkConfigList,
  cached: CachedAttachment,
  rt: RuntimeConf,
  why: string,
  log: Logger,
  signal?: AbortSignal,
): Promise<void> {
  const where = { network: list.name, interface: rt.ifName, ips: (cached.result.ips ?? []).map((i) => i.address) };
  log.warn({ ...where, reason: why, event: 'cni.staleAttachment' }, 'cached attachment is stale: DEL from the cache, then ADD');
  let cachedList: NetworkConfigList | undefined;
  try {
    cachedList = cachedConfigList(cached);
  } catch (err) {
    log.warn({ ...where, err }, 'cached config of the attachment is unreadable; deleting with the current one');
  }
  let failure: unknown;
  for (const l of cachedList && cachedList.bytes !== list.bytes ? [cachedList, list] : [cachedList ?? list]) {
    try {
      await host.cni.delNetworkList(l, rt, signal);
      return;
    } catch (err) {
      if (codeOf(err) === 'Canceled') throw err;
      log.warn({ ...where, err, config: l === list ? 'current' : 'cached' }, 'cni del of the stale attachment failed');
      failure = err;
    }
  }
  throw new BerthError(
    codeOf(failure) ?? 'Unavailable',
    `stale attachment ${list.name}/${rt.ifName} (${why}) could not be released: ${errorMessage(failure)}`,
    { cause: failure },
  );
}

/**
 * ADD every attachment of the pod. An attachment with a cached result is kept as it is
 * (CNI-12: never ADDed again) while it is really there: in a namespace that was just created,
 * or in an adopted one that lacks its interface or address, it is stale and gets DEL from the
 * cache, then a fresh ADD (issue 14 item 1). `adopted`: the sandbox existed before this agent
 * touched it, so an attachment without a cached result may be half made: DEL it first. A DEL
 * follows a failed ADD. Loopback runs beside the pod's networks, which go one after the other
 * in spec order (as go-cni attaches a sandbox's networks side by side: each list is its own
 * attachment, and its plugins still run in order); both are waited for, then the first
 * failure is thrown. Returns the pod's network attachments (loopback left out).
 */
export async function attachAll(
  host: Host,
  rec: PodRecord,
  netns: string,
  adopted: boolean,
  log: Logger,
  signal?: AbortSignal,
): Promise<Attachment[]> {
  let present: Record<string, string[]> | undefined;
  if (adopted) {
    present = await host.netns.addresses(netnsName(rec.uid)).catch((err: unknown) => {
      log.warn({ err }, 'could not list the addresses in the adopted network namespace; keeping its cached attachments');
      return undefined;
    });
  }
  const attachOne = async (a: ReturnType<typeof attachmentsOf>[number]): Promise<CniResult> => {
    const rt = runtimeConf(rec, netns, a.ifName, a.caps);
    const cached = await host.cni.getCachedResult(a.list.name, rt.containerId, a.ifName);
    let result = cached?.result;
    const why = cached && staleReason(adopted, present, a.ifName, cached.result);
    if (cached && why) {
      await releaseStale(host, a.list, cached, rt, why, log, signal);
      result = undefined;
    }
    if (!result) {
      // clears a half-made attachment before ADD; DEL of nothing may fail, and ADD says what matters
      if (adopted && !cached) await host.cni.delNetworkList(a.list, rt, signal).catch(() => undefined);
      try {
        result = await host.cni.addNetworkList(a.list, rt, signal);
      } catch (err) {
        await host.cni.delNetworkList(a.list, rt).catch((e) => log.warn({ err: e, network: a.list.name }, 'cni del after failed add'));
        throw err;
      }
      log.info({ network: a.list.name, ifName: a.ifName, ips: result.ips?.map((i) => i.address) }, 'network attached');
    }
    return result;
  };
  const [loopback, ...networks] = attachmentsOf(rec);
  const attachments: Attachment[] = [];
  const [lo, rest] = await Promise.allSettled([
    attachOne(loopback!),
    (async () => {
      for (const a of networks) {
        const result = await attachOne(a);
        attachments.push({ network: a.list.name, interface: a.ifName, ips: (result.ips ?? []).map((i) => i.address) });
      }
    })(),
  ]);
  for (const r of [lo, rest]) if (r.status === 'rejected') throw r.reason;
  return attachments;
}

/**
 * DEL every attachment, each with the config it was ADDed with (from the cache, even if the
 * Network changed since): the pod's networks in reverse, loopback beside them (attachAll).
 * Returns the errors; an attachment without a cached result whose DEL fails is only logged:
 * nothing is known to be attached (never ADDed, or DELeted already), and some plugins
 * (host-device, sbr 1.1.1) fail such a DEL, which must not hold the pod forever.
 */
export async function detachAll(host: Host, rec: PodRecord, netns: string, log: Logger): Promise<unknown[]> {
  const errors: unknown[] = [];
  const detachOne = async (a: ReturnType<typeof attachmentsOf>[number]): Promise<void> => {
    const rt = runtimeConf(rec, netns, a.ifName, a.caps);
    let cached;
    try {
      cached = await host.cni.getCachedResult(a.list.name, rt.containerId, a.ifName);
      await host.cni.delNetworkList((cached && cachedConfigList(cached)) || a.list, rt);
    } catch (err) {
      if (!cached && codeOf(err) !== 'Canceled') {
        log.warn(
          { network: a.list.name, interface: a.ifName, err },
          'cni del of an attachment without a cached result failed; nothing recorded to clean',
        );
        return;
      }
      errors.push(err);
    }
  };
  const [loopback, ...networks] = attachmentsOf(rec);
  await Promise.all([
    detachOne(loopback!),
    (async () => {
      for (const a of networks.reverse()) await detachOne(a);
    })(),
  ]);
  return errors;
}
