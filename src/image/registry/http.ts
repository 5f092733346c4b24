/**
 * The HTTP exchange with a registry, on node:http/node:https so that each request controls
 * TLS verification (insecure registries, DST-13), redirects (followed by hand, never
 * forwarding Authorization to another host, DST-07), streaming bodies and timeouts.
 * The registry's error document (DST-12) becomes a BerthError whose code decides what the
 * pod machine does: UNAUTHORIZED/DENIED → PermissionDenied, *_UNKNOWN → NotFound,
 * TOOMANYREQUESTS and 5xx → Unavailable (with the Retry-After delay in details).
 */
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BerthError } from '../../common/index.js';
import type { ErrorCode } from '../../common/index.js';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** the final URL after redirects */
  url: URL;
  body: IncomingMessage;
}

export interface HttpRequest {
  method?: 'GET' | 'HEAD' | 'POST';
  url: URL;
  headers?: Record<string, string>;
  body?: string;
  /** skip TLS verification (insecure registries only) */
  insecureTls?: boolean;
  signal?: AbortSignal;
  /** redirects to follow (DST-07); 0 returns the 3xx itself */
  maxRedirects?: number;
  /** idle timeout of the socket in ms */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT = 30_000;

function once(req: HttpRequest, url: URL, headers: Record<string, string>): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const fn = url.protocol === 'https:' ? httpsRequest : url.protocol === 'http:' ? httpRequest : undefined;
    if (!fn) {
      reject(new BerthError('InvalidArgument', `unsupported URL scheme ${url.protocol} (${url.href})`));
      return;
    }
    const r = fn(
      url,
      {
        method: req.method ?? 'GET',
        headers: { 'User-Agent': 'berth/0.1', ...headers },
        ...(url.protocol === 'https:' ? { rejectUnauthorized: !req.insecureTls } : {}),
        signal: req.signal,
        timeout: req.timeoutMs ?? DEFAULT_TIMEOUT,
      },
      (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, url, body: res }),
    );
    r.on('timeout', () => r.destroy(new BerthError('Unavailable', `${req.method ?? 'GET'} ${url.href}: timed out`)));
    r.on('error', (err) => {
      if (err instanceof BerthError) reject(err);
      else if (req.signal?.aborted) reject(new BerthError('Canceled', `${url.href}: canceled`, { cause: err }));
      else reject(new BerthError('Unavailable', `${req.method ?? 'GET'} ${url.href}: ${err.message}`, { cause: err }));
    });
    r.end(req.body);
  });
}

/**
 * One request, following redirects. Authorization (and cookies) are sent only to the
 * original host:port; a redirect elsewhere (blob storage) goes without them (DST-07).
 */
export async function send(req: HttpRequest): Promise<HttpResponse> {
  let url = req.url;
  const origin = req.url.host;
  let headers = { ...(req.headers ?? {}) };
  for (let hops = 0; ; hops++) {
    if (url.host !== origin || (req.url.protocol === 'https:' && url.protocol !== 'https:')) {
      const { Authorization: _a, authorization: _b, ...rest } = headers;
      headers = rest;
    }
    const res = await once(req, url, headers);
    const loc = res.headers.location;
    if (res.status >= 300 && res.status < 400 && res.status !== 304 && loc && hops < (req.maxRedirects ?? 10)) {
      res.body.resume();
      url = new URL(loc, url);
      continue;
    }
    return res;
  }
}

/** Read a whole (small) body, refusing more than `max` bytes. */
export async function readBody(res: HttpResponse, max: number): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    res.body.destroy();
    throw new BerthError('FailedPrecondition', `${res.url.href}: body of ${declared} bytes is over the ${max}-byte limit`);
  }
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > max) {
      res.body.destroy();
      throw new BerthError('FailedPrecondition', `${res.url.href}: body over the ${max}-byte limit`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

export interface RegistryErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

/** DST-12: the registry error document, tolerant of non-JSON bodies. */
export function parseRegistryErrors(body: Buffer): RegistryErrorEntry[] {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: unknown };
    if (!Array.isArray(doc.errors)) return [];
    return doc.errors
      .filter((e): e is Record<string, unknown> => e !== null && typeof e === 'object')
      .map((e) => ({
        code: String(e.code ?? 'UNKNOWN'),
        ...(typeof e.message === 'string' ? { message: e.message } : {}),
        ...(e.detail !== undefined ? { detail: e.detail } : {}),
      }));
  } catch {
    return []; // not a registry error document: the caller reports the HTTP status alone
  }
}

const CODE_MAP: Record<string, ErrorCode> = {
  UNAUTHORIZED: 'PermissionDenied',
  DENIED: 'PermissionDenied',
  BLOB_UNKNOWN: 'NotFound',
  MANIFEST_UNKNOWN: 'NotFound',
  MANIFEST_BLOB_UNKNOWN: 'NotFound',
  NAME_UNKNOWN: 'NotFound',
  NAME_INVALID: 'InvalidArgument',
  TAG_INVALID: 'InvalidArgument',
  DIGEST_INVALID: 'FailedPrecondition',
  MANIFEST_INVALID: 'FailedPrecondition',
  MANIFEST_UNVERIFIED: 'FailedPrecondition',
  SIZE_INVALID: 'FailedPrecondition',
  UNSUPPORTED: 'Unimplemented',
  TOOMANYREQUESTS: 'Unavailable',
};

/** Retry-After (seconds or an HTTP date) in ms, bounded; undefined when absent or invalid. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now(), maxMs = 60_000): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  let ms: number;
  if (/^\d+$/.test(v.trim())) ms = Number(v.trim()) * 1000;
  else {
    const t = Date.parse(v);
    if (Number.isNaN(t)) return undefined;
    ms = t - now;
  }
  return Math.min(Math.max(0, ms), maxMs);
}

/** The BerthError for a non-2xx registry answer (DST-12). */
export function registryError(what: string, status: number, headers: IncomingHttpHeaders, body: Buffer): BerthError {
  const errors = parseRegistryErrors(body);
  const first = errors[0];
  let code: ErrorCode;
  if (first && CODE_MAP[first.code]) code = CODE_MAP[first.code] as ErrorCode;
  else if (status === 401 || status === 403) code = 'PermissionDenied';
  else if (status === 404) code = 'NotFound';
  else if (status === 429 || status >= 500 || status === 408) code = 'Unavailable';
  else code = 'FailedPrecondition';
  const text = errors.length
    ? errors.map((e) => `${e.code}${e.message ? `: ${e.message}` : ''}`).join('; ')
    : body.length && body.length < 512 && !/[<>]/.test(body.toString('utf8'))
      ? body.toString('utf8').trim()
      : `HTTP ${status}`;
  const retry = retryAfterMs(headers['retry-after']);
  return new BerthError(code, `${what}: ${text} (HTTP ${status})`, {
    details: { status, errors, ...(retry !== undefined ? { retryAfterMs: retry } : {}) },
  });
}
