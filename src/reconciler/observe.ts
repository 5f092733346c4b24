/**
 * What the host shows about a pod now, for `status` and `describe` (observed, not
 * remembered): each app's runtime status, the netns handle, and the CNI cache's results for
 * the pod's attachments. Read-only: nothing is created or changed.
 */
import { errorMessage } from '../common/errors.js';
import { readJsonIfExists } from '../common/fs.js';
import type { InputReport } from './desired.js';
import type { AppStatus } from '../runtime/types.js';
import type { Attachment } from '../state-machines/pod.machine.js';
import { attachmentsOf } from './attachments.js';
import type { Host } from './host.js';
import { containerId, inputReportPath, netnsName, sandboxId } from './layout.js';
import { readRecords, type PodRecord } from './records.js';
import { readGateConditions } from './pod-conditions.js';
import { statusRows, type GateConditions, type ObservedNetwork, type PodStatusRow } from './status.js';

export interface PodObservation {
  live: Record<string, AppStatus>;
  net: ObservedNetwork;
  /** the readiness gates' conditions (berth condition) */
  gates: GateConditions;
}

/** The apps' runtime status by app name. */
export async function observeApps(host: Pick<Host, 'runtime'>, rec: PodRecord): Promise<Record<string, AppStatus>> {
  const live: Record<string, AppStatus> = {};
  for (const c of [...(rec.pod.spec.initContainers ?? []), ...rec.pod.spec.containers])
    live[c.name] = await host.runtime.status(containerId(rec.uid, c.name));
  return live;
}

/**
 * The pod's network on the host: the netns handle if it exists (null when it is gone: then
 * no address is shown, whatever the cache says) and, per network of the pod, the addresses
 * of the CNI cache's result (none when the attachment has no cached result).
 */
export async function observeNetwork(host: Pick<Host, 'cni' | 'netns' | 'log'>, rec: PodRecord): Promise<ObservedNetwork> {
  if (rec.pod.spec.hostNetwork) return { netns: null, attachments: [] };
  const name = netnsName(rec.uid);
  const exists = await host.netns.exists(name);
  let lists: Array<{ network: string; interface: string }>;
  try {
    lists = attachmentsOf(rec)
      .filter((a) => a.ifName !== 'lo')
      .map((a) => ({ network: a.list.name, interface: a.ifName }));
  } catch (err) {
    host.log.warn({ pod: rec.uid, err: errorMessage(err) }, 'pod record has an unreadable network list');
    lists = rec.attachments.map((a) => ({ network: a.network, interface: a.interface }));
  }
  const attachments: Attachment[] = [];
  for (const l of lists) {
    // status shows no address for an attachment whose cache entry cannot be read; CHECK (attachments.ts) repairs it
    const cached = exists ? await host.cni.getCachedResult(l.network, sandboxId(rec.uid), l.interface).catch(() => undefined) : undefined;
    attachments.push({ ...l, ips: (cached?.result.ips ?? []).map((i) => i.address) });
  }
  return { netns: exists ? host.netns.path(name) : null, attachments };
}

export async function observePod(
  host: Pick<Host, 'runtime' | 'cni' | 'netns' | 'log' | 'layout'>,
  rec: PodRecord,
): Promise<PodObservation> {
  const [live, net, gates] = await Promise.all([
    observeApps(host, rec),
    observeNetwork(host, rec),
    readGateConditions(host.layout, rec.uid),
  ]);
  return { live, net, gates };
}

/**
 * Status as `berth status` shows it from outside the agent: pod records and the last input
 * report, with every app's state, the netns handle and the CNI cache read back from the
 * host now (observePod); the record adds only what the host cannot tell.
 */
export async function collectStatus(host: Host): Promise<PodStatusRow[]> {
  const report = await readJsonIfExists<InputReport>(inputReportPath(host.layout));
  const pods = [];
  const { records, held } = await readRecords(host.layout);
  for (const rec of records) pods.push({ rec, ...(await observePod(host, rec)) });
  return statusRows(pods, report?.issues ?? [], report?.conflicts ?? [], report?.loaded, held);
}
