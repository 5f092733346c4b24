/**
 * A client for one repository on one registry endpoint (distribution-spec pull, DST-03..12):
 * the `/v2/` ping that learns the auth challenge, manifests with the full Accept list
 * (distribution 2.8.2 answers 404 to an OCI manifest GET without OCI types in Accept),
 * blobs as streams, the registry error document as BerthErrors, and Retry-After honoured
 * for a bounded number of attempts. https is used unless the endpoint is insecure; an
 * insecure endpoint is tried over https without verification first, then over http.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { BerthError, codeOf, silentLogger, sleep } from '../../common/index.js';
import type { Logger } from '../../common/index.js';
import { MAX_JSON_BODY, MediaType } from '../media-types.js';
import { basicHeader, parseChallenges, TokenCache } from './auth.js';
import type { Challenge, Credentials } from './auth.js';
import { readBody, registryError, send } from './http.js';
import type { HttpResponse } from './http.js';

/** Every manifest type berth reads (IMG-01, DST-04), plus `*\/*` as containerd sends. */
export const MANIFEST_ACCEPT = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
  '*/*;q=0.1',
].join(', ');

export interface Endpoint {
  /** host[:port] to connect to */
  host: string;
  /** plain http (and unverified TLS) allowed (registries.conf `insecure`) */
  insecure: boolean;
  /** the repository's path on this endpoint */
  repository: string;
  /** a mirror, not the primary location */
  mirror?: boolean;
}

export interface ClientDeps {
  tokens: TokenCache;
  /** credentials for a host (and repository), if any */
  credentials: (host: string, repository: string) => Promise<Credentials | undefined>;
  log?: Logger;
  /** longest Retry-After honoured per attempt, ms (default 10 s) */
  maxRetryDelayMs?: number;
  /** attempts for 429/503 answers (default 3) */
  attempts?: number;
  /** injectable sleep for tests */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface FetchedManifest {
  body: Buffer;
  /** Content-Type without parameters (IMG-03, DST-04) */
  mediaType: string | undefined;
  /** Docker-Content-Digest, when sent (DST-06) */
  headerDigest: string | undefined;
}

/** The common sleep, with a cancel reported as this module's Canceled error. */
function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return sleep(ms, signal).catch(() => {
    throw new BerthError('Canceled', 'pull canceled');
  });
}

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

export class RegistryClient {
  private base?: URL;
  private challenge?: Challenge | null;
  private authHeader?: string;
  private readonly log: Logger;
  private readonly scope: string;

  constructor(
    readonly endpoint: Endpoint,
    private readonly deps: ClientDeps,
  ) {
    this.log = (deps.log ?? silentLogger()).child({ component: 'registry' });
    this.scope = `repository:${endpoint.repository}:pull`;
  }

  get name(): string {
    return `${this.endpoint.host}/${this.endpoint.repository}`;
  }

  /** DST-03: find a scheme that answers and learn the auth challenge. */
  private async ping(signal?: AbortSignal): Promise<void> {
    if (this.base) return;
    const schemes = this.endpoint.insecure ? ['https', 'http'] : ['https'];
    let lastErr: unknown;
    for (const scheme of schemes) {
      const url = new URL(`${scheme}://${this.endpoint.host}/v2/`);
      let res: HttpResponse;
      try {
        res = await send({ url, insecureTls: this.endpoint.insecure, signal, timeoutMs: 15_000 });
      } catch (err) {
        if (codeOf(err) === 'Canceled') throw err;
        lastErr = err;
        continue;
      }
      res.body.resume();
      if (res.status === 401) {
        const ch = parseChallenges(res.headers['www-authenticate']);
        this.challenge = ch.find((c) => c.scheme === 'bearer') ?? ch.find((c) => c.scheme === 'basic') ?? null;
      } else if (res.status >= 200 && res.status < 300) {
        this.challenge = null;
      } else if (res.status === 404) {
        throw new BerthError('NotFound', `${this.endpoint.host} does not speak the registry API v2 (GET /v2/ answered 404)`);
      } else {
        throw registryError(`${this.endpoint.host}: /v2/`, res.status, res.headers, Buffer.alloc(0));
      }
      this.base = new URL(`${scheme}://${this.endpoint.host}/v2/`);
      return;
    }
    const hint = this.endpoint.insecure ? '' : ' (if it serves plain http, mark it insecure in registries.conf)';
    throw new BerthError(
      'Unavailable',
      `registry ${this.endpoint.host} is unreachable${hint}: ${(lastErr as Error)?.message ?? 'no answer'}`,
      { cause: lastErr },
    );
  }

  private async authorize(signal: AbortSignal | undefined, force: boolean): Promise<string | undefined> {
    if (!this.challenge) return undefined;
    if (this.authHeader && !force) return this.authHeader;
    const creds = await this.deps.credentials(this.endpoint.host, this.endpoint.repository);
    if (this.challenge.scheme === 'basic') {
      if (!creds || !('password' in creds)) {
        throw new BerthError(
          'PermissionDenied',
          `${this.name}: the registry requires credentials (Basic auth) and none are configured for ${this.endpoint.host} in auth.json`,
        );
      }
      this.authHeader = basicHeader(creds);
    } else if (this.challenge.scheme === 'bearer') {
      if (force) this.deps.tokens.invalidate(TokenCache.key(this.challenge, [this.scope], creds?.username));
      const token = await this.deps.tokens.token(this.challenge, [this.scope], creds, { insecure: this.endpoint.insecure, signal });
      this.authHeader = `Bearer ${token}`;
    } else {
      throw new BerthError('Unimplemented', `${this.name}: unsupported auth scheme ${this.challenge.scheme}`);
    }
    return this.authHeader;
  }

  /** An authorized request; a 401 refreshes the credentials once, 429/503 honour Retry-After. */
  private async request(
    method: 'GET' | 'HEAD',
    path: string,
    headers: Record<string, string>,
    what: string,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    await this.ping(signal);
    const url = new URL(path, this.base);
    const attempts = this.deps.attempts ?? 3;
    const wait = this.deps.sleep ?? abortableSleep;
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      const auth = await this.authorize(signal, false);
      const res = await send({
        method,
        url,
        headers: { ...headers, ...(auth ? { Authorization: auth } : {}) },
        insecureTls: this.endpoint.insecure,
        signal,
      });
      if (res.status >= 200 && res.status < 300) return res;
      const body = method === 'HEAD' ? Buffer.alloc(0) : await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0)); // the status decides; the body only adds detail
      if (res.status === 401 && this.challenge && !refreshed) {
        const ch = parseChallenges(res.headers['www-authenticate']);
        const next = ch.find((c) => c.scheme === this.challenge?.scheme);
        if (next) this.challenge = next;
        refreshed = true;
        this.authHeader = undefined;
        await this.authorize(signal, true);
        continue;
      }
      const err = registryError(what, res.status, res.headers, body);
      if (res.status === 401 || res.status === 403) {
        throw new BerthError('PermissionDenied', `${err.message}: the registry refused the credentials for ${this.endpoint.host}`, {
          cause: err,
          details: err.details,
        });
      }
      const retry = err.details?.retryAfterMs as number | undefined;
      if ((res.status === 429 || res.status === 503) && attempt < attempts) {
        const delay = Math.min(retry ?? 1000 * attempt, this.deps.maxRetryDelayMs ?? 10_000);
        this.log.warn({ status: res.status, delayMs: delay, attempt }, 'registry asked to retry later');
        await wait(delay, signal);
        continue;
      }
      throw err;
    }
  }

  /** DST-04: a manifest by tag or digest, its body capped at 4 MiB (IMG-08). */
  async getManifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const what = `${this.name}: manifest ${reference}`;
    const res = await this.request('GET', `${this.endpoint.repository}/manifests/${reference}`, { Accept: MANIFEST_ACCEPT }, what, signal);
    const body = await readBody(res, MAX_JSON_BODY);
    const ct = header(res.headers, 'content-type')?.split(';')[0]?.trim().toLowerCase();
    return { body, mediaType: ct, headerDigest: header(res.headers, 'docker-content-digest')?.trim() };
  }

  /** DST-05: a blob as a stream (redirects followed without Authorization, DST-07). */
  async openBlob(digest: string, signal?: AbortSignal): Promise<{ stream: IncomingMessage; length: number | undefined }> {
    const res = await this.request('GET', `${this.endpoint.repository}/blobs/${digest}`, {}, `${this.name}: blob ${digest}`, signal);
    const len = Number(header(res.headers, 'content-length'));
    return { stream: res.body, length: Number.isFinite(len) ? len : undefined };
  }
}
