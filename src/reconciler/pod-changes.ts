/**
 * Smallest change (issue 13 item 2): what of a pod spec is the pod's and what is one app's.
 * The pod's uid is derived from the pod-level part only, so a change confined to one regular
 * container's own fields (image, command, args, env, resources within the QoS class, probes,
 * lifecycle, ports without a host port…) keeps the pod and restarts that app; anything else —
 * metadata, volumes, networks, hostNetwork, init containers and sidecars, the pod's security
 * context, the set and order of containers, a container's host ports (CNI port mappings are
 * made with the sandbox), the pod's QoS class — is a new pod.
 */
import type { Container, ContainerPort, Pod } from '../api/pod.js';
import { canonicalJson, specHash } from '../api/index.js';
import { qosClass } from '../runtime/qos.js';

/** What identifies the pod beyond its key: the spec with each regular container reduced to its pod-level fields. */
export function podLevelHash(pod: Pod): string {
  const containers = pod.spec.containers.map((c) => ({
    name: c.name,
    hostPorts: (c.ports ?? []).filter((p: ContainerPort) => p.hostPort !== undefined),
  }));
  return specHash({ ...pod, spec: { ...pod.spec, containers }, qosClass: qosClass(pod) });
}

/** The hash of one container's spec: what its running execution was started from (AppRecord.specHash). */
export const containerSpecHash = (c: Container): string => specHash(c);

export interface AppChange {
  name: string;
  /** the container's top-level fields that differ (image, env, …), for the plan */
  fields: string[];
}

/** Regular containers of `next` whose spec differs from the same-named one in `prev`. */
export function changedApps(prev: Pod, next: Pod): AppChange[] {
  const out: AppChange[] = [];
  for (const c of next.spec.containers) {
    const old = prev.spec.containers.find((o) => o.name === c.name);
    if (!old || containerSpecHash(old) === containerSpecHash(c)) continue;
    out.push({ name: c.name, fields: differingKeys(old, c) });
  }
  return out;
}

/** The top-level keys whose values differ between two objects, sorted. */
function differingKeys(a: object, b: object): string[] {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  return [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((k) => canonicalJson(x[k]) !== canonicalJson(y[k])).sort();
}

/** The pod-level fields that differ between two specs (`metadata.labels`, `spec.volumes`, …), for the plan. */
export function changedPodFields(prev: Pod, next: Pod): string[] {
  const out = [
    ...differingKeys(prev.metadata, next.metadata).map((k) => `metadata.${k}`),
    ...differingKeys(prev.spec, next.spec)
      .filter((k) => k !== 'containers')
      .map((k) => `spec.${k}`),
  ];
  const names = (p: Pod) => p.spec.containers.map((c) => c.name).join(',');
  if (names(prev) !== names(next)) out.push('spec.containers (names or order)');
  else {
    for (const c of next.spec.containers) {
      const old = prev.spec.containers.find((o) => o.name === c.name)!;
      const hostPorts = (x: Container) => canonicalJson((x.ports ?? []).filter((p) => p.hostPort !== undefined));
      if (hostPorts(old) !== hostPorts(c)) out.push(`containers[${c.name}].ports (host ports)`);
    }
  }
  if (qosClass(prev) !== qosClass(next)) out.push(`QoS class ${qosClass(prev)} → ${qosClass(next)}`);
  return out;
}
