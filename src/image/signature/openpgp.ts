/**
 * openpgp is the largest dependency by far (about 1 MB of the bundle); it is loaded on first
 * use, so a run that verifies no signature never parses it (esbuild splits it into a chunk).
 */
import type * as OpenPgp from 'openpgp';

let mod: Promise<typeof OpenPgp> | undefined;

export function loadOpenpgp(): Promise<typeof OpenPgp> {
  mod ??= import('openpgp');
  return mod;
}
