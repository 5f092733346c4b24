/**
 * The pod's QoS class and the OOM score adjustment the kubelet gives each container
 * (kubernetes pkg/apis/core/v1/helper/qos, pkg/kubelet/qos/policy.go): Guaranteed apps are
 * the last the kernel kills, BestEffort the first, Burstable in between by memory request.
 */
import type { Container, Pod } from '../api/pod.js';
import { parseQuantity } from './quantity.js';
import { podLevelResources } from '../api/pod-resources.js';

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

export const GUARANTEED_OOM_SCORE_ADJ = -997;
export const BEST_EFFORT_OOM_SCORE_ADJ = 1000;

const QOS_RESOURCES = ['cpu', 'memory'] as const;

/** Requests default to limits where only a limit is given (as the API server defaults them). */
function requestsOf(c: Container): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of QOS_RESOURCES) {
    const q = c.resources?.requests?.[r] ?? c.resources?.limits?.[r];
    if (q !== undefined) out[r] = parseQuantity(q);
  }
  return out;
}

function limitsOf(c: Container): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of QOS_RESOURCES) {
    const q = c.resources?.limits?.[r];
    if (q !== undefined) out[r] = parseQuantity(q);
  }
  return out;
}

export function qosClass(pod: Pod): QosClass {
  // pod-level resources decide when they name cpu or memory (the kubelet's ComputePodQOS)
  const podLevel = podLevelResources(pod);
  if (podLevel && (Object.keys(podLevel.limits).length || Object.keys(podLevel.requests).length)) {
    const { limits, requests } = podLevel;
    if (![...Object.values(limits), ...Object.values(requests)].some((v) => v !== 0)) return 'BestEffort';
    return QOS_RESOURCES.every((r) => limits[r] !== undefined && requests[r] === limits[r]) ? 'Guaranteed' : 'Burstable';
  }
  const containers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  let anySet = false;
  let guaranteed = true;
  for (const c of containers) {
    const req = requestsOf(c);
    const lim = limitsOf(c);
    if (Object.values(req).some((v) => v !== 0) || Object.values(lim).some((v) => v !== 0)) anySet = true;
    for (const r of QOS_RESOURCES) {
      if (lim[r] === undefined || req[r] === undefined || lim[r] !== req[r]) guaranteed = false;
    }
  }
  if (!anySet) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/**
 * The kubelet's oom_score_adj for a container: -997 Guaranteed, 1000 BestEffort, Burstable
 * `1000 - 1000 * memoryRequest / machineMemory` kept within [2, 999] (so that Burstable is
 * always killed after BestEffort and before Guaranteed).
 */
export function oomScoreAdj(pod: Pod, container: Container, machineMemoryBytes: number): number {
  const qos = qosClass(pod);
  if (qos === 'Guaranteed') return GUARANTEED_OOM_SCORE_ADJ;
  if (qos === 'BestEffort') return BEST_EFFORT_OOM_SCORE_ADJ;
  const request = requestsOf(container).memory ?? 0;
  const adj = 1000 - Math.floor((1000 * request) / machineMemoryBytes);
  return Math.min(999, Math.max(2, adj));
}
