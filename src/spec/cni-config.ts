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
