/**
 * containers "simple signing" (containers-signature(5)), as `skopeo copy --sign-by` writes
 * it: an OpenPGP signed message (binary, not detached) whose literal data is the JSON
 *   {"critical": {"type": "atomic container signature",
 *                 "image": {"docker-manifest-digest": "sha256:…"},
 *                 "identity": {"docker-reference": "host/repo:tag"}},
 *    "optional": {"creator": "…", "timestamp": …}}
 * Verification (with openpgp, in-process): the message must be signed by one of the trusted
 * keys, the critical section must hold exactly these fields, the digest must be the digest
 * of the manifest that is run, and the identity must satisfy the policy's signedIdentity.
 */
import type * as openpgp from 'openpgp';
import { loadOpenpgp } from './openpgp.js';
import { BerthError, errorMessage } from '../../common/index.js';
import type { SignedIdentity } from '../config/policy.js';
import { parseDockerReference } from '../reference.js';

export const SIGNATURE_TYPE = 'atomic container signature';
const MAX_SIGNATURE = 4 * 1024 * 1024;

export interface SignaturePayload {
  dockerReference: string;
  manifestDigest: string;
  optional: Record<string, unknown>;
}

function denied(msg: string, cause?: unknown): BerthError {
  return new BerthError('PermissionDenied', msg, cause === undefined ? undefined : { cause });
}

/** Keys from a file's bytes or keyData text: armored or binary, one or several. */
export async function readPublicKeys(data: Uint8Array | string, where: string): Promise<openpgp.Key[]> {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
  try {
    if (text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----'))
      return await (await loadOpenpgp()).readKeys({ armoredKeys: typeof data === 'string' ? data : Buffer.from(data).toString('utf8') });
    const bin = typeof data === 'string' ? Buffer.from(data, 'base64') : data;
    return await (await loadOpenpgp()).readKeys({ binaryKeys: bin });
  } catch (err) {
    throw new BerthError('InvalidArgument', `${where}: not an OpenPGP public key (${errorMessage(err)})`, { cause: err });
  }
}

/** Verify the OpenPGP signature with the trusted keys; returns the signed payload and the signer's fingerprint. */
export async function verifySignedMessage(sig: Uint8Array, keys: openpgp.Key[]): Promise<{ payload: Buffer; fingerprint: string }> {
  if (sig.length > MAX_SIGNATURE) throw denied(`signature over ${MAX_SIGNATURE} bytes`);
  let message;
  try {
    message = await (await loadOpenpgp()).readMessage({ binaryMessage: sig });
  } catch (err) {
    throw denied(`signature is not an OpenPGP message: ${errorMessage(err)}`, err);
  }
  let result;
  try {
    result = await (await loadOpenpgp()).verify({ message, verificationKeys: keys, format: 'binary', expectSigned: true });
  } catch (err) {
    throw denied(`signature not made by a trusted key: ${errorMessage(err)}`, err);
  }
  const first = result.signatures[0];
  if (!first) throw denied('signature carries no OpenPGP signature packet');
  try {
    await first.verified;
  } catch (err) {
    throw denied(`signature not made by a trusted key: ${errorMessage(err)}`, err);
  }
  const keyId = first.keyID.toHex();
  const key = keys.find((k) => k.getKeys().some((sk) => sk.getKeyID().toHex() === keyId));
  return { payload: Buffer.from(result.data as Uint8Array), fingerprint: key ? key.getFingerprint() : keyId };
}

/** Parse and check the payload's shape (containers-signature(5): unknown critical fields are an error). */
export function parsePayload(payload: Buffer): SignaturePayload {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw denied('signature payload is not JSON', err);
  }
  const crit = doc?.critical as Record<string, unknown> | undefined;
  if (!crit || typeof crit !== 'object') throw denied('signature payload without "critical"');
  for (const k of Object.keys(doc)) if (k !== 'critical' && k !== 'optional') throw denied(`signature payload has unknown field "${k}"`);
  for (const k of Object.keys(crit))
    if (!['type', 'image', 'identity'].includes(k)) throw denied(`signature has unknown critical field "${k}"`);
  if (crit.type !== SIGNATURE_TYPE) throw denied(`signature type is ${JSON.stringify(crit.type)}, not "${SIGNATURE_TYPE}"`);
  const image = crit.image as Record<string, unknown> | undefined;
  const identity = crit.identity as Record<string, unknown> | undefined;
  if (!image || Object.keys(image).some((k) => k !== 'docker-manifest-digest') || typeof image['docker-manifest-digest'] !== 'string') {
    throw denied('signature critical.image must hold exactly docker-manifest-digest');
  }
  if (!identity || Object.keys(identity).some((k) => k !== 'docker-reference') || typeof identity['docker-reference'] !== 'string') {
    throw denied('signature critical.identity must hold exactly docker-reference');
  }
  const optional = doc.optional;
  if (optional !== undefined && (optional === null || typeof optional !== 'object')) throw denied('signature "optional" must be an object');
  return {
    dockerReference: identity['docker-reference'],
    manifestDigest: image['docker-manifest-digest'],
    optional: (optional ?? {}) as Record<string, unknown>,
  };
}

interface NamedRef {
  name: string;
  tag?: string;
  digest?: string;
}

function namedExact(text: string): NamedRef {
  const r = parseDockerReference(text);
  return {
    name: `${r.registry}/${r.repository}`,
    ...(r.tag !== undefined ? { tag: r.tag } : {}),
    ...(r.digest ? { digest: r.digest } : {}),
  };
}

const same = (a: NamedRef, b: NamedRef) => a.name === b.name && a.tag === b.tag && a.digest === b.digest;

/**
 * Does the signed identity satisfy `rule` for the image reference being run
 * (`image` is the normalised `host/repo[:tag][@digest]`)?
 */
export function identityMatches(rule: SignedIdentity, image: string, signed: string): boolean {
  let sig: NamedRef;
  let img: NamedRef;
  try {
    sig = namedExact(signed);
    img = namedExact(image);
  } catch {
    return false; // a reference that does not parse satisfies no identity rule
  }
  switch (rule.type) {
    case 'matchRepoDigestOrExact':
      // a digest reference: the repository must match; a tag: the exact reference
      return img.digest !== undefined ? img.name === sig.name : same({ name: img.name, tag: img.tag }, sig);
    case 'matchExact':
      return img.digest === undefined && same(img, sig);
    case 'matchRepository':
      return img.name === sig.name;
    case 'exactReference':
      try {
        return same(namedExact(rule.dockerReference), sig);
      } catch {
        return false; // an unparsable rule reference matches nothing
      }
    case 'exactRepository':
      try {
        return namedExact(rule.dockerRepository).name === sig.name;
      } catch {
        return false; // an unparsable rule repository matches nothing
      }
    case 'remapIdentity': {
      let remapped = image;
      if (
        image === rule.prefix ||
        image.startsWith(`${rule.prefix}/`) ||
        image.startsWith(`${rule.prefix}:`) ||
        image.startsWith(`${rule.prefix}@`)
      ) {
        remapped = rule.signedPrefix + image.slice(rule.prefix.length);
      }
      return identityMatches({ type: 'matchRepoDigestOrExact' }, remapped, signed);
    }
  }
}

/** All checks of one signature against the image that is run; returns the payload or throws PermissionDenied. */
export async function verifyImageSignature(
  sig: Uint8Array,
  keys: openpgp.Key[],
  expected: { manifestDigest: string; image: string; signedIdentity: SignedIdentity },
): Promise<SignaturePayload & { fingerprint: string }> {
  const { payload, fingerprint } = await verifySignedMessage(sig, keys);
  const p = parsePayload(payload);
  if (p.manifestDigest !== expected.manifestDigest) {
    throw denied(`signature is for manifest ${p.manifestDigest}, not ${expected.manifestDigest}`);
  }
  if (!identityMatches(expected.signedIdentity, expected.image, p.dockerReference)) {
    throw denied(`signature identity "${p.dockerReference}" does not match ${expected.image} (${expected.signedIdentity.type})`);
  }
  return { ...p, fingerprint };
}
