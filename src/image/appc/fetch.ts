/**
 * Getting ACI bytes from where a reference points: a local file (copied privately, so it
 * cannot change between the signature check and the import), a URL, or the endpoints that
 * meta discovery finds for a name. Every download goes to `<state>/appc/tmp/` with a size
 * limit, over the one HTTP client (registry/http.ts, through discovery.ts's `httpOpen`), with
 * registries.conf's insecure and blocked hosts applied.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BerthError, codeOf, errnoOf, pathExists } from '../../common/index.js';
import { findRegistry, loadRegistriesConf } from '../config/registries-conf.js';
import { discover, httpGet, httpOpen, type HttpGetOptions } from './discovery.js';
import { pickConfirmedKey } from './trust.js';
import { makeDirs } from '../../common/fs.js';

export const MAX_DOWNLOAD = 16 * 1024 ** 3;
export const MAX_SIG = 64 * 1024;

/** An ACI file ready to import (private to berth) and its detached signature, if any. */
export interface FetchedAci {
  file: string;
  signature: Buffer | undefined;
  /** where it came from: the path or URL (what the index records and messages name) */
  source: string;
}

export interface AppcFetchOptions {
  stateDir: string;
  configDir: string;
  /** test hook (appc's own discovery has one): the port discovery and downloads use for `appc:` names */
  discoveryPort?: number;
}

export class AppcFetcher {
  private readonly tmpDir: string;

  constructor(private readonly opts: AppcFetchOptions) {
    this.tmpDir = join(opts.stateDir, 'appc', 'tmp');
  }

  private async httpOptions(signal?: AbortSignal): Promise<HttpGetOptions> {
    const conf = await loadRegistriesConf(this.opts.configDir);
    return {
      isInsecure: (host) => findRegistry(conf, host)?.insecure === true,
      isBlocked: (host) => findRegistry(conf, host)?.blocked === true,
      ...(this.opts.discoveryPort ? { port: this.opts.discoveryPort } : {}),
      ...(signal ? { signal } : {}),
    };
  }

  private tmpName(kind: string): string {
    return join(this.tmpDir, `${kind}-${randomBytes(8).toString('hex')}`);
  }

  /** Download a URL into a temp file; undefined on 404 when `optional`. */
  private async download(url: string, http: HttpGetOptions, max: number, optional: boolean): Promise<string | undefined> {
    const res = await httpOpen(new URL(url), http);
    if (res.status === 404 && optional) {
      res.body.resume();
      return undefined;
    }
    if (res.status < 200 || res.status >= 300) {
      res.body.resume();
      const code = res.status === 401 || res.status === 403 ? 'PermissionDenied' : res.status >= 500 ? 'Unavailable' : 'NotFound';
      throw new BerthError(code, `GET ${url}: HTTP ${res.status}`);
    }
    await makeDirs(this.tmpDir);
    const file = this.tmpName('dl');
    let n = 0;
    try {
      await pipeline(
        res.body,
        async function* (src: AsyncIterable<Buffer>) {
          for await (const c of src) {
            n += c.length;
            if (n > max) throw new BerthError('FailedPrecondition', `GET ${url}: more than ${max} bytes`);
            yield c;
          }
        },
        createWriteStream(file, { flags: 'wx', mode: 0o600 }),
      );
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
    return file;
  }

  /** The ACI and its `.asc` at a URL. */
  private async fromUrl(url: string, http: HttpGetOptions, max: number): Promise<FetchedAci> {
    const aci = (await this.download(url, http, max, false))!;
    try {
      const asc = await this.download(`${url}.asc`, http, MAX_SIG, true);
      if (!asc) return { file: aci, signature: undefined, source: url };
      try {
        return { file: aci, signature: await readFile(asc), source: url };
      } finally {
        await rm(asc, { force: true });
      }
    } catch (err) {
      await rm(aci, { force: true });
      throw err;
    }
  }

  /** A private copy of a local ACI, with `<path>.asc` when there is one. */
  async file(path: string, raw: string): Promise<FetchedAci> {
    if (!(await pathExists(path))) throw new BerthError('NotFound', `${raw}: no such file`);
    const signature = await readSigFile(`${path}.asc`);
    await makeDirs(this.tmpDir);
    const copy = this.tmpName('local');
    await copyFile(path, copy);
    return { file: copy, signature, source: path };
  }

  async url(url: string, signal?: AbortSignal): Promise<FetchedAci> {
    return this.fromUrl(url, await this.httpOptions(signal), MAX_DOWNLOAD);
  }

  /**
   * Each endpoint meta discovery finds for `name` + labels, downloaded in turn and handed to
   * `use` (which imports it); an endpoint that cannot be fetched is skipped, the next tried.
   */
  async discovered<T>(
    name: string,
    labels: Record<string, string>,
    use: (aci: FetchedAci) => Promise<T>,
    signal?: AbortSignal,
    size?: number,
  ): Promise<T> {
    const http = await this.httpOptions(signal);
    const found = await discover(name, labels, http);
    const errors: string[] = [];
    for (const ep of found.endpoints) {
      let aci: FetchedAci;
      try {
        aci = await this.fromUrl(ep.aci, http, size ?? MAX_DOWNLOAD);
      } catch (err) {
        // an endpoint that cannot be fetched (scheme, HTTP error, network): try the next one
        if (codeOf(err) === 'Canceled') throw err;
        errors.push(`${ep.aci}: ${(err as Error).message}`);
        continue;
      }
      try {
        return await use(aci);
      } finally {
        await this.release(aci);
      }
    }
    throw new BerthError('Unavailable', `appc ${name}: no discovered endpoint could be fetched (${errors.join('; ')})`);
  }

  /** Drop the temp file of a fetched ACI. */
  async release(aci: FetchedAci): Promise<void> {
    await rm(aci.file, { force: true });
  }

  /**
   * A public key offered at the `ac-discovery-pubkeys` URL for `name`, only when it has the
   * fingerprint the operator confirmed (PermissionDenied otherwise): the caller (`berth trust
   * add`) stores it under `prefix`.
   */
  async discoveredKey(
    name: string,
    expectedFingerprint: string | undefined,
    signal?: AbortSignal,
  ): Promise<{ prefix: string; fingerprint: string; armored: string; url: string }> {
    if (!expectedFingerprint)
      throw new BerthError(
        'PermissionDenied',
        `keys discovered for ${name} are trusted only with the fingerprint confirmed by the operator`,
      );
    const http = await this.httpOptions(signal);
    const found = await discover(name, {}, http, 'pubkeys');
    const errors: string[] = [];
    for (const url of found.pubkeys) {
      try {
        const r = await httpGet(new URL(url), http, 1024 * 1024);
        if (r.status !== 200) throw new BerthError('NotFound', `HTTP ${r.status}`);
        return { prefix: found.prefix, url, ...(await pickConfirmedKey(r.body, expectedFingerprint, url)) };
      } catch (err) {
        errors.push(`${url}: ${(err as Error).message}`);
      }
    }
    throw new BerthError('PermissionDenied', `no key with fingerprint ${expectedFingerprint} found for ${name} (${errors.join('; ')})`);
  }

  /** Remove downloads a crash left in `<state>/appc/tmp` (call when nothing is in flight); returns how many. */
  async pruneTmp(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.tmpDir);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return 0;
      throw err;
    }
    for (const n of names) await rm(join(this.tmpDir, n), { recursive: true, force: true });
    return names.length;
  }
}

async function readSigFile(path: string): Promise<Buffer | undefined> {
  try {
    const st = await stat(path);
    if (st.size > MAX_SIG) throw new BerthError('PermissionDenied', `${path}: signature larger than ${MAX_SIG} bytes`);
    return await readFile(path);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}
