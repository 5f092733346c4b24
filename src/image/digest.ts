/**
 * Digests (IMG-07): `alg:encoded`, sha256 = 64 lowercase hex, sha512 = 128 lowercase hex.
 * Every digest is validated here before it is ever used as a path component.
 */
import { createHash } from 'node:crypto';
import { BerthError } from '../common/index.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

const GRAMMAR: Record<DigestAlgorithm, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

/** Parse and validate a digest (IMG-07); InvalidArgument when it does not match the grammar. */
export function parseDigest(digest: string): ParsedDigest {
  if (typeof digest !== 'string') throw new BerthError('InvalidArgument', `invalid digest ${String(digest)}`);
  const i = digest.indexOf(':');
  const alg = i > 0 ? digest.slice(0, i) : '';
  const hex = i > 0 ? digest.slice(i + 1) : '';
  if (alg !== 'sha256' && alg !== 'sha512') {
    throw new BerthError('InvalidArgument', `invalid digest "${digest}": unsupported algorithm (sha256 or sha512)`);
  }
  if (!GRAMMAR[alg].test(hex)) {
    throw new BerthError('InvalidArgument', `invalid digest "${digest}": encoded part must be lowercase hex of the right length`);
  }
  return { algorithm: alg, hex };
}

export function isValidDigest(digest: string): boolean {
  try {
    parseDigest(digest);
    return true;
  } catch {
    return false; // parseDigest throws only InvalidArgument: the answer asked for
  }
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** ChainID (IMG-09): ChainID(L0) = DiffID(L0); ChainID(L0…Ln) = sha256(ChainID(L0…Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : digestOf(`${prev} ${d}`));
  }
  return out;
}
