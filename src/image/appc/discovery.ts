/**
 * appc meta discovery (`spec/discovery.md`, after `discovery/discovery.go`): GET
 * `https://{prefix}?ac-discovery=1`, read `<meta name="ac-discovery" content="PREFIX TEMPLATE">`
 * and `<meta name="ac-discovery-pubkeys" content="PREFIX URL">` whose PREFIX is a prefix of
 * the name; when a page gives nothing (an HTTP error, or no usable tag) try the parent path,
 * up to the first component. Templates get `{name}`, `{version}` (default `latest`), `{os}`,
 * `{arch}`, any other requested label, then `{ext}` = `aci` / `aci.asc`; a template left with
 * an unrendered `{…}` is skipped. HTTPS by default; plain HTTP only for hosts marked
 * `insecure = true` in registries.conf (then https is tried first, as appc's httpsOrHTTP does).
 */
import { BerthError, errorMessage, hasCode } from '../../common/index.js';
import { readBody, send, type HttpResponse } from '../registry/http.js';

export interface AcMeta {
  name: 'ac-discovery' | 'ac-discovery-pubkeys';
  prefix: string;
  uri: string;
}

export interface AciEndpoint {
  aci: string;
  asc: string;
}

export interface DiscoveryResult {
  endpoints: AciEndpoint[];
  pubkeys: string[];
  /** the prefix whose page answered */
  prefix: string;
  /** the attempts that failed before, with their reasons (for messages) */
  failures: Array<{ prefix: string; error: string }>;
}

const MAX_PAGE = 1024 * 1024;

function decodeEntities(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, '&');
}

/** Attributes of one start tag's text (after the tag name). */
function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const key = m[1]!.toLowerCase();
    if (!out.has(key)) out.set(key, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return out;
}

/** The `ac-*` meta tags of an HTML page, in document order. */
export function extractAcMeta(html: string): AcMeta[] {
  const out: AcMeta[] = [];
  const noComments = html.replace(/<!--[\s\S]*?-->/g, '');
  const re = /<meta\b([^>]*)>/gi;
  for (let m = re.exec(noComments); m; m = re.exec(noComments)) {
    const attrs = attributes(m[1]!.replace(/\/$/, ''));
    const name = attrs.get('name') ?? '';
    const content = (attrs.get('content') ?? '').trim();
    const sp = content.search(/\s/);
    if (sp < 0) continue;
    const prefix = content.slice(0, sp);
    const uri = content.slice(sp + 1).trim();
    if ((name !== 'ac-discovery' && name !== 'ac-discovery-pubkeys') || !prefix || !uri) continue;
    out.push({ name, prefix, uri });
  }
  return out;
}

const TEMPLATE_EXPR = /\{.*?\}/;

/** Replace each `{key}` by its value; ok is false when a `{…}` remains. */
export function renderTemplate(tpl: string, vars: Array<[string, string]>): { text: string; ok: boolean } {
  let text = tpl;
  for (const [k, v] of vars) text = text.split(`{${k}}`).join(v);
  return { text, ok: !TEMPLATE_EXPR.test(text) };
}

/** The template variables of a request: name first (a label called "name" cannot override it), then labels. */
export function templateVars(name: string, labels: Record<string, string>): Array<[string, string]> {
  const withVersion = { ...labels, version: labels.version || 'latest' };
  return [['name', name], ...Object.entries(withVersion).filter(([k]) => k !== 'name')];
}

/** Endpoints and pubkey URLs a page offers for `name` (`doDiscover` without the fetch). */
export function endpointsFromMeta(
  meta: AcMeta[],
  name: string,
  labels: Record<string, string>,
): { endpoints: AciEndpoint[]; pubkeys: string[] } {
  const vars = templateVars(name, labels);
  const endpoints: AciEndpoint[] = [];
  const pubkeys: string[] = [];
  for (const m of meta) {
    if (!name.startsWith(m.prefix)) continue;
    if (m.name === 'ac-discovery-pubkeys') {
      pubkeys.push(m.uri);
      continue;
    }
    const uri = renderTemplate(m.uri, vars).text;
    const asc = renderTemplate(uri, [['ext', 'aci.asc']]);
    const aci = renderTemplate(uri, [['ext', 'aci']]);
    if (!asc.ok || !aci.ok) continue;
    endpoints.push({ aci: aci.text, asc: asc.text });
  }
  return { endpoints, pubkeys };
}

/** The prefixes tried for a name: the name, then each parent path. */
export function discoveryPrefixes(name: string): string[] {
  const parts = name.split('/');
  return parts.map((_, i) => parts.slice(0, parts.length - i).join('/'));
}

export interface HttpGetOptions {
  /** whether plain http (and unverified TLS) is allowed for a host (`host` or `host:port`) */
  isInsecure: (hostPort: string) => boolean;
  /** hosts whose registries.conf entry says `blocked = true` are refused (also as a redirect target) */
  isBlocked?: (hostPort: string) => boolean;
  /** test hook, like appc's: the port discovery pages are fetched from (default 443/80) */
  port?: number;
  signal?: AbortSignal;
}

/**
 * Open a GET of a URL: `https://` unless the host is insecure, in which case a failing https
 * attempt is retried over http (appc's httpsOrHTTP). Redirects are followed, never onto plain
 * http of a host that is not insecure. The caller reads or discards the body.
 */
export async function httpOpen(url: URL, opts: HttpGetOptions): Promise<HttpResponse> {
  const insecureHost = (u: URL) => opts.isInsecure(u.host) || opts.isInsecure(u.hostname);
  const insecure = insecureHost(url);
  const blocked = (u: URL) => opts.isBlocked?.(u.host) === true || opts.isBlocked?.(u.hostname) === true;
  if (blocked(url)) throw new BerthError('PermissionDenied', `${url.href}: host ${url.host} is blocked in registries.conf`);
  if (url.protocol === 'http:' && !insecure) {
    throw new BerthError('PermissionDenied', `${url.href}: plain http is allowed only for hosts marked insecure = true in registries.conf`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new BerthError('InvalidArgument', `${url.href}: only https (or http for insecure hosts) is supported`);
  const attempt = async (u: URL) => {
    const res = await send({ url: u, insecureTls: insecure, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (blocked(res.url)) {
      res.body.destroy();
      throw new BerthError('PermissionDenied', `${u.href}: redirected to ${res.url.href}, whose host is blocked in registries.conf`);
    }
    if (res.url.protocol === 'http:' && !insecureHost(res.url)) {
      res.body.destroy();
      throw new BerthError('PermissionDenied', `${u.href}: redirected to plain http ${res.url.href}, which is not an insecure host`);
    }
    return res;
  };
  if (url.protocol === 'https:' && insecure) {
    try {
      return await attempt(url);
    } catch (err) {
      if (hasCode(err, 'Canceled') || hasCode(err, 'PermissionDenied')) throw err;
      const plain = new URL(url.href);
      plain.protocol = 'http:';
      return attempt(plain);
    }
  }
  return attempt(url);
}

/** GET a small document: status and body (empty unless 2xx), bounded by `max`. */
export async function httpGet(url: URL, opts: HttpGetOptions, max: number): Promise<{ status: number; body: Buffer; url: URL }> {
  const res = await httpOpen(url, opts);
  if (res.status < 200 || res.status >= 300) {
    res.body.resume();
    return { status: res.status, body: Buffer.alloc(0), url: res.url };
  }
  return { status: res.status, body: await readBody(res, max), url: res.url };
}

/** Walk the prefixes of `name` until a page offers ACI endpoints (`want: 'aci'`) or pubkeys. */
export async function discover(
  name: string,
  labels: Record<string, string>,
  opts: HttpGetOptions,
  want: 'aci' | 'pubkeys' = 'aci',
): Promise<DiscoveryResult> {
  const failures: DiscoveryResult['failures'] = [];
  for (const prefix of discoveryPrefixes(name)) {
    const slash = prefix.indexOf('/');
    const host = slash < 0 ? prefix : prefix.slice(0, slash);
    const path = slash < 0 ? '' : prefix.slice(slash);
    const url = new URL(`https://${host}${opts.port ? `:${opts.port}` : ''}${path}?ac-discovery=1`);
    try {
      const r = await httpGet(url, opts, MAX_PAGE);
      if (r.status >= 400) {
        failures.push({ prefix, error: `HTTP ${r.status}` });
        continue;
      }
      const found = endpointsFromMeta(extractAcMeta(r.body.toString('utf8')), name, labels);
      if ((want === 'aci' ? found.endpoints : found.pubkeys).length === 0) {
        failures.push({ prefix, error: want === 'aci' ? 'no usable ac-discovery meta tag' : 'no ac-discovery-pubkeys meta tag' });
        continue;
      }
      return { ...found, prefix, failures };
    } catch (err) {
      if (hasCode(err, 'Canceled') || hasCode(err, 'PermissionDenied')) throw err;
      failures.push({ prefix, error: errorMessage(err) });
    }
  }
  const tried = failures.map((f) => `${f.prefix}: ${f.error}`).join('; ');
  throw new BerthError('NotFound', `appc discovery of ${name} found nothing (${tried})`);
}
