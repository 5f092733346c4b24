/**
 * A pod's CNI attachments: loopback first, then each network of the pod with its
 * capability arguments (CNI-07), the runtime parameters berth passes for them, and the
 * daemon's periodic CHECK with repair.
 */
import { BerthError, codeOf, errorMessage } from '../common/errors.js';
import type { Attachment } from '../state-machines/pod.machine.js';
import type { Logger } from '../common/logger.js';
import type { NetworkConfigList, RuntimeConf } from '../cni/types.js';
import { cachedConfigList, CniError, parseNetworkConfigList, versionAtLeast } from '../cni/index.js';
import { isKnownCniVersion } from '../cni/result.js';
import { podCapabilityArgs } from '../spec/cni-config.js';
import type { Host } from './host.js';
import { sandboxId } from './layout.js';
import type { PodEvent, PodRecord } from './records.js';

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
export function attachmentsOf(rec: Pick<PodRecord, 'pod' | 'networks'>): Array<{ list: NetworkConfigList; ifName: string; caps: Record<string, unknown> }> {
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
export async function checkPodAttachments(host: Host, rec: PodRecord, log: Logger, signal?: AbortSignal): Promise<PodEvent[]> {
  if (rec.pod.spec.hostNetwork || !rec.netns) return [];
  const events: PodEvent[] = [];
  for (const a of attachmentsOf(rec)) {
    const rt = runtimeConf(rec, rec.netns, a.ifName, a.caps);
    const cached = await host.cni.getCachedResult(a.list.name, rt.containerId, a.ifName);
    const list = (cached && cachedConfigList(cached)) || a.list;
    if (list.disableCheck || !isKnownCniVersion(list.cniVersion) || !versionAtLeast(list.cniVersion, '0.4.0')) continue;
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
        await host.cni.delNetworkList(list, rt).catch(() => undefined);
        throw err;
      }
      const ips = (result.ips ?? []).map((i) => i.address);
      rec.attachments = rec.attachments.map((x) => (x.network === list.name && x.interface === a.ifName ? { ...x, ips } : x));
      log.warn({ ...where, ips, event: 'cni.repaired' }, 'attachment repaired');
      events.push({ at: host.clock.now(), type: 'Warning', reason: 'NetworkRepaired', message: `CHECK failed (${why}); DEL + ADD done${ips.length ? `, ips ${ips.join(', ')}` : ''}`, ...where });
    } catch (err) {
      if (codeOf(err) === 'Canceled') throw err;
      log.error({ ...where, err, event: 'cni.repairFailed' }, 'attachment repair failed');
      events.push({ at: host.clock.now(), type: 'Warning', reason: 'NetworkRepairFailed', message: `CHECK failed (${why}); repair failed: ${errorMessage(err)}`, ...where });
    }
  }
  return events;
}


/**
 * ADD every attachment of the pod, loopback first (CNI-12: an attachment with a cached
 * result exists and is never ADDed again). `adopted`: the sandbox existed before this agent
 * touched it, so an attachment without a cached result may be half made: DEL it first. A DEL
 * follows a failed ADD. Returns the pod's network attachments (loopback left out).
 */
export async function attachAll(host: Host, rec: PodRecord, netns: string, adopted: boolean, log: Logger, signal?: AbortSignal): Promise<Attachment[]> {
  const attachments: Attachment[] = [];
  for (const a of attachmentsOf(rec)) {
    const rt = runtimeConf(rec, netns, a.ifName, a.caps);
    let result = (await host.cni.getCachedResult(a.list.name, rt.containerId, a.ifName))?.result;
    if (!result) {
      if (adopted) await host.cni.delNetworkList(a.list, rt, signal).catch(() => undefined);
      try {
        result = await host.cni.addNetworkList(a.list, rt, signal);
      } catch (err) {
        await host.cni.delNetworkList(a.list, rt).catch((e) => log.warn({ err: e, network: a.list.name }, 'cni del after failed add'));
        throw err;
      }
      log.info({ network: a.list.name, ifName: a.ifName, ips: result.ips?.map((i) => i.address) }, 'network attached');
    }
    if (a.ifName !== 'lo') attachments.push({ network: a.list.name, interface: a.ifName, ips: (result.ips ?? []).map((i) => i.address) });
  }
  return attachments;
}

/**
 * DEL every attachment in reverse, each with the config it was ADDed with (from the cache,
 * even if the Network changed since). Returns the errors; an attachment without a cached
 * result whose DEL fails is only logged: nothing is known to be attached (never ADDed, or
 * DELeted already), and some plugins (host-device, sbr 1.1.1) fail such a DEL, which must
 * not hold the pod forever.
 */
export async function detachAll(host: Host, rec: PodRecord, netns: string, log: Logger): Promise<unknown[]> {
  const errors: unknown[] = [];
  for (const a of attachmentsOf(rec).reverse()) {
    const rt = runtimeConf(rec, netns, a.ifName, a.caps);
    let cached;
    try {
      cached = await host.cni.getCachedResult(a.list.name, rt.containerId, a.ifName);
      await host.cni.delNetworkList((cached && cachedConfigList(cached)) || a.list, rt);
    } catch (err) {
      if (!cached && codeOf(err) !== 'Canceled') {
        log.warn({ network: a.list.name, interface: a.ifName, err }, 'cni del of an attachment without a cached result failed; nothing recorded to clean');
        continue;
      }
      errors.push(err);
    }
  }
  return errors;
}
