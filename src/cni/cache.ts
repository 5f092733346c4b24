/**
 * The attachment cache in libcni's format (CNI-24): one file per attachment at
 * `<cacheDir>/results/<network>-<containerId>-<ifName>`, directory 0700, file 0600:
 *   {"kind":"cniCacheV1","containerId","config":<conflist bytes, base64>,"ifName","networkName",
 *    "netns","cniArgs":[[k,v]],"capabilityArgs",{…},"result":{…}}
 * (`netns`, `cniArgs`, `capabilityArgs` and `result` are omitted when empty, as Go's omitempty
 * does.) A file without `kind` is a bare legacy result. The cache is the source of truth for
 * CHECK and DEL; it is written only after every ADD plugin succeeded.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, readdirIfExists, writeFileAtomic } from '../common/index.js';
import { parseResult } from './result.js';
import type { CachedAttachment, CniResult } from './types.js';

export const CNI_CACHE_KIND = 'cniCacheV1';

/** The on-disk JSON. */
export interface CacheFile {
  kind: typeof CNI_CACHE_KIND;
  containerId: string;
  config: string;
  ifName: string;
  networkName: string;
  netns?: string;
  cniArgs?: Array<[string, string]>;
  capabilityArgs?: Record<string, unknown>;
  result?: Record<string, unknown>;
}

/** What a cache file holds, with the result still in the version it was stored in. */
export interface CacheEntry extends CachedAttachment {
  /** false for a legacy bare result (no kind): then only `result` is known. */
  v1: boolean;
}

export class ResultCache {
  constructor(readonly cacheDir: string) {}

  get resultsDir(): string {
    return join(this.cacheDir, 'results');
  }

  /** Callers validate the three parts first (CNI-25), so the name never leaves resultsDir. */
  path(networkName: string, containerId: string, ifName: string): string {
    return join(this.resultsDir, `${networkName}-${containerId}-${ifName}`);
  }

  async write(a: CachedAttachment, rawResult: Record<string, unknown>): Promise<void> {
    const file: CacheFile = {
      kind: CNI_CACHE_KIND,
      containerId: a.containerId,
      config: a.config,
      ifName: a.ifName,
      networkName: a.networkName,
    };
    if (a.netns) file.netns = a.netns;
    if (a.cniArgs.length) file.cniArgs = a.cniArgs;
    if (Object.keys(a.capabilityArgs).length) file.capabilityArgs = a.capabilityArgs;
    file.result = rawResult;
    await mkdir(this.resultsDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.path(a.networkName, a.containerId, a.ifName), JSON.stringify(file), 0o600);
  }

  /**
   * The entry, or undefined when there is none. Throws on an unreadable/corrupt file so that
   * DEL can drop it (libcni removes it) and CHECK can report it.
   */
  async read(networkName: string, containerId: string, ifName: string, defaultVersion: string): Promise<CacheEntry | undefined> {
    let text: string;
    try {
      text = await readFile(this.path(networkName, containerId, ifName), 'utf8');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw err;
    }
    return decodeCacheFile(text, { networkName, containerId, ifName }, defaultVersion);
  }

  async remove(networkName: string, containerId: string, ifName: string): Promise<void> {
    await rm(this.path(networkName, containerId, ifName), { force: true });
  }

  /** Every cniCacheV1 entry (legacy files cannot be attributed and are skipped). */
  async list(): Promise<CacheEntry[]> {
    const names = await readdirIfExists(this.resultsDir);
    const out: CacheEntry[] = [];
    for (const n of names) {
      if (n.endsWith('.tmp')) continue;
      let text: string;
      try {
        text = await readFile(join(this.resultsDir, n), 'utf8');
      } catch {
        continue;
      }
      try {
        const e = decodeCacheFile(text, undefined, '');
        if (e?.v1) out.push(e);
      } catch {
        // unreadable entries are left for DEL/GC to remove
      }
    }
    return out;
  }
}

/**
 * Decode a cache file. `key` names the attachment for a legacy file (which holds only a
 * result); without it a legacy file yields undefined.
 */
export function decodeCacheFile(
  text: string,
  key: { networkName: string; containerId: string; ifName: string } | undefined,
  defaultVersion: string,
): CacheEntry | undefined {
  const raw = JSON.parse(text) as unknown;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('cache file is not a JSON object');
  const o = raw as Record<string, unknown>;
  if (o.kind !== CNI_CACHE_KIND) {
    if (!key) return undefined;
    return {
      v1: false,
      ...key,
      netns: '',
      cniArgs: [],
      capabilityArgs: {},
      config: '',
      result: parseResult(o, defaultVersion),
    };
  }
  const config = typeof o.config === 'string' ? o.config : '';
  const result: CniResult = parseResult(o.result ?? {}, defaultVersion || configVersion(Buffer.from(config, 'base64').toString('utf8')));
  return {
    v1: true,
    containerId: String(o.containerId ?? key?.containerId ?? ''),
    ifName: String(o.ifName ?? key?.ifName ?? ''),
    networkName: String(o.networkName ?? key?.networkName ?? ''),
    netns: typeof o.netns === 'string' ? o.netns : '',
    cniArgs: Array.isArray(o.cniArgs) ? (o.cniArgs as Array<[string, string]>) : [],
    capabilityArgs: o.capabilityArgs && typeof o.capabilityArgs === 'object' ? (o.capabilityArgs as Record<string, unknown>) : {},
    config,
    result,
  };
}

function configVersion(config: string): string {
  try {
    const v = (JSON.parse(config) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' ? v : '';
  } catch {
    return '';
  }
}
