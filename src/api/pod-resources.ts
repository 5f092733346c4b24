/**
 * Pod-level resources (`spec.resources`, Kubernetes PodLevelResources, KEP-2837): the API
 * server's defaulting and checks, worded here (pkg/apis/core/validation
 * validatePodResourceConsistency, pkg/apis/core/v1/defaults defaultPodRequests):
 * - only cpu and memory; quantities ≥ 0; requests ≤ limits;
 * - pod requests not set default to the containers' aggregate request of that resource,
 *   else to the pod limit;
 * - the containers' aggregate requests ≤ the pod's requests; each container's limit ≤ the pod's.
 * The aggregate is the kubelet's effective request: the apps plus the sidecars, or an init
 * container plus the sidecars started before it, whichever is more.
 */
import type { FieldPath } from './path.js';
import type { Container, Pod } from './pod.js';
import { parseKubeQuantity } from './capability-args.js';

export const POD_LEVEL_RESOURCES = ['cpu', 'memory'] as const;
export type PodLevelResource = (typeof POD_LEVEL_RESOURCES)[number];

const value = (q: string | number): number => (typeof q === 'number' ? q : (parseKubeQuantity(q) ?? 0));
const isSidecar = (c: Container): boolean => (c as Container & { restartPolicy?: string }).restartPolicy === 'Always';
const requestOf = (c: Container, r: string): number | undefined => {
  const q = c.resources?.requests?.[r] ?? c.resources?.limits?.[r]; // a request defaults to the limit
  return q === undefined ? undefined : value(q);
};

/** The containers' aggregate request of each resource any container requests (the kubelet's AggregateContainerRequests). */
export function aggregateContainerRequests(pod: Pod): Partial<Record<PodLevelResource, number>> {
  const out: Partial<Record<PodLevelResource, number>> = {};
  for (const r of POD_LEVEL_RESOURCES) {
    let any = false;
    let sidecars = 0;
    let initPeak = 0;
    for (const c of pod.spec.initContainers ?? []) {
      const q = requestOf(c, r);
      if (q !== undefined) any = true;
      if (isSidecar(c)) sidecars += q ?? 0;
      else initPeak = Math.max(initPeak, sidecars + (q ?? 0));
    }
    let apps = 0;
    for (const c of pod.spec.containers) {
      const q = requestOf(c, r);
      if (q !== undefined) any = true;
      apps += q ?? 0;
    }
    if (any) out[r] = Math.max(apps + sidecars, initPeak);
  }
  return out;
}

/** The pod's cpu (cores) and memory (bytes) limits and requests after the API server's defaulting; undefined without spec.resources. */
export function podLevelResources(
  pod: Pod,
): { limits: Partial<Record<PodLevelResource, number>>; requests: Partial<Record<PodLevelResource, number>> } | undefined {
  const res = pod.spec.resources;
  if (!res) return undefined;
  const limits: Partial<Record<PodLevelResource, number>> = {};
  const requests: Partial<Record<PodLevelResource, number>> = {};
  const aggregate = Object.keys(res.limits ?? {}).length ? aggregateContainerRequests(pod) : {};
  for (const r of POD_LEVEL_RESOURCES) {
    const lim = res.limits?.[r];
    if (lim !== undefined) limits[r] = value(lim);
    const req = res.requests?.[r];
    if (req !== undefined) requests[r] = value(req);
    else if (lim !== undefined) requests[r] = aggregate[r] ?? value(lim);
  }
  return { limits, requests };
}

type ErrorFn = (path: FieldPath, message: string, atKey?: boolean) => void;

const show = (r: PodLevelResource, n: number): string => (r === 'cpu' ? `${Math.round(n * 1000)}m` : String(Math.round(n)));

/** The API server's checks of spec.resources (see the module comment). */
export function checkPodResources(pod: Pod, error: ErrorFn): void {
  const res = pod.spec.resources;
  if (!res) return;
  for (const kind of ['limits', 'requests'] as const) {
    for (const [name, q] of Object.entries(res[kind] ?? {})) {
      const path: FieldPath = ['spec', 'resources', kind, name];
      if (!(POD_LEVEL_RESOURCES as readonly string[]).includes(name)) {
        error(
          path,
          `"${name}" is not supported at pod level: the API server takes ${POD_LEVEL_RESOURCES.join(' and ')} (set ${name} per container)`,
          true,
        );
      } else if (value(q) < 0) error(path, 'must be greater than or equal to 0');
    }
  }
  const eff = podLevelResources(pod)!;
  for (const r of POD_LEVEL_RESOURCES) {
    const req = res.requests?.[r];
    const lim = res.limits?.[r];
    if (req !== undefined && lim !== undefined && value(req) > value(lim))
      error(['spec', 'resources', 'requests', r], `must be less than or equal to ${r} limit of ${lim}`);
  }
  const aggregate = aggregateContainerRequests(pod);
  for (const r of POD_LEVEL_RESOURCES) {
    const podReq = res.requests?.[r];
    const ctr = aggregate[r];
    if (podReq !== undefined && ctr !== undefined && ctr > value(podReq)) {
      error(['spec', 'resources', 'requests', r], `must be greater than or equal to aggregate container requests of ${show(r, ctr)}`);
    }
    // a defaulted pod request (from the aggregate) above the pod limit
    const lim = res.limits?.[r];
    if (podReq === undefined && lim !== undefined && (eff.requests[r] ?? 0) > value(lim)) {
      error(
        ['spec', 'resources', 'limits', r],
        `must be greater than or equal to aggregate container requests of ${show(r, eff.requests[r]!)}`,
      );
    }
  }
  for (const [list, containers] of [
    ['initContainers', pod.spec.initContainers ?? []],
    ['containers', pod.spec.containers],
  ] as const) {
    containers.forEach((c, ci) => {
      for (const r of POD_LEVEL_RESOURCES) {
        const ctrLim = c.resources?.limits?.[r];
        const podLim = res.limits?.[r];
        if (ctrLim !== undefined && podLim !== undefined && value(ctrLim) > value(podLim)) {
          error(['spec', list, ci, 'resources', 'limits', r], `must be less than or equal to pod limits of ${podLim}`);
        }
      }
    });
  }
}
