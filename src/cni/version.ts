/**
 * CNI versions (CNI-04/05): semver parsing, comparison and the list-version selection
 * libcni does when it loads a configuration list.
 */
import { BerthError } from '../common/index.js';

/** The newest spec version this runtime implements (libcni `version.Current()`). */
export const CURRENT_CNI_VERSION = '1.1.0';

/** Result/config versions whose shapes we know (CNI-23). */
export const KNOWN_CNI_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** [major, minor, patch]; the empty version means 0.1.0, as in CNI (a config without cniVersion). */
export function parseCniVersion(v: string): [number, number, number] {
  if (v === '') return [0, 1, 0];
  const m = SEMVER.exec(v);
  if (!m) throw new BerthError('InvalidArgument', `invalid CNI version ${JSON.stringify(v)}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Negative, zero or positive like a comparator. Throws InvalidArgument on a malformed version. */
export function compareCniVersions(a: string, b: string): number {
  const x = parseCniVersion(a);
  const y = parseCniVersion(b);
  for (let i = 0; i < 3; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export const versionAtLeast = (v: string, min: string): boolean => compareCniVersions(v, min) >= 0;

/**
 * CNI-04: the version sent to every plugin of a list. With `cniVersions`, the highest of
 * `{cniVersion} ∪ cniVersions` that is not newer than CURRENT_CNI_VERSION; a malformed entry is
 * an error. Without `cniVersions`, a lone `cniVersion` is used as is (even "1.2.3"). An empty
 * `cniVersions` and no `cniVersion` give "" (libcni's vector "handles an empty cniVersions array").
 */
export function selectCniVersion(cniVersion: string | undefined, cniVersions: string[] | undefined): string {
  if (cniVersions === undefined) return cniVersion ?? '';
  const candidates: string[] = [];
  const consider = (v: string, what: string): void => {
    try {
      parseCniVersion(v);
    } catch {
      throw new BerthError('InvalidArgument', `invalid ${what} ${JSON.stringify(v)}`);
    }
    if (compareCniVersions(v, CURRENT_CNI_VERSION) <= 0) candidates.push(v);
  };
  cniVersions.forEach((v, i) => consider(v, `cniVersions entry at index ${i}`));
  if (cniVersion !== undefined && cniVersion !== '') consider(cniVersion, 'cniVersion');
  if (candidates.length === 0) return cniVersion ?? '';
  return candidates.reduce((best, v) => (compareCniVersions(v, best) > 0 ? v : best));
}
