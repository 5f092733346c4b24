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
              if (isObject(r) && typeof r['subnet'] === 'string')
                out.push({ path: [...ipamPath, 'ranges', i, j, 'subnet'], cidr: r['subnet'] });
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
      out.push({
        path: [...at, 'rangeEnd'],
        message: `rangeEnd ${r['rangeEnd'] as string} comes before rangeStart ${r['rangeStart'] as string}`,
      });
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
