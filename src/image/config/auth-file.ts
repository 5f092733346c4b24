/**
 * Registry credentials in the ecosystem's formats (DST-15/16): containers-auth.json
 * (`{"auths": {"host[/ns[/repo]]": {"auth": base64(user:pass), "identitytoken"?}}}`) and
 * Docker's config.json (same `auths`, legacy `https://index.docker.io/v1/`-style keys).
 * Files are read in this order, the first one with a matching entry wins:
 *   <config-dir>/auth.json, $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 *   $DOCKER_CONFIG/config.json or ~/.docker/config.json.
 * Within a file the most specific key wins (`host/ns/repo` before `host/ns` before `host`).
 * Credential helpers (`credsStore`, `credHelpers`) are not run.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BerthError, readTextIfExists } from '../../common/index.js';
import type { Credentials } from '../registry/auth.js';

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** DST-16: a key as the lookup compares it: no scheme, Docker Hub aliases folded, legacy paths dropped. */
export function normalizeAuthKey(key: string): string {
  let k = key.trim();
  const hadScheme = /^[a-z]+:\/\//i.test(k);
  k = k.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  let [host, ...rest] = k.split('/');
  host = host ?? '';
  if (HUB_ALIASES.has(host)) host = 'docker.io';
  // keys with a scheme are Docker-style URLs whose path (/v1/) is not a namespace
  if (hadScheme || (rest.length === 1 && /^v[12]$/.test(rest[0] ?? ''))) rest = [];
  return [host, ...rest].join('/');
}

/** Decode one entry; undefined for an empty entry (a credential helper is in use). */
export function decodeAuthEntry(e: AuthEntry, where: string): Credentials | undefined {
  if (e.identitytoken) return { identityToken: e.identitytoken };
  if (e.auth) {
    const text = Buffer.from(e.auth, 'base64').toString('utf8').replace(/\0+$/, '');
    const i = text.indexOf(':');
    if (i < 0) throw new BerthError('InvalidArgument', `${where}: "auth" is not base64 of user:password`);
    return { username: text.slice(0, i), password: text.slice(i + 1) };
  }
  if (e.username !== undefined && e.password !== undefined) return { username: e.username, password: e.password };
  return undefined;
}

/** Credentials for `host/repository` from one parsed file, most specific key first. */
export function lookupAuth(doc: unknown, host: string, repository: string, where: string): Credentials | undefined {
  const auths = (doc as { auths?: Record<string, AuthEntry> } | null)?.auths;
  if (!auths || typeof auths !== 'object') return undefined;
  const byKey = new Map<string, AuthEntry>();
  for (const [k, v] of Object.entries(auths)) {
    const nk = normalizeAuthKey(k);
    if (!byKey.has(nk) || !/^[a-z]+:\/\//i.test(k)) byKey.set(nk, v);
  }
  const h = HUB_ALIASES.has(host) ? 'docker.io' : host;
  const parts = repository.split('/');
  for (let n = parts.length; n >= 0; n--) {
    const key = [h, ...parts.slice(0, n)].join('/');
    const e = byKey.get(key);
    if (e) return decodeAuthEntry(e, `${where} auths["${key}"]`);
  }
  return undefined;
}

export interface AuthSources {
  configDir?: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
}

/** The files searched, in order (see the module comment). */
export function authFiles(src: AuthSources): string[] {
  const env = src.env ?? process.env;
  const home = src.home ?? env.HOME ?? homedir();
  const files = src.configDir ? [join(src.configDir, 'auth.json')] : [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(env.DOCKER_CONFIG ? join(env.DOCKER_CONFIG, 'config.json') : join(home, '.docker', 'config.json'));
  return files;
}

/** Credentials for a registry host and repository, or undefined (anonymous). */
export async function findCredentials(src: AuthSources, host: string, repository: string): Promise<Credentials | undefined> {
  for (const f of authFiles(src)) {
    const text = await readTextIfExists(f);
    if (text === undefined) continue;
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new BerthError('InvalidArgument', `${f}: not valid JSON`, { cause: err });
    }
    const c = lookupAuth(doc, host, repository, f);
    if (c) return c;
  }
  return undefined;
}
