/**
 * Platform matching for image indexes (IMG-04/05): os/architecture/variant normalised to
 * GOOS/GOARCH, a preference list with fallbacks (amd64 → 386, arm v7 → v6 → v5), the first
 * matching descriptor wins, attestation manifests are skipped.
 */
import type { Descriptor } from './types.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const OS: Record<string, string> = { win32: 'windows', sunos: 'solaris', macos: 'darwin' };
const ARCH: Record<string, string> = {
  x64: 'amd64',
  x86_64: 'amd64',
  x86: '386',
  ia32: '386',
  i386: '386',
  i686: '386',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  ppc64: 'ppc64le',
};

/** IMG-05: normalise a platform the way containerd's `platforms.Normalize` does. */
export function normalizePlatform(p: { os?: string; architecture?: string; variant?: string }): Platform {
  const os = (p.os ?? '').toLowerCase();
  const rawArch = (p.architecture ?? '').toLowerCase();
  let architecture = ARCH[rawArch] ?? rawArch;
  let variant = p.variant?.toLowerCase() || undefined;
  if (rawArch === 'armhf') variant ??= 'v7';
  if (rawArch === 'armel') variant ??= 'v6';
  if (architecture === 'arm64') {
    if (variant === 'v8' || variant === '8') variant = undefined;
  } else if (architecture === 'arm') {
    if (variant === undefined) variant = 'v7';
    else if (/^\d+$/.test(variant)) variant = `v${variant}`;
  } else if (architecture === 'amd64') {
    if (variant === 'v1') variant = undefined;
  }
  if (architecture === '') architecture = 'unknown';
  const out: Platform = { os: OS[os] ?? (os || 'unknown'), architecture };
  if (variant !== undefined) out.variant = variant;
  return out;
}

/** The host platform from `process.platform`/`process.arch`, in GOOS/GOARCH words. */
export function hostPlatform(): Platform {
  const armVersion = (process.config.variables as Record<string, unknown>)['arm_version'];
  const variant = process.arch === 'arm' && armVersion !== undefined ? `v${String(armVersion)}` : undefined;
  return normalizePlatform({ os: process.platform, architecture: process.arch, variant });
}

/** IMG-05 fallbacks, most preferred first. */
export function platformPreferences(host: Platform): Platform[] {
  const h = normalizePlatform(host);
  const out: Platform[] = [h];
  if (h.architecture === 'amd64') {
    const level = h.variant ? Number.parseInt(h.variant.slice(1), 10) : 1;
    for (let v = level - 1; v >= 1; v--) out.push({ os: h.os, architecture: 'amd64', ...(v > 1 ? { variant: `v${v}` } : {}) });
    out.push({ os: h.os, architecture: '386' });
  } else if (h.architecture === 'arm') {
    const level = Number.parseInt((h.variant ?? 'v7').slice(1), 10);
    for (let v = level - 1; v >= 5; v--) out.push({ os: h.os, architecture: 'arm', variant: `v${v}` });
  }
  return out;
}

function samePlatform(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

export function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

/**
 * Choose the manifest for `host` among an index's descriptors (IMG-04): for each preferred
 * platform in order, the first descriptor that matches. Attestations and `unknown/unknown`
 * entries are skipped; a descriptor without a platform matches only when no descriptor in
 * the index declares one (single-platform indexes written without the field).
 */
export function selectManifest(manifests: Descriptor[], host: Platform): Descriptor | undefined {
  const candidates = manifests.filter((d) => !isAttestation(d));
  const declared = candidates.filter((d) => d.platform !== undefined);
  if (declared.length === 0) return candidates[0];
  for (const want of platformPreferences(host)) {
    for (const d of declared) {
      const p = normalizePlatform(d.platform ?? {});
      if (p.os === 'unknown' && p.architecture === 'unknown') continue;
      if (samePlatform(p, want)) return d;
    }
  }
  return undefined;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}
