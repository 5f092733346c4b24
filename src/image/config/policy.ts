/**
 * containers-policy.json(5) at `<config-dir>/policy.json`: a `default` list of requirements
 * and per-transport, per-scope lists (`transports.docker["registry.example.com/ns"]`).
 * Requirements: `insecureAcceptAnything`, `reject`, `signedBy` (keyType `GPGKeys`, one of
 * `keyPath` / `keyPaths` / `keyData`, `signedIdentity` matchRepoDigestOrExact (default),
 * matchRepository, matchExact, exactReference, exactRepository, remapIdentity). Every
 * requirement of the chosen list must be satisfied. Other requirement types are refused
 * (an image under them is rejected, never silently accepted).
 *
 * Without a policy.json berth accepts every image (containers' shipped default is the same
 * `insecureAcceptAnything`); `berth trust add` creates the file.
 */
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { BerthError, readTextIfExists } from '../../common/index.js';

export type SignedIdentity =
  | { type: 'matchRepoDigestOrExact' }
  | { type: 'matchRepository' }
  | { type: 'matchExact' }
  | { type: 'exactReference'; dockerReference: string }
  | { type: 'exactRepository'; dockerRepository: string }
  | { type: 'remapIdentity'; prefix: string; signedPrefix: string };

export type PolicyRequirement =
  | { type: 'insecureAcceptAnything' }
  | { type: 'reject' }
  | { type: 'signedBy'; keyType: 'GPGKeys'; keyPaths: string[]; keyData: string[]; signedIdentity: SignedIdentity }
  | { type: 'unsupported'; what: string };

export interface Policy {
  default: PolicyRequirement[];
  transports: Record<string, Record<string, PolicyRequirement[]>>;
  /** the file it was read from (undefined: the built-in default) */
  file?: string;
}

export const DEFAULT_POLICY: Policy = { default: [{ type: 'insecureAcceptAnything' }], transports: {} };

function bad(file: string, why: string): BerthError {
  return new BerthError('InvalidArgument', `${file}: ${why}`);
}

function parseIdentity(v: unknown, file: string, where: string): SignedIdentity {
  if (v === undefined) return { type: 'matchRepoDigestOrExact' };
  const o = v as Record<string, unknown>;
  switch (o?.type) {
    case 'matchRepoDigestOrExact':
    case 'matchRepository':
    case 'matchExact':
      return { type: o.type };
    case 'exactReference':
      if (typeof o.dockerReference !== 'string') throw bad(file, `${where}: exactReference needs dockerReference`);
      return { type: 'exactReference', dockerReference: o.dockerReference };
    case 'exactRepository':
      if (typeof o.dockerRepository !== 'string') throw bad(file, `${where}: exactRepository needs dockerRepository`);
      return { type: 'exactRepository', dockerRepository: o.dockerRepository };
    case 'remapIdentity':
      if (typeof o.prefix !== 'string' || typeof o.signedPrefix !== 'string')
        throw bad(file, `${where}: remapIdentity needs prefix and signedPrefix`);
      return { type: 'remapIdentity', prefix: o.prefix, signedPrefix: o.signedPrefix };
    default:
      throw bad(file, `${where}: unknown signedIdentity type ${JSON.stringify(o?.type)}`);
  }
}

function parseRequirement(v: unknown, file: string, where: string, baseDir: string): PolicyRequirement {
  const o = v as Record<string, unknown>;
  if (o === null || typeof o !== 'object') throw bad(file, `${where}: a requirement must be an object`);
  switch (o.type) {
    case 'insecureAcceptAnything':
      return { type: 'insecureAcceptAnything' };
    case 'reject':
      return { type: 'reject' };
    case 'signedBy': {
      if (o.keyType !== 'GPGKeys') throw bad(file, `${where}: signedBy keyType must be "GPGKeys" (got ${JSON.stringify(o.keyType)})`);
      const given = ['keyPath', 'keyPaths', 'keyData'].filter((k) => o[k] !== undefined);
      if (given.length !== 1) throw bad(file, `${where}: signedBy needs exactly one of keyPath, keyPaths, keyData`);
      const abs = (p: unknown) => {
        if (typeof p !== 'string' || p === '') throw bad(file, `${where}: key paths must be non-empty strings`);
        return isAbsolute(p) ? p : resolve(baseDir, p);
      };
      const keyPaths = o.keyPath !== undefined ? [abs(o.keyPath)] : Array.isArray(o.keyPaths) ? o.keyPaths.map(abs) : [];
      if (o.keyPaths !== undefined && (!Array.isArray(o.keyPaths) || o.keyPaths.length === 0))
        throw bad(file, `${where}: keyPaths must be a non-empty list`);
      const keyData = o.keyData !== undefined ? [String(o.keyData)] : [];
      return { type: 'signedBy', keyType: 'GPGKeys', keyPaths, keyData, signedIdentity: parseIdentity(o.signedIdentity, file, where) };
    }
    case 'sigstoreSigned':
    case 'signedBaseLayer':
      return { type: 'unsupported', what: String(o.type) };
    default:
      throw bad(file, `${where}: unknown requirement type ${JSON.stringify(o.type)}`);
  }
}

function parseList(v: unknown, file: string, where: string, baseDir: string): PolicyRequirement[] {
  if (!Array.isArray(v) || v.length === 0) throw bad(file, `${where} must be a non-empty list of requirements`);
  return v.map((r, i) => parseRequirement(r, file, `${where}[${i}]`, baseDir));
}

export function parsePolicy(text: string, file = 'policy.json'): Policy {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new BerthError('InvalidArgument', `${file}: not valid JSON`, { cause: err });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw bad(file, 'must be a JSON object');
  const baseDir = dirname(file);
  const policy: Policy = { default: parseList(doc.default, file, 'default', baseDir), transports: {}, file };
  const transports = doc.transports ?? {};
  if (typeof transports !== 'object' || transports === null) throw bad(file, 'transports must be an object');
  for (const [t, scopes] of Object.entries(transports as Record<string, unknown>)) {
    if (typeof scopes !== 'object' || scopes === null) throw bad(file, `transports.${t} must be an object`);
    policy.transports[t] = {};
    for (const [scope, list] of Object.entries(scopes as Record<string, unknown>)) {
      (policy.transports[t] as Record<string, PolicyRequirement[]>)[scope] = parseList(list, file, `transports.${t}["${scope}"]`, baseDir);
    }
  }
  return policy;
}

export const policyPath = (configDir: string) => join(configDir, 'policy.json');

/** `<config-dir>/policy.json`, or the built-in accept-anything default when absent. */
export async function loadPolicy(configDir: string): Promise<Policy> {
  const f = policyPath(configDir);
  const text = await readTextIfExists(f);
  return text === undefined ? DEFAULT_POLICY : parsePolicy(text, f);
}

/**
 * Scopes of a registry reference, most specific first (containers-policy.json(5)):
 * `host/repo:tag` or `host/repo@digest`, `host/repo`, each parent namespace, `host`,
 * `*.domain` wildcards, then `""` (the transport's default).
 */
export function dockerScopes(registry: string, repository: string, tag?: string, digest?: string): string[] {
  const name = `${registry}/${repository}`;
  const out: string[] = [];
  if (digest) out.push(`${name}@${digest}`);
  if (tag) out.push(`${name}:${tag}`);
  const parts = name.split('/');
  for (let n = parts.length; n >= 1; n--) out.push(parts.slice(0, n).join('/'));
  const host = registry.replace(/:\d+$/, '');
  const labels = host.split('.');
  for (let i = 1; i < labels.length; i++) out.push(`*.${labels.slice(i).join('.')}`);
  out.push('');
  return out;
}

/** Scopes of a local transport (a path, optionally with a tag): the path, its parent directories, then "". */
export function pathScopes(path: string, tag?: string): string[] {
  const out: string[] = [];
  if (tag) out.push(`${path}:${tag}`);
  const parts = path.split('/');
  for (let n = parts.length; n >= 2; n--) out.push(parts.slice(0, n).join('/'));
  out.push('/', '');
  return out;
}

/** The requirement list for a transport and the scope candidates, with the scope that matched. */
export function requirementsFor(policy: Policy, transport: string, scopes: string[]): { scope: string; requirements: PolicyRequirement[] } {
  const t = policy.transports[transport];
  if (t) {
    for (const s of scopes) {
      const r = t[s];
      if (r) return { scope: s === '' ? `transports.${transport}[""]` : s, requirements: r };
    }
  }
  return { scope: 'default', requirements: policy.default };
}
