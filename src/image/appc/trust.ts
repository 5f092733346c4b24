/**
 * appc trust in rkt's model (`pkg/keystore`): armored public keys kept per name prefix and
 * as root keys under `<config-dir>/trustedkeys/`:
 *
 *   trustedkeys/prefix.d/<prefix path>/<lowercase fingerprint>   keys for names under a prefix
 *   trustedkeys/root.d/<lowercase fingerprint>                   keys for every name
 *
 * (`berth trust add --transport appc --prefix P KEYFILE` writes that layout; this module reads
 * it.) An ACI must carry a detached OpenPGP signature (`x.aci.asc`, armored or binary) made by
 * a key trusted for a prefix of its name (whole path components) or by a root key. Without a
 * valid signature it is refused, unless `<config-dir>/policy.json` says
 * `insecureAcceptAnything` for its name under the transport `appc`
 * (`{"transports":{"appc":{"example.com/app":[{"type":"insecureAcceptAnything"}]}}}`); the
 * top-level `default` of policy.json does not apply to appc, so an operator's existing
 * accept-anything default never switches ACI verification off.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type * as openpgp from 'openpgp';
import { loadOpenpgp } from '../signature/openpgp.js';
import { BerthError, errorMessage, errnoOf } from '../../common/index.js';
import { loadPolicy } from '../config/policy.js';

const MAX_KEY_FILE = 1024 * 1024;
const MAX_SIGNATURE = 64 * 1024;
const FINGERPRINT = /^[0-9a-f]{40}$|^[0-9a-f]{64}$/;

export const trustedKeysDir = (configDir: string) => join(configDir, 'trustedkeys');

/** The name and its parent paths, most specific first: a/b/c, a/b, a. */
export function namePrefixes(name: string): string[] {
  const parts = name.split('/');
  const out: string[] = [];
  for (let n = parts.length; n >= 1; n--) out.push(parts.slice(0, n).join('/'));
  return out;
}

export interface TrustedKey {
  fingerprint: string;
  /** the prefix it is trusted for; undefined for a root key */
  prefix?: string;
  key: openpgp.Key;
  file: string;
}

async function readKeyFile(file: string): Promise<openpgp.Key[]> {
  const data = await readFile(file);
  if (data.length > MAX_KEY_FILE) throw new BerthError('InvalidArgument', `${file}: larger than ${MAX_KEY_FILE} bytes`);
  const text = data.toString('utf8');
  const pgp = await loadOpenpgp();
  return text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----') ? pgp.readKeys({ armoredKeys: text }) : pgp.readKeys({ binaryKeys: data });
}

async function keysIn(dir: string, prefix: string | undefined, warn: (msg: string) => void): Promise<TrustedKey[]> {
  let names: string[];
  try {
    names = await readdir(dir, { withFileTypes: true }).then((es) => es.filter((e) => e.isFile()).map((e) => e.name));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return [];
    throw err;
  }
  const out: TrustedKey[] = [];
  for (const n of names.sort()) {
    if (!FINGERPRINT.test(n)) continue;
    const file = join(dir, n);
    try {
      for (const key of await readKeyFile(file)) {
        // rkt's rule: the file is named after the key's fingerprint; anything else is not trusted.
        if (key.getFingerprint().toLowerCase() !== n) {
          warn(`${file}: holds key ${key.getFingerprint()}, not ${n}; ignored`);
          continue;
        }
        out.push({ fingerprint: n, key, file, ...(prefix === undefined ? {} : { prefix }) });
      }
    } catch (err) {
      // one bad file in the keystore must not disable the good keys; it trusts nothing
      warn(`${file}: not a usable public key (${errorMessage(err)}); ignored`);
    }
  }
  return out;
}

/** Read side of the keystore: keys trusted for `name` (its prefixes, then root keys). */
export async function trustedKeysFor(
  configDir: string,
  name: string,
  warn: (msg: string) => void = () => undefined,
): Promise<TrustedKey[]> {
  const base = trustedKeysDir(configDir);
  const out: TrustedKey[] = [];
  for (const p of namePrefixes(name)) out.push(...(await keysIn(join(base, 'prefix.d', ...p.split('/')), p, warn)));
  out.push(...(await keysIn(join(base, 'root.d'), undefined, warn)));
  return out;
}

/** Every key in the keystore, whatever its prefix (to check a signature before the name is known). */
export async function allTrustedKeys(configDir: string, warn: (msg: string) => void = () => undefined): Promise<TrustedKey[]> {
  const base = join(trustedKeysDir(configDir), 'prefix.d');
  const out: TrustedKey[] = [];
  const walk = async (rel: string[], depth: number): Promise<void> => {
    if (depth > 32) return;
    if (rel.length) out.push(...(await keysIn(join(base, ...rel), rel.join('/'), warn)));
    let subdirs: string[] = [];
    try {
      subdirs = (await readdir(join(base, ...rel), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT' && errnoOf(err) !== 'ENOTDIR') throw err;
    }
    for (const d of subdirs.sort()) await walk([...rel, d], depth + 1);
  };
  await walk([], 0);
  out.push(...(await keysIn(join(trustedKeysDir(configDir), 'root.d'), undefined, warn)));
  return out;
}

function denied(msg: string, cause?: unknown): BerthError {
  return new BerthError('PermissionDenied', msg, cause === undefined ? undefined : { cause });
}

async function readSignature(sig: Uint8Array): Promise<openpgp.Signature> {
  const text = Buffer.from(sig).toString('utf8');
  const pgp = await loadOpenpgp();
  return text.includes('-----BEGIN PGP SIGNATURE-----')
    ? pgp.readSignature({ armoredSignature: text })
    : pgp.readSignature({ binarySignature: sig });
}

/**
 * Verify a detached signature over the file at `path` (streamed) with the given keys; the
 * signer's fingerprint, or PermissionDenied with the reason.
 */
export async function verifyDetached(path: string, sig: Uint8Array, keys: TrustedKey[], what: string): Promise<TrustedKey> {
  if (sig.length > MAX_SIGNATURE) throw denied(`${what}: signature larger than ${MAX_SIGNATURE} bytes`);
  let signature: openpgp.Signature;
  try {
    signature = await readSignature(sig);
  } catch (err) {
    throw denied(`${what}: the signature is not an OpenPGP signature (${errorMessage(err)})`, err);
  }
  const issuers = signature.getSigningKeyIDs().map((k) => k.toHex());
  const candidates = keys.filter((k) => k.key.getKeys().some((sk) => issuers.includes(sk.getKeyID().toHex())));
  if (candidates.length === 0) {
    throw denied(
      `${what}: signed by key ${issuers.join(', ') || '(unknown)'}, which is not trusted for this name (trustedkeys has ${keys.length ? keys.map((k) => k.fingerprint).join(', ') : 'no key for it'})`,
    );
  }
  const message = await (
    await loadOpenpgp()
  ).createMessage({ binary: Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array> });
  let result;
  try {
    result = await (await loadOpenpgp()).verify({ message, signature, verificationKeys: candidates.map((c) => c.key), format: 'binary' });
    // The data stream must be consumed for the signature check to complete.
    const reader = (result.data as unknown as ReadableStream<Uint8Array>).getReader();
    for (;;) if ((await reader.read()).done) break;
    const first = result.signatures[0];
    if (!first) throw new Error('no signature packet');
    await first.verified;
    const keyId = first.keyID.toHex();
    return candidates.find((c) => c.key.getKeys().some((sk) => sk.getKeyID().toHex() === keyId)) ?? candidates[0]!;
  } catch (err) {
    throw new BerthError('PermissionDenied', `${what}: bad signature: ${errorMessage(err)}`, {
      cause: err,
      details: { reason: 'badSignature' },
    });
  }
}

export type AppcPolicyDecision = { scope: string; action: 'insecureAcceptAnything' | 'reject' | 'requireSignature' };

/** What policy.json says for an appc name under `transports.appc` (name, its parents, ""). */
export async function appcPolicyFor(configDir: string, name: string): Promise<AppcPolicyDecision> {
  const policy = await loadPolicy(configDir);
  const t = policy.transports.appc;
  if (t) {
    for (const scope of [...namePrefixes(name), '']) {
      const reqs = t[scope];
      if (!reqs) continue;
      const label = scope === '' ? 'transports.appc[""]' : `transports.appc["${scope}"]`;
      if (reqs.some((r) => r.type === 'reject')) return { scope: label, action: 'reject' };
      if (reqs.length > 0 && reqs.every((r) => r.type === 'insecureAcceptAnything'))
        return { scope: label, action: 'insecureAcceptAnything' };
      return { scope: label, action: 'requireSignature' };
    }
  }
  return { scope: 'none', action: 'requireSignature' };
}

export interface TrustVerdict {
  /** `signed`: verified with a trusted key; `insecure`: accepted by policy without (valid) signature */
  mode: 'signed' | 'insecure';
  fingerprint?: string;
  prefix?: string;
  /** why an insecure acceptance was needed */
  reason?: string;
}

/**
 * Decide whether an ACI may be used: `signature` is the `.aci.asc` content (undefined when
 * there is none). PermissionDenied with a clear reason when refused.
 */
export async function checkAciTrust(input: {
  configDir: string;
  name: string;
  aciPath: string;
  signature: Uint8Array | undefined;
  /** where the ACI came from, for messages */
  source: string;
  warn?: (msg: string) => void;
}): Promise<TrustVerdict> {
  const { configDir, name, source } = input;
  const policy = await appcPolicyFor(configDir, name);
  if (policy.action === 'reject') throw denied(`${source}: policy.json ${policy.scope} rejects image ${name}`);
  let failure: string;
  if (input.signature === undefined) {
    failure = `${source}: image ${name} is not signed (no ${source.startsWith('/') ? `${source}.asc` : 'signature'} found)`;
  } else {
    const keys = await trustedKeysFor(configDir, name, input.warn);
    try {
      const k = await verifyDetached(input.aciPath, input.signature, keys, `${source}: image ${name}`);
      return { mode: 'signed', fingerprint: k.fingerprint, ...(k.prefix === undefined ? {} : { prefix: k.prefix }) };
    } catch (err) {
      if (!(err instanceof BerthError)) throw err;
      failure = err.message;
    }
  }
  if (policy.action === 'insecureAcceptAnything')
    return { mode: 'insecure', reason: `${failure}; accepted by policy.json ${policy.scope}` };
  throw denied(
    `${failure}; refusing it (trust a key with \`berth trust add --transport appc --prefix ${name} KEYFILE\`, or allow unsigned images with insecureAcceptAnything under transports.appc in policy.json)`,
  );
}

/** Normalise a fingerprint as an operator types it (spaces, colons, 0x, upper case). */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/^0x/i, '').replace(/[\s:]/g, '').toLowerCase();
}

/**
 * From keys fetched at an `ac-discovery-pubkeys` URL, the one with the fingerprint the
 * operator confirmed; PermissionDenied when none was given or none matches (never trust on
 * first use).
 */
export async function pickConfirmedKey(
  data: Uint8Array,
  expectedFingerprint: string | undefined,
  url: string,
): Promise<{ fingerprint: string; armored: string }> {
  const want = normalizeFingerprint(expectedFingerprint ?? '');
  if (!FINGERPRINT.test(want))
    throw denied(`keys from ${url} are not trusted without the expected fingerprint (pass the fingerprint you verified out of band)`);
  let keys: openpgp.Key[];
  const text = Buffer.from(data).toString('utf8');
  try {
    const pgp = await loadOpenpgp();
    keys = text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')
      ? await pgp.readKeys({ armoredKeys: text })
      : await pgp.readKeys({ binaryKeys: data });
  } catch (err) {
    throw new BerthError('InvalidArgument', `${url}: not an OpenPGP public key (${errorMessage(err)})`, { cause: err });
  }
  const k = keys.find((x) => x.getFingerprint().toLowerCase() === want);
  if (!k) throw denied(`${url}: offers ${keys.map((x) => x.getFingerprint()).join(', ')}, not the confirmed fingerprint ${want}`);
  return { fingerprint: want, armored: k.armor() };
}
