/**
 * CNI results and their conversion between versions (CNI-22/23; libcni `pkg/types/{020,040,100}`
 * and `internal/convert.go`). Internally every result is held in the 1.1.0 shape; it is written
 * out in any known version:
 *   0.1.0/0.2.0  `ip4`/`ip6` `{ip, gateway, routes}` + `dns` (first address of each family only)
 *   0.3.x/0.4.0  `interfaces`, `ips[{version, interface, address, gateway}]`, `routes`, `dns`
 *   1.0.0        as 0.4.0 without `ips[].version`
 *   1.1.0        adds interface `mtu`/`socketPath`/`pciID` and route `mtu`/`advmss`/`priority`/`table`/`scope`
 * Down-conversion drops what the older version lacks and recomputes `ips[].version`.
 */
import { CniCode, CniError } from './errors.js';
import type { CniResult } from './types.js';
import { KNOWN_CNI_VERSIONS } from './version.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

const IFACE_11 = ['mtu', 'socketPath', 'pciID'];
const ROUTE_11 = ['mtu', 'advmss', 'priority', 'table', 'scope'];

function family(address: string): '4' | '6' {
  return address.includes(':') ? '6' : '4';
}

function unsupported(v: string): CniError {
  return new CniError({ cniCode: CniCode.IncompatibleCniVersion, msg: `unsupported CNI result version ${JSON.stringify(v)}` });
}

function versionFamily(v: string): '02' | '04' | '10' {
  switch (v) {
    case '':
    case '0.1.0':
    case '0.2.0':
      return '02';
    case '0.3.0':
    case '0.3.1':
    case '0.4.0':
      return '04';
    case '1.0.0':
    case '1.1.0':
      return '10';
    default:
      throw unsupported(v);
  }
}

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/**
 * Read a result as written by a plugin or stored in the cache, in the 1.1.0 shape. Its version
 * is its own `cniVersion`, else `defaultVersion` (CNI-22); `null` or empty output is `{}`.
 * The returned `cniVersion` is the version it was written in.
 */
export function parseResult(input: string | unknown, defaultVersion: string): CniResult {
  let raw: unknown = input;
  if (typeof input === 'string') {
    const text = input.trim();
    try {
      raw = text === '' ? null : JSON.parse(text);
    } catch (err) {
      throw new CniError({
        cniCode: CniCode.DecodingFailure,
        msg: `failed to parse result: ${(err as Error).message}`,
        details: text.slice(0, 200),
      });
    }
  }
  if (raw === null || raw === undefined) raw = {};
  if (!isObj(raw)) throw new CniError({ cniCode: CniCode.DecodingFailure, msg: 'result is not a JSON object' });
  const r = clone(raw);
  const version = typeof r.cniVersion === 'string' && r.cniVersion !== '' ? r.cniVersion : defaultVersion;
  const fam = versionFamily(version);
  const out: CniResult = { ...r, cniVersion: version };
  if (fam === '02') {
    delete out.ip4;
    delete out.ip6;
    const ips: NonNullable<CniResult['ips']> = [];
    const routes: NonNullable<CniResult['routes']> = [];
    for (const key of ['ip4', 'ip6'] as const) {
      const ipc = r[key];
      if (!isObj(ipc)) continue;
      if (typeof ipc.ip === 'string') {
        ips.push({ address: ipc.ip, ...(typeof ipc.gateway === 'string' ? { gateway: ipc.gateway } : {}) });
      }
      if (Array.isArray(ipc.routes)) routes.push(...(ipc.routes as NonNullable<CniResult['routes']>));
    }
    if (ips.length) out.ips = ips;
    if (routes.length) out.routes = routes;
  } else if (fam === '04' && Array.isArray(r.ips)) {
    out.ips = (r.ips as Obj[]).map((ip) => {
      const { version: _v, ...rest } = ip;
      return rest as NonNullable<CniResult['ips']>[number];
    });
  }
  return out;
}

/** Write a result (any version, as returned by parseResult) in version `to`. */
export function convertResult(result: CniResult, to: string): Obj {
  const fromFam = versionFamily(result.cniVersion);
  const toFam = versionFamily(to);
  // Normalise to the 1.1.0 shape first (a result already parsed is; a raw 0.x one is not).
  const r = fromFam === '10' ? clone(result) : parseResult(result, result.cniVersion);
  const out: Obj = { ...r, cniVersion: to };
  const downTo10 = to !== '1.1.0';
  if (downTo10) {
    if (Array.isArray(r.interfaces)) {
      out.interfaces = r.interfaces.map((i) => dropKeys(i as Obj, IFACE_11));
    }
    if (Array.isArray(r.routes)) out.routes = r.routes.map((rt) => dropKeys(rt as Obj, ROUTE_11));
  }
  if (toFam === '10') return out;
  if (toFam === '04') {
    if (Array.isArray(r.ips)) {
      out.ips = r.ips.map((ip) => {
        const { address, ...rest } = ip;
        return { version: family(address), address, ...rest };
      });
    }
    return out;
  }
  // 0.1.0/0.2.0: only the first address of each family; routes by family; no interfaces.
  delete out.interfaces;
  delete out.ips;
  delete out.routes;
  const ipc: Partial<Record<'4' | '6', Obj>> = {};
  for (const ip of r.ips ?? []) {
    const f = family(ip.address);
    if (!ipc[f]) ipc[f] = { ip: ip.address, ...(ip.gateway ? { gateway: ip.gateway } : {}) };
  }
  for (const route of r.routes ?? []) {
    const target = ipc[family(route.dst)];
    if (target) ((target.routes ??= []) as unknown[]).push(dropKeys(route as Obj, ROUTE_11));
  }
  if (!ipc['4'] && !ipc['6']) {
    throw new CniError({ cniCode: CniCode.IncompatibleCniVersion, msg: `cannot convert result to ${to}: no valid IP addresses` });
  }
  if (ipc['4']) out.ip4 = ipc['4'];
  if (ipc['6']) out.ip6 = ipc['6'];
  return out;
}

function dropKeys(o: Obj, keys: string[]): Obj {
  const c = { ...o };
  for (const k of keys) delete c[k];
  return c;
}

/** The result berth hands to callers: 1.x (the list version when it is 1.x, else 1.0.0). */
export function toV1(result: CniResult): CniResult {
  const to = versionFamily(result.cniVersion) === '10' ? result.cniVersion : '1.0.0';
  return convertResult(result, to) as CniResult;
}

export const isKnownCniVersion = (v: string): boolean => (KNOWN_CNI_VERSIONS as readonly string[]).includes(v);
