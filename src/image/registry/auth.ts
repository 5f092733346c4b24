/**
 * Registry authentication (DST-08..11): WWW-Authenticate challenges (RFC 7235/6750), the
 * Bearer token flow of distribution's token spec, and Basic credentials. Tokens are cached
 * per realm, service and scope until they expire.
 */
import { BerthError } from '../../common/index.js';
import { readBody, registryError, send } from './http.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

export type Credentials = { username: string; password: string } | { identityToken: string; username?: string };

/** Parse a WWW-Authenticate header into its challenges (quoted strings, several challenges). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(header) ? header.join(', ') : (header ?? '');
  const out: Challenge[] = [];
  let i = 0;
  const n = text.length;
  const skipWs = () => {
    while (i < n && /[\s,]/.test(text[i] as string)) i++;
  };
  while (i < n) {
    skipWs();
    const m = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(text.slice(i));
    if (!m) break;
    const scheme = m[0];
    i += scheme.length;
    const params: Record<string, string> = {};
    for (;;) {
      const save = i;
      while (i < n && /[\s,]/.test(text[i] as string)) i++;
      const km = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*/.exec(text.slice(i));
      if (!km) {
        i = save;
        break;
      }
      i += km[0].length;
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) i++;
          value += text[i];
          i++;
        }
        i++;
      } else {
        const vm = /^[^\s,]*/.exec(text.slice(i));
        value = vm ? vm[0] : '';
        i += value.length;
      }
      params[(km[1] as string).toLowerCase()] = value;
    }
    out.push({ scheme: scheme.toLowerCase(), params });
  }
  return out;
}

export function basicHeader(c: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface TokenOptions {
  /** the registry is configured insecure: an http realm is acceptable (DST-11) */
  insecure: boolean;
  signal?: AbortSignal;
  now?: () => number;
}

/**
 * DST-11: the realm must be https unless the registry is configured insecure (then http is
 * accepted too, e.g. a token server beside a registry on 127.0.0.1). Realms on private
 * addresses are not refused: registries on private networks commonly run their own.
 */
export function checkRealm(realm: string, insecure: boolean): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch (err) {
    throw new BerthError('FailedPrecondition', `token realm "${realm}" is not a URL`, { cause: err });
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && insecure) return url;
  throw new BerthError('FailedPrecondition', `token realm ${realm} must use https (the registry is not configured insecure)`);
}

/** Tokens of one process, shared by every pull (cache per realm, service and scope; DST-10). */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<string>>();

  invalidate(key: string): void {
    this.tokens.delete(key);
  }

  static key(challenge: Challenge, scopes: string[], user: string | undefined): string {
    return `${challenge.params.realm ?? ''}|${challenge.params.service ?? ''}|${[...scopes].sort().join(' ')}|${user ?? ''}`;
  }

  async token(challenge: Challenge, scopes: string[], creds: Credentials | undefined, opts: TokenOptions): Promise<string> {
    const now = opts.now ?? Date.now;
    const key = TokenCache.key(challenge, scopes, creds?.username);
    const hit = this.tokens.get(key);
    if (hit && hit.expiresAt > now()) return hit.token;
    const running = this.inflight.get(key);
    if (running) return running;
    const p = fetchToken(challenge, scopes, creds, opts)
      .then((t) => {
        this.tokens.set(key, { token: t.token, expiresAt: now() + t.expiresIn * 1000 - 5_000 });
        return t.token;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }
}

/** DST-09/10: ask the realm for a token; GET with Basic credentials, POST for identity tokens. */
export async function fetchToken(
  challenge: Challenge,
  scopes: string[],
  creds: Credentials | undefined,
  opts: TokenOptions,
): Promise<{ token: string; expiresIn: number }> {
  const realm = challenge.params.realm;
  if (!realm) throw new BerthError('FailedPrecondition', 'Bearer challenge without realm');
  const url = checkRealm(realm, opts.insecure);
  const service = challenge.params.service;
  let res;
  if (creds && 'identityToken' in creds) {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'berth' });
    if (service) form.set('service', service);
    for (const s of scopes) form.append('scope', s);
    res = await send({
      method: 'POST',
      url,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
      insecureTls: opts.insecure,
      signal: opts.signal,
    });
    if (res.status === 404 || res.status === 405) {
      // a token server that only speaks GET (go-containerregistry falls back the same way)
      res.body.resume();
      res = undefined;
    }
  }
  if (!res) {
    const basic = creds && 'password' in creds ? creds : undefined;
    const q = new URL(url.href);
    if (service) q.searchParams.set('service', service);
    for (const s of scopes) q.searchParams.append('scope', s);
    if (basic) q.searchParams.set('account', basic.username);
    const headers: Record<string, string> = basic ? { Authorization: basicHeader(basic) } : {};
    res = await send({ url: q, headers, insecureTls: opts.insecure, signal: opts.signal });
  }
  const body = await readBody(res, 1024 * 1024);
  if (res.status === 401 || res.status === 403) {
    const who = creds?.username ? `user "${creds.username}"` : 'anonymous access';
    throw new BerthError(
      'PermissionDenied',
      `token server ${url.host} refused ${who} for ${scopes.join(' ')} (HTTP ${res.status}): check the credentials in auth.json`,
      {
        details: { status: res.status },
      },
    );
  }
  if (res.status < 200 || res.status >= 300) throw registryError(`token server ${url.host}`, res.status, res.headers, body);
  let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    doc = JSON.parse(body.toString('utf8')) as typeof doc;
  } catch (err) {
    throw new BerthError('FailedPrecondition', `token server ${url.host} answered with something that is not JSON`, { cause: err });
  }
  const token = typeof doc.token === 'string' && doc.token ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : '';
  if (!token) throw new BerthError('FailedPrecondition', `token server ${url.host} returned no token`);
  const expiresIn = typeof doc.expires_in === 'number' && doc.expires_in >= 60 ? doc.expires_in : 60;
  return { token, expiresIn };
}
