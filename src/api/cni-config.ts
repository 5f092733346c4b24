/**
 * From a Network document to what CNI consumes: the network configuration list (CNI-01/02),
 * the built-in default network, and the facts the cross-document checks need (IPAM subnets,
 * bridge names).
 */
import { IPv4CidrRange, IPv6CidrRange, Validator } from 'ip-num';
import { Network } from './network.js';
import type { FieldPath } from './path.js';
import type { LoadedNetwork } from './types.js';

/** The CNI network configuration list of a Network: plugins are passed through unchanged. */
export function networkConflist(net: Network): Record<string, unknown> {
  const { spec } = net;
  const list: Record<string, unknown> = { cniVersion: spec.cniVersion };
  if (spec.cniVersions !== undefined) list['cniVersions'] = spec.cniVersions;
  list['name'] = net.metadata.name;
  if (spec.disableCheck !== undefined) list['disableCheck'] = spec.disableCheck;
  if (spec.disableGC !== undefined) list['disableGC'] = spec.disableGC;
  if (spec.loadOnlyInlinedPlugins !== undefined) list['loadOnlyInlinedPlugins'] = spec.loadOnlyInlinedPlugins;
  list['plugins'] = spec.plugins;
  return list;
}

export const BUILTIN_NETWORK_NAME = 'berth';
export const BUILTIN_BRIDGE = 'berth0';
export const BUILTIN_SUBNET = '10.87.0.0/16';
export const BUILTIN_SOURCE_FILE = '<builtin>';

/** The network pods join when no Network is marked default: bridge berth0, 10.87.0.0/16, portmap. */
export function builtinDefaultNetwork(opts: { ipamDataDir?: string } = {}): LoadedNetwork {
  const ipam: Record<string, unknown> = {
    type: 'host-local',
    ranges: [[{ subnet: BUILTIN_SUBNET }]],
    routes: [{ dst: '0.0.0.0/0' }],
  };
  if (opts.ipamDataDir !== undefined) ipam['dataDir'] = opts.ipamDataDir;
  const network = Network.parse({
    apiVersion: 'berth.dev/v1',
    kind: 'Network',
    metadata: { name: BUILTIN_NETWORK_NAME },
    spec: {
      default: true,
      cniVersion: '1.0.0',
      plugins: [
        { type: 'bridge', bridge: BUILTIN_BRIDGE, isGateway: true, ipMasq: true, hairpinMode: true, ipam },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
  });
  return {
    kind: 'Network',
    name: BUILTIN_NETWORK_NAME,
    network,
    source: { file: BUILTIN_SOURCE_FILE, doc: 0, line: 1, column: 1 },
    conflist: networkConflist(network),
  };
}

export interface SubnetRef {
  /** path inside the plugins list, e.g. [0, 'ipam', 'ranges', 0, 0, 'subnet'] */
  path: FieldPath;
  cidr: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Every IPAM subnet in a plugin list: `ipam.subnet` and `ipam.ranges[][].subnet`, at any depth. */
export function ipamSubnets(plugins: unknown): SubnetRef[] {
  const out: SubnetRef[] = [];
  const walk = (value: unknown, path: Array<string | number>): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, [...path, i]));
      return;
    }
    if (!isObject(value)) return;
    for (const [key, v] of Object.entries(value)) {
      if (key === 'ipam' && isObject(v)) {
        const ipamPath = [...path, 'ipam'];
        if (typeof v['subnet'] === 'string') out.push({ path: [...ipamPath, 'subnet'], cidr: v['subnet'] });
        const ranges = v['ranges'];
        if (Array.isArray(ranges)) {
          ranges.forEach((set: unknown, i) => {
            if (!Array.isArray(set)) return;
            set.forEach((r: unknown, j) => {
              if (isObject(r) && typeof r['subnet'] === 'string') out.push({ path: [...ipamPath, 'ranges', i, j, 'subnet'], cidr: r['subnet'] });
            });
          });
        }
      }
      walk(v, [...path, key]);
    }
  };
  walk(plugins, []);
  return out;
}

export interface AddressRange {
  family: 4 | 6;
  first: bigint;
  last: bigint;
}

/** The address range of a CIDR (host bits allowed, as host-local allows them), or undefined. */
export function cidrRange(cidr: string): AddressRange | undefined {
  try {
    if (Validator.isValidIPv4CidrNotation(cidr)[0]) {
      const r = IPv4CidrRange.fromCidr(cidr);
      return { family: 4, first: r.getFirst().getValue(), last: r.getLast().getValue() };
    }
    if (Validator.isValidIPv6CidrNotation(cidr)[0]) {
      const r = IPv6CidrRange.fromCidr(cidr);
      return { family: 6, first: r.getFirst().getValue(), last: r.getLast().getValue() };
    }
  } catch {
    return undefined;
  }
  return undefined;
}

export function rangesOverlap(a: AddressRange, b: AddressRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

/** Linux bridges created by `bridge` plugins in a list (the plugin's default is cni0). */
export function bridgeNames(plugins: unknown): Array<{ index: number; bridge: string }> {
  if (!Array.isArray(plugins)) return [];
  const out: Array<{ index: number; bridge: string }> = [];
  plugins.forEach((p: unknown, index) => {
    if (isObject(p) && p['type'] === 'bridge') out.push({ index, bridge: typeof p['bridge'] === 'string' ? p['bridge'] : 'cni0' });
  });
  return out;
}

// ---- capability arguments of a pod (CNI-07, CONVENTIONS.md) ---------------------------

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
  const n = Number(m[1]);
  const suffix = m[2] ?? '';
  if (/^[eE][+-]?\d+$/.test(suffix)) return n * 10 ** Number(suffix.slice(1));
  const mult: Record<string, number> = {
    '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  };
  return n * (mult[suffix] ?? 1);
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
      containers: Array<{ ports?: Array<{ containerPort: number; hostPort?: number | undefined; hostIP?: string | undefined; protocol: string }> | undefined }>;
      dnsConfig?: { nameservers?: string[] | undefined; searches?: string[] | undefined; options?: Array<{ name: string; value?: string | undefined }> | undefined } | undefined;
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
        pm.push({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol.toLowerCase(), ...(p.hostIP ? { hostIP: p.hostIP } : {}) });
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

// ---- IPAM ranges (validation) ----------------------------------------------------------

function ipRange(ip: string): AddressRange | undefined {
  if (Validator.isValidIPv4String(ip)[0]) return cidrRange(`${ip}/32`);
  if (Validator.isValidIPv6String(ip)[0]) return cidrRange(`${ip}/128`);
  return undefined;
}

/**
 * host-local's rules for a range, checked before the host is touched: `gateway`,
 * `rangeStart` and `rangeEnd` are addresses inside `subnet`, and rangeStart ≤ rangeEnd.
 * Covers `ipam.ranges[][]` and the legacy single range (`ipam.subnet` with its siblings).
 */
export function ipamRangeProblems(plugins: unknown): Array<{ path: FieldPath; message: string }> {
  const out: Array<{ path: FieldPath; message: string }> = [];
  const checkRange = (r: Record<string, unknown>, at: Array<string | number>): void => {
    if (typeof r['subnet'] !== 'string') return;
    const subnet = r['subnet'];
    const net = cidrRange(subnet);
    if (!net) return; // reported as not a CIDR elsewhere
    const addrs: Partial<Record<'gateway' | 'rangeStart' | 'rangeEnd', AddressRange>> = {};
    for (const key of ['gateway', 'rangeStart', 'rangeEnd'] as const) {
      const v = r[key];
      if (v === undefined) continue;
      const a = typeof v === 'string' ? ipRange(v) : undefined;
      if (!a) {
        out.push({ path: [...at, key], message: `${key} ${JSON.stringify(v)} is not an IP address` });
        continue;
      }
      if (a.family !== net.family || a.first < net.first || a.first > net.last) {
        out.push({ path: [...at, key], message: `${key} ${v as string} is outside subnet ${subnet}` });
        continue;
      }
      addrs[key] = a;
    }
    if (addrs.rangeStart && addrs.rangeEnd && addrs.rangeStart.first > addrs.rangeEnd.first) {
      out.push({ path: [...at, 'rangeEnd'], message: `rangeEnd ${r['rangeEnd'] as string} comes before rangeStart ${r['rangeStart'] as string}` });
    }
  };
  if (!Array.isArray(plugins)) return out;
  plugins.forEach((p: unknown, i) => {
    if (!isObject(p) || !isObject(p['ipam'])) return;
    const ipam = p['ipam'];
    const at: Array<string | number> = [i, 'ipam'];
    checkRange(ipam, at);
    const ranges = ipam['ranges'];
    if (Array.isArray(ranges)) {
      ranges.forEach((set: unknown, si) => {
        if (!Array.isArray(set)) return;
        set.forEach((r: unknown, ri) => {
          if (isObject(r)) checkRange(r, [...at, 'ranges', si, ri]);
        });
      });
    }
  });
  return out;
}
