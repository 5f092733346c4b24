/**
 * Network configuration lists (CNI-01..03): parsing with libcni's checks, and discovery in a
 * directory as libcni/cnitool do it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, errorMessage, readdirIfExists } from '../common/index.js';
import type { NetworkConfigList, PluginConf } from './types.js';
import { CNI_NAME } from './validate.js';
import { selectCniVersion } from './version.js';

const invalid = (source: string | undefined, msg: string): BerthError =>
  new BerthError('InvalidArgument', `error parsing configuration list${source ? ` ${source}` : ''}: ${msg}`);

/** CNI-01: a boolean, or the strings "true"/"false" in any case (libcni). */
function parseBool(v: unknown, key: string, source?: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    if (v.toLowerCase() === 'true') return true;
    if (v.toLowerCase() === 'false') return false;
  }
  throw invalid(source, `invalid value ${JSON.stringify(v)} for ${key}`);
}

/** CNI-02: `type` is required and has no path separator; `capabilities` is `{string: bool}`. */
export function parsePluginConf(raw: unknown, where: string, source?: string): PluginConf {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid(source, `${where} is not an object`);
  const p = raw as Record<string, unknown>;
  if (typeof p.type !== 'string' || p.type === '') throw invalid(source, `${where}: missing 'type'`);
  if (/[/\\]/.test(p.type)) throw invalid(source, `${where}: invalid plugin type ${JSON.stringify(p.type)}: contains a path separator`);
  if (p.capabilities !== undefined) {
    const caps = p.capabilities;
    if (!caps || typeof caps !== 'object' || Array.isArray(caps) || Object.values(caps).some((b) => typeof b !== 'boolean')) {
      throw invalid(source, `${where}: capabilities must map names to booleans`);
    }
  }
  // Unknown keys pass through unchanged (CNI-02).
  return p as PluginConf;
}

interface ParseOptions {
  /** Allow a list without `plugins` (discovery may append `<dir>/<name>/*.conf`). */
  allowNoPlugins?: boolean;
}

function parseObject(bytes: string, source: string | undefined): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes);
  } catch (err) {
    throw invalid(source, errorMessage(err));
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid(source, 'not a JSON object');
  return raw as Record<string, unknown>;
}

function parseList(bytes: string, source: string | undefined, opts: ParseOptions): NetworkConfigList {
  const o = parseObject(bytes, source);

  if (typeof o.name !== 'string' || o.name === '') throw invalid(source, 'missing name');
  if (!CNI_NAME.test(o.name)) throw invalid(source, `invalid network name ${JSON.stringify(o.name)}: must match ${CNI_NAME.source}`);
  if (o.cniVersion !== undefined && typeof o.cniVersion !== 'string') throw invalid(source, 'cniVersion must be a string');
  let cniVersions: string[] | undefined;
  if (o.cniVersions !== undefined) {
    if (!Array.isArray(o.cniVersions)) throw invalid(source, 'cniVersions must be a list');
    cniVersions = o.cniVersions.map((v, i) => {
      if (typeof v !== 'string') throw invalid(source, `invalid type for cniVersions index ${i}`);
      return v;
    });
  }
  let cniVersion: string;
  try {
    cniVersion = selectCniVersion(o.cniVersion as string | undefined, cniVersions);
  } catch (err) {
    throw invalid(source, errorMessage(err));
  }

  const disableCheck = parseBool(o.disableCheck, 'disableCheck', source);
  const disableGC = parseBool(o.disableGC, 'disableGC', source);
  const loadOnlyInlinedPlugins = parseBool(o.loadOnlyInlinedPlugins, 'loadOnlyInlinedPlugins', source);

  let plugins: PluginConf[] = [];
  if (o.plugins === undefined) {
    if (!opts.allowNoPlugins || loadOnlyInlinedPlugins) throw invalid(source, "no 'plugins' key");
  } else {
    if (!Array.isArray(o.plugins)) throw invalid(source, "'plugins' must be a list");
    plugins = o.plugins.map((p, i) => parsePluginConf(p, `plugins[${i}]`, source));
    if (plugins.length === 0 && !opts.allowNoPlugins) throw invalid(source, "'plugins' must not be empty");
  }

  const list: NetworkConfigList = { name: o.name, cniVersion, plugins, bytes };
  if (cniVersions !== undefined) list.cniVersions = cniVersions;
  if (disableCheck !== undefined) list.disableCheck = disableCheck;
  if (disableGC !== undefined) list.disableGC = disableGC;
  if (loadOnlyInlinedPlugins !== undefined) list.loadOnlyInlinedPlugins = loadOnlyInlinedPlugins;
  return list;
}

/**
 * Parse a conflist (CNI-01/02). `cniVersion` of the result is the selected version (CNI-04);
 * `bytes` is kept verbatim for the cache (CNI-24). Throws InvalidArgument.
 */
export function parseNetworkConfigList(bytes: string, source?: string): NetworkConfigList {
  return parseList(bytes, source, {});
}

/** CNI-03: a legacy single-plugin `.conf` wrapped as a one-plugin list (libcni ConfListFromConf). */
export function confListFromConf(bytes: string, source?: string): NetworkConfigList {
  const conf = parseObject(bytes, source);
  const list: Record<string, unknown> = { name: conf.name, plugins: [conf] };
  if (conf.cniVersion !== undefined) list.cniVersion = conf.cniVersion;
  return parseNetworkConfigList(JSON.stringify(list), source);
}

/**
 * Every network in `dir` (CNI-03): `*.conflist` sorted lexically, then the deprecated
 * `*.conf`/`*.json` wrapped as one-plugin lists. Unless `loadOnlyInlinedPlugins` is set,
 * `<dir>/<name>/*.conf` plugins are appended to a list. When several files define the same
 * name, the first (conflists before confs) wins. A missing directory gives []. A file that does
 * not parse throws InvalidArgument, like libcni; with `onError` it is reported and skipped
 * instead, so that one half-written file does not hide the other networks.
 */
export async function loadNetworkConfigLists(
  dir: string,
  opts: { onError?: (file: string, err: BerthError) => void } = {},
): Promise<NetworkConfigList[]> {
  const names = await readdirIfExists(dir);
  const out: NetworkConfigList[] = [];
  const seen = new Set<string>();
  const add = (l: NetworkConfigList): void => {
    if (seen.has(l.name)) return;
    seen.add(l.name);
    out.push(l);
  };
  const guarded = async (path: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      if (!opts.onError) throw err;
      opts.onError(
        path,
        err instanceof BerthError ? err : new BerthError('InvalidArgument', `${path}: ${errorMessage(err)}`, { cause: err }),
      );
    }
  };
  for (const f of names.filter((n) => n.endsWith('.conflist'))) {
    const path = join(dir, f);
    await guarded(path, () => loadConflist(path));
  }
  for (const f of names.filter((n) => n.endsWith('.conf') || n.endsWith('.json'))) {
    const path = join(dir, f);
    await guarded(path, async () => add({ ...confListFromConf(await readFile(path, 'utf8'), path), file: path }));
  }
  return out;

  async function loadConflist(path: string): Promise<void> {
    const list = parseList(await readFile(path, 'utf8'), path, { allowNoPlugins: true });
    if (!list.loadOnlyInlinedPlugins) {
      const sub = join(dir, list.name);
      for (const pf of (await readdirIfExists(sub)).filter((n) => n.endsWith('.conf'))) {
        const ppath = join(sub, pf);
        let praw: unknown;
        try {
          praw = JSON.parse(await readFile(ppath, 'utf8'));
        } catch (err) {
          throw invalid(ppath, errorMessage(err));
        }
        list.plugins.push(parsePluginConf(praw, 'plugin', ppath));
      }
    }
    if (list.plugins.length === 0) throw invalid(path, 'no plugin configs found');
    // With plugins from <dir>/<name>/*.conf, `bytes` is rewritten to hold them: berth hands the
    // list on as JSON (pod records, the cache's config), which must attach what was loaded.
    // (libcni keeps the file's bytes and the appended plugins in memory only.)
    const inline = (JSON.parse(list.bytes) as { plugins?: unknown[] }).plugins?.length ?? 0;
    if (list.plugins.length !== inline) list.bytes = JSON.stringify({ ...(JSON.parse(list.bytes) as object), plugins: list.plugins });
    add({ ...list, file: path });
  }
}
