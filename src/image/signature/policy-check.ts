/**
 * Evaluate the trust policy (`<config-dir>/policy.json`) for an image before anything of it
 * is rendered: the requirement list of the most specific scope, every requirement must hold.
 * `signedBy` reads signatures from the lookaside configured in `<config-dir>/registries.d/`
 * (`file://` paths or `http(s)://` URLs), `signature-1`, `signature-2`, … until one is
 * missing, and is satisfied by any one signature that passes every check. A refusal is a
 * PermissionDenied BerthError naming the scope and every signature's reason.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type * as openpgp from 'openpgp';
import { BerthError, errorMessage, errnoOf } from '../../common/index.js';
import { dockerScopes, loadPolicy, pathScopes, requirementsFor } from '../config/policy.js';
import type { Policy, PolicyRequirement } from '../config/policy.js';
import { loadRegistriesD, lookasideFor, signatureUrl } from '../config/registries-d.js';
import type { RegistriesD } from '../config/registries-d.js';
import { readBody, send } from '../registry/http.js';
import type { ImageReference } from '../types.js';
import { readPublicKeys, verifyImageSignature } from './simple-signing.js';

const MAX_SIGNATURES = 16;

export interface PolicyVerdict {
  scope: string;
  /** requirement types that were checked */
  requirements: string[];
  /** fingerprints of the keys whose signatures were accepted */
  signedBy: string[];
}

/** Fetch signature n (1-based) from a lookaside base; undefined when there is none. */
export async function fetchLookasideSignature(
  base: string,
  name: string,
  digest: string,
  n: number,
  signal?: AbortSignal,
): Promise<Buffer | undefined> {
  const url = new URL(signatureUrl(base, name, digest, n));
  if (url.protocol === 'file:') {
    try {
      return await readFile(fileURLToPath(url));
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return undefined;
      throw err;
    }
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BerthError('InvalidArgument', `unsupported lookaside URL ${base}`);
  const res = await send({ url, signal });
  if (res.status === 404) {
    res.body.resume();
    return undefined;
  }
  if (res.status < 200 || res.status >= 300) {
    res.body.resume();
    throw new BerthError('Unavailable', `signature ${url.href}: HTTP ${res.status}`);
  }
  return readBody(res, 4 * 1024 * 1024);
}

export interface PolicyCheckInput {
  ref: ImageReference;
  /** digest of the top-level manifest (what signatures sign) */
  manifestDigest: string;
  signal?: AbortSignal;
}

export interface PolicyContext {
  policy: Policy;
  registriesD: RegistriesD;
  /** override for tests: fetch signature n (1-based) */
  fetchSignature?: (name: string, digest: string, n: number) => Promise<Buffer | undefined>;
}

export async function loadPolicyContext(configDir: string): Promise<PolicyContext> {
  return { policy: await loadPolicy(configDir), registriesD: await loadRegistriesD(configDir) };
}

/** Scopes and the policy's transport name for a reference. */
export function scopesOf(ref: ImageReference): { transport: string; scopes: string[]; name?: string; image?: string } {
  if (ref.transport === 'docker') {
    const name = `${ref.registry}/${ref.repository}`;
    const image = `${name}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`;
    return { transport: 'docker', scopes: dockerScopes(ref.registry, ref.repository, ref.tag, ref.digest), name, image };
  }
  // local transports (oci, oci-archive, docker-archive, aci…): scopes are paths, URLs or names
  const r = ref as { transport: string; raw: string; path?: string; tag?: string; url?: string; name?: string };
  return { transport: r.transport, scopes: r.path !== undefined ? pathScopes(r.path, r.tag) : [r.url ?? r.name ?? r.raw, ''] };
}

async function keysOf(req: Extract<PolicyRequirement, { type: 'signedBy' }>): Promise<openpgp.Key[]> {
  const keys: openpgp.Key[] = [];
  for (const p of req.keyPaths) {
    let data: Buffer;
    try {
      data = await readFile(p);
    } catch (err) {
      throw new BerthError('FailedPrecondition', `trusted key file ${p} cannot be read: ${errorMessage(err)}`, { cause: err });
    }
    keys.push(...(await readPublicKeys(data, p)));
  }
  for (const d of req.keyData) keys.push(...(await readPublicKeys(d.includes('-----BEGIN') ? d : Buffer.from(d, 'base64'), 'keyData')));
  return keys;
}

/** Check the policy for an image; returns the verdict or throws PermissionDenied. */
export async function checkPolicy(ctx: PolicyContext, input: PolicyCheckInput): Promise<PolicyVerdict> {
  const { transport, scopes, name, image } = scopesOf(input.ref);
  const { scope, requirements } = requirementsFor(ctx.policy, transport, scopes);
  const where = `${input.ref.raw}: trust policy (${ctx.policy.file ?? 'built-in default'}, scope ${scope})`;
  const verdict: PolicyVerdict = { scope, requirements: requirements.map((r) => r.type), signedBy: [] };
  for (const req of requirements) {
    switch (req.type) {
      case 'insecureAcceptAnything':
        continue;
      case 'reject':
        throw new BerthError('PermissionDenied', `${where}: images are rejected`);
      case 'unsupported':
        throw new BerthError(
          'PermissionDenied',
          `${where}: requirement type ${req.what} is not supported by berth, so the image is refused`,
        );
      case 'signedBy': {
        if (!name || !image)
          throw new BerthError('PermissionDenied', `${where}: signedBy needs signatures, and ${transport}: images carry none`);
        const keys = await keysOf(req);
        if (keys.length === 0) throw new BerthError('FailedPrecondition', `${where}: signedBy lists no usable key`);
        const base = lookasideFor(ctx.registriesD, name);
        const fetchSig =
          ctx.fetchSignature ??
          (base ? (nm: string, d: string, n: number) => fetchLookasideSignature(base, nm, d, n, input.signal) : undefined);
        if (!fetchSig)
          throw new BerthError(
            'PermissionDenied',
            `${where}: signedBy requires a signature, but no lookaside is configured for ${name} in registries.d`,
          );
        const reasons: string[] = [];
        let accepted: string | undefined;
        for (let n = 1; n <= MAX_SIGNATURES; n++) {
          const sig = await fetchSig(name, input.manifestDigest, n);
          if (!sig) break;
          try {
            const ok = await verifyImageSignature(sig, keys, {
              manifestDigest: input.manifestDigest,
              image,
              signedIdentity: req.signedIdentity,
            });
            accepted = ok.fingerprint;
            break;
          } catch (err) {
            reasons.push(`signature-${n}: ${errorMessage(err)}`);
          }
        }
        if (!accepted) {
          const why = reasons.length
            ? reasons.join('; ')
            : `no signature found for ${name}@${input.manifestDigest}${base ? ` in ${base}` : ''}`;
          throw new BerthError('PermissionDenied', `${where}: signedBy not satisfied: ${why}`);
        }
        verdict.signedBy.push(accepted);
        continue;
      }
    }
  }
  return verdict;
}
