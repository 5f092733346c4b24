/**
 * The attachment cache in libcni's format (CNI-24): one file per attachment at
 * `<cacheDir>/results/<network>-<containerId>-<ifName>`, directory 0700, file 0600:
 *   {"kind":"cniCacheV1","containerId","config":<conflist bytes, base64>,"ifName","networkName",
 *    "netns","cniArgs":[[k,v]],"capabilityArgs",{…},"result":{…}}
 * (`netns`, `cniArgs`, `capabilityArgs` and `result` are omitted when empty, as Go's omitempty
 * does.) A file without `kind` is a bare legacy result. The cache is the source of truth for
 * CHECK and DEL; it is written only after every ADD plugin succeeded.
 */
import { lstat, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, readdirIfExists, writeFileAtomic } from '../common/index.js';
import { parseResult } from './result.js';
import type { CachedAttachment, CniResult } from './types.js';
import { makeDirs } from '../common/fs.js';

export const CNI_CACHE_KIND = 'cniCacheV1';

/**
 * The temporary name writeFileAtomic gives a cache file while it is written
 * (`<final name>.<8 hex>.tmp`); nothing else in the results dir ends like this.
 */
export const CACHE_TEMP_NAME = /^.+\.[0-9a-f]{8}\.tmp$/;

/**
 * A temporary file older than this is an interrupted write: a live writer renames or removes
 * its file within milliseconds (it writes a few KiB and renames it), so 10 s is far beyond it.
 */
export const STALE_TEMP_MS = 10_000;

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
    await makeDirs(this.resultsDir, 0o700);
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

  /**
   * Issue 14 item 10: remove temporary files of interrupted writes (a crash between write and
   * rename). Only berth's own temporary names, only regular files, only when last modified
   * more than `minAgeMs` ago (so never a file a live writer, in this or another process, is
   * still writing or about to rename). Returns the names removed. `now` is compared with file
   * mtimes, which are wall clock: so is its default.
   */
  async removeStaleTempFiles(minAgeMs = STALE_TEMP_MS, now = Date.now()): Promise<string[]> {
    const removed: string[] = [];
    for (const n of await readdirIfExists(this.resultsDir)) {
      if (!CACHE_TEMP_NAME.test(n)) continue;
      const p = join(this.resultsDir, n);
      try {
        const st = await lstat(p);
        if (!st.isFile() || now - st.mtimeMs < minAgeMs) continue;
        await rm(p, { force: true });
        removed.push(n);
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err; // renamed or removed by its writer meanwhile
      }
    }
    return removed;
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
