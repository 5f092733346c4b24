/**
 * The capability arguments berth offers a pod's CNI attachments (CNI-07, CONVENTIONS.md):
 * port mappings, bandwidth, ips, mac, dns.
 */
import { quantityValue } from './quantity.js';

export const INGRESS_BANDWIDTH_ANNOTATION = 'kubernetes.io/ingress-bandwidth';
export const EGRESS_BANDWIDTH_ANNOTATION = 'kubernetes.io/egress-bandwidth';
/** The kubelet's bounds for the bandwidth annotations (1k … 1P bits per second). */
const MIN_BANDWIDTH = 1e3;
const MAX_BANDWIDTH = 1e15;

/**
 * A Kubernetes quantity as a number (`10M` = 10e6, `1Mi` = 2^20, `500m` = 0.5), or undefined
 * when it is not one.
 */
export function parseKubeQuantity(q: string): number | undefined {
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$/.exec(q.trim());
  if (!m) return undefined;
  return quantityValue(Number(m[1]), m[2] ?? '');
}

/** The bandwidth annotation's value in bits per second, or an error text. */
export function parseBandwidth(value: string): { bps: number } | { error: string } {
  const n = parseKubeQuantity(value);
  if (n === undefined) return { error: `"${value}" is not a quantity (bits per second, e.g. 10M or 500k)` };
  if (n < MIN_BANDWIDTH) return { error: `${value} is below the minimum of 1k (bits per second)` };
  if (n > MAX_BANDWIDTH) return { error: `${value} is above the maximum of 1P (bits per second)` };
  return { bps: Math.round(n) };
}

/**
 * A token bucket's burst for a rate, in bits: an eighth of a second at that rate, at least
 * 64 KiB, so that one full-size packet always fits. (The annotations carry no burst; containerd
 * sends MaxUint32, which overflows the bandwidth plugin's tbf buffer at low rates.)
 */
export function bandwidthBurst(bps: number): number {
  return Math.max(Math.ceil(bps / 8), 64 * 1024 * 8);
}

export interface PodCapabilityInput {
  pod: {
    metadata: { annotations?: Record<string, string> | undefined };
    spec: {
      containers: Array<{
        ports?: Array<{ containerPort: number; hostPort?: number | undefined; hostIP?: string | undefined; protocol: string }> | undefined;
      }>;
      dnsConfig?:
        | {
            nameservers?: string[] | undefined;
            searches?: string[] | undefined;
            options?: Array<{ name: string; value?: string | undefined }> | undefined;
          }
        | undefined;
    };
  };
  /** the network's entry in the networks annotation (ips, mac) */
  ref: { ips?: string[] | undefined; mac?: string | undefined };
  /** 0 for the pod's first (primary) network */
  index: number;
}

/**
 * The capability arguments berth offers a pod's attachment; each plugin gets the ones it
 * declares in `capabilities` (CNI-07). Keys follow CONVENTIONS.md:
 * - `portMappings` `[{hostPort, containerPort, protocol, hostIP?}]` from the containers'
 *   hostPorts, and `bandwidth` `{ingressRate, ingressBurst, egressRate, egressBurst}` (bits
 *   per second, bits) from the kubernetes.io/{ingress,egress}-bandwidth annotations: the
 *   primary network only (as Multus does: the pod's ports and shaping live on eth0);
 * - `ips` and `mac` from the network's entry in the networks annotation;
 * - `dns` `{servers, searches, options}` from `spec.dnsConfig`, on every network.
 * An invalid bandwidth annotation is left out here (validation reports it).
 */
export function podCapabilityArgs({ pod, ref, index }: PodCapabilityInput): Record<string, unknown> {
  const caps: Record<string, unknown> = {};
  if (index === 0) {
    const pm: Array<{ hostPort: number; containerPort: number; protocol: string; hostIP?: string }> = [];
    for (const c of pod.spec.containers) {
      for (const p of c.ports ?? []) {
        if (!p.hostPort) continue;
        pm.push({
          hostPort: p.hostPort,
          containerPort: p.containerPort,
          protocol: p.protocol.toLowerCase(),
          ...(p.hostIP ? { hostIP: p.hostIP } : {}),
        });
      }
    }
    if (pm.length) caps['portMappings'] = pm;
    const bw: Record<string, number> = {};
    const ann = pod.metadata.annotations ?? {};
    for (const [key, dir] of [
      [INGRESS_BANDWIDTH_ANNOTATION, 'ingress'],
      [EGRESS_BANDWIDTH_ANNOTATION, 'egress'],
    ] as const) {
      const v = ann[key];
      if (v === undefined) continue;
      const parsed = parseBandwidth(v);
      if ('error' in parsed) continue;
      bw[`${dir}Rate`] = parsed.bps;
      bw[`${dir}Burst`] = bandwidthBurst(parsed.bps);
    }
    if (Object.keys(bw).length) caps['bandwidth'] = bw;
  }
  if (ref.ips?.length) caps['ips'] = [...ref.ips];
  if (ref.mac) caps['mac'] = ref.mac;
  const dns = pod.spec.dnsConfig;
  if (dns && (dns.nameservers?.length || dns.searches?.length || dns.options?.length)) {
    const d: Record<string, string[]> = {};
    if (dns.nameservers?.length) d['servers'] = [...dns.nameservers];
    if (dns.searches?.length) d['searches'] = [...dns.searches];
    if (dns.options?.length) d['options'] = dns.options.map((o) => (o.value !== undefined ? `${o.name}:${o.value}` : o.name));
    caps['dns'] = d;
  }
  return caps;
}
