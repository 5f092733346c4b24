/**
 * containers-registries.conf(5) (DST-13), read from `<config-dir>/registries.conf` and the
 * drop-ins `<config-dir>/registries.conf.d/*.conf` (later files override earlier entries of
 * the same prefix): `unqualified-search-registries`, `[[registry]]` with `prefix`,
 * `location`, `insecure`, `blocked`, `mirror-by-digest-only`, `[[registry.mirror]]` with
 * `location`, `insecure`, `pull-from-mirror`; and the legacy v1 tables
 * `[registries.search|insecure|block] registries = [...]`.
 *
 * Choice: a registry is reached over plain http only when it is configured `insecure`;
 * loopback addresses are not implicitly insecure (unlike Docker's daemon.json).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { BerthError, errorMessage, errnoOf, readTextIfExists } from '../../common/index.js';

export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';

export interface MirrorEntry {
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
}

export interface RegistryEntry {
  prefix: string;
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: MirrorEntry[];
}

export interface RegistriesConf {
  unqualifiedSearchRegistries: string[];
  registries: RegistryEntry[];
  /** settings of the files berth does not apply (`file: key`), for the caller to warn about */
  notApplied?: string[];
}

export const EMPTY_REGISTRIES_CONF: RegistriesConf = { unqualifiedSearchRegistries: [], registries: [] };

/** Top-level keys of containers-registries.conf(5) berth reads; any other is reported as not applied. */
const APPLIED_KEYS = new Set(['unqualified-search-registries', 'registry', 'registries']);

function bad(file: string, why: string): BerthError {
  return new BerthError('InvalidArgument', `${file}: ${why}`);
}

const str = (v: unknown, file: string, what: string, dflt = ''): string => {
  if (v === undefined) return dflt;
  if (typeof v !== 'string') throw bad(file, `${what} must be a string`);
  return v;
};
const bool = (v: unknown, file: string, what: string): boolean => {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw bad(file, `${what} must be true or false`);
  return v;
};
const strList = (v: unknown, file: string, what: string): string[] => {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(file, `${what} must be a list of strings`);
  return v as string[];
};

/** Strip a scheme a user may have written (`https://mirror.local`), which the format does not allow. */
function cleanLocation(loc: string, file: string, what: string): string {
  if (/^[a-z]+:\/\//i.test(loc)) throw bad(file, `${what} "${loc}" must not contain a scheme`);
  return loc.replace(/\/+$/, '');
}

/** Parse the text of one registries.conf (v2, or the legacy v1 tables). */
export function parseRegistriesConf(text: string, file = 'registries.conf'): RegistriesConf {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new BerthError('InvalidArgument', `${file}: ${errorMessage(err).split('\n')[0]}`, { cause: err });
  }
  const out: RegistriesConf = {
    unqualifiedSearchRegistries: strList(doc['unqualified-search-registries'], file, 'unqualified-search-registries'),
    registries: [],
  };
  // short-name-mode, [aliases], credential-helpers…: valid in the format, not implemented here
  const notApplied = Object.keys(doc)
    .filter((k) => !APPLIED_KEYS.has(k))
    .map((k) => `${file}: ${k}`);
  if (notApplied.length) out.notApplied = notApplied;
  const regs = doc.registry;
  if (regs !== undefined && !Array.isArray(regs)) throw bad(file, '[[registry]] must be an array of tables');
  for (const [i, r] of ((regs as unknown[]) ?? []).entries()) {
    if (r === null || typeof r !== 'object') throw bad(file, `registry[${i}] must be a table`);
    const t = r as Record<string, unknown>;
    const location = cleanLocation(str(t.location, file, `registry[${i}].location`), file, `registry[${i}].location`);
    const prefix = cleanLocation(str(t.prefix, file, `registry[${i}].prefix`, location), file, `registry[${i}].prefix`);
    if (prefix === '') throw bad(file, `registry[${i}] needs a prefix or a location`);
    const mirrorsRaw = t.mirror;
    if (mirrorsRaw !== undefined && !Array.isArray(mirrorsRaw)) throw bad(file, `registry[${i}].mirror must be [[registry.mirror]] tables`);
    const mirrors: MirrorEntry[] = ((mirrorsRaw as unknown[]) ?? []).map((m, j) => {
      const mt = (m ?? {}) as Record<string, unknown>;
      const pfm = str(mt['pull-from-mirror'], file, `registry[${i}].mirror[${j}].pull-from-mirror`, 'all');
      if (pfm !== 'all' && pfm !== 'digest-only' && pfm !== 'tag-only')
        throw bad(file, `registry[${i}].mirror[${j}].pull-from-mirror must be all, digest-only or tag-only`);
      const loc = cleanLocation(str(mt.location, file, `registry[${i}].mirror[${j}].location`), file, 'mirror location');
      if (loc === '') throw bad(file, `registry[${i}].mirror[${j}] without location`);
      return { location: loc, insecure: bool(mt.insecure, file, 'mirror insecure'), pullFromMirror: pfm };
    });
    out.registries.push({
      prefix,
      location: location || (prefix.startsWith('*.') ? '' : prefix),
      insecure: bool(t.insecure, file, `registry[${i}].insecure`),
      blocked: bool(t.blocked, file, `registry[${i}].blocked`),
      mirrorByDigestOnly: bool(t['mirror-by-digest-only'], file, `registry[${i}].mirror-by-digest-only`),
      mirrors,
    });
  }
  // Legacy v1: [registries.search] / [registries.insecure] / [registries.block]
  const v1 = doc.registries as Record<string, { registries?: unknown }> | undefined;
  if (v1 && typeof v1 === 'object' && !Array.isArray(v1)) {
    out.unqualifiedSearchRegistries.push(...strList(v1.search?.registries, file, 'registries.search.registries'));
    const upsert = (host: string): RegistryEntry => {
      let e = out.registries.find((r) => r.prefix === host);
      if (!e) {
        e = { prefix: host, location: host, insecure: false, blocked: false, mirrorByDigestOnly: false, mirrors: [] };
        out.registries.push(e);
      }
      return e;
    };
    for (const h of strList(v1.insecure?.registries, file, 'registries.insecure.registries')) upsert(h).insecure = true;
    for (const h of strList(v1.block?.registries, file, 'registries.block.registries')) upsert(h).blocked = true;
  }
  return out;
}

/** Merge drop-ins: a later entry of the same prefix replaces the earlier one; a later search list replaces. */
export function mergeRegistriesConf(base: RegistriesConf, over: RegistriesConf, overHasSearch: boolean): RegistriesConf {
  const regs = base.registries.filter((r) => !over.registries.some((o) => o.prefix === r.prefix));
  const notApplied = [...(base.notApplied ?? []), ...(over.notApplied ?? [])];
  return {
    unqualifiedSearchRegistries: overHasSearch ? over.unqualifiedSearchRegistries : base.unqualifiedSearchRegistries,
    registries: [...regs, ...over.registries],
    ...(notApplied.length ? { notApplied } : {}),
  };
}

/** `<config-dir>/registries.conf` plus `registries.conf.d/*.conf` in name order; empty when absent. */
export async function loadRegistriesConf(configDir: string): Promise<RegistriesConf> {
  const files = [join(configDir, 'registries.conf')];
  try {
    const d = join(configDir, 'registries.conf.d');
    for (const n of (await readdir(d)).filter((n) => n.endsWith('.conf')).sort()) files.push(join(d, n));
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  let conf = EMPTY_REGISTRIES_CONF;
  for (const f of files) {
    const text = await readTextIfExists(f);
    if (text === undefined) continue;
    const c = parseRegistriesConf(text, f);
    conf = mergeRegistriesConf(conf, c, /unqualified-search-registries|\[registries\.search\]/.test(text));
  }
  return conf;
}

/** Whether `prefix` matches the reference name (`host/path`, possibly followed by :tag or @digest). */
function prefixMatches(prefix: string, name: string): boolean {
  if (prefix.startsWith('*.')) {
    const host = name.split('/')[0] ?? '';
    return host.endsWith(prefix.slice(1));
  }
  if (!name.startsWith(prefix)) return false;
  const next = name[prefix.length];
  return next === undefined || next === '/' || next === ':' || next === '@';
}

/** The entry for a fully qualified name (`host/repo`): the longest matching prefix (DST-13). */
export function findRegistry(conf: RegistriesConf, name: string): RegistryEntry | undefined {
  let best: RegistryEntry | undefined;
  let bestLen = -1;
  for (const r of conf.registries) {
    if (!prefixMatches(r.prefix, name)) continue;
    // an exact prefix beats a wildcard of the same length
    const len = r.prefix.startsWith('*.') ? r.prefix.length - 1 : r.prefix.length + 0.5;
    if (len > bestLen) {
      best = r;
      bestLen = len;
    }
  }
  return best;
}

export interface ResolvedEndpoint {
  host: string;
  repository: string;
  insecure: boolean;
  mirror: boolean;
}

function split(location: string): { host: string; path: string } {
  const i = location.indexOf('/');
  return i < 0 ? { host: location, path: '' } : { host: location.slice(0, i), path: location.slice(i + 1) };
}

/**
 * Where to pull `registry/repository` from: mirrors in order (filtered by pull-from-mirror
 * and mirror-by-digest-only), the primary location last. BerthError PermissionDenied when
 * the prefix is blocked.
 */
export function endpointsFor(conf: RegistriesConf, registry: string, repository: string, byDigest: boolean): ResolvedEndpoint[] {
  const name = `${registry}/${repository}`;
  const entry = findRegistry(conf, name);
  if (!entry) return [{ host: registry, repository, insecure: false, mirror: false }];
  if (entry.blocked) throw new BerthError('PermissionDenied', `registry prefix ${entry.prefix} is blocked in registries.conf (${name})`);
  const rewrite = (location: string): { host: string; repository: string } => {
    if (entry.prefix.startsWith('*.') || location === '') return { host: registry, repository };
    const rest = name.slice(entry.prefix.length).replace(/^\//, '');
    const { host, path } = split(location);
    return { host, repository: [path, rest].filter((x) => x !== '').join('/') };
  };
  const out: ResolvedEndpoint[] = [];
  for (const m of entry.mirrors) {
    if (entry.mirrorByDigestOnly && !byDigest) continue;
    if (m.pullFromMirror === 'digest-only' && !byDigest) continue;
    if (m.pullFromMirror === 'tag-only' && byDigest) continue;
    out.push({ ...rewrite(m.location), insecure: m.insecure, mirror: true });
  }
  out.push({ ...rewrite(entry.location), insecure: entry.insecure, mirror: false });
  return out;
}
