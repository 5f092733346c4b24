import { describe, expect, it } from 'vitest';
import { hostPlatform, normalizePlatform, platformPreferences, selectManifest } from '../../../src/image/index.js';
import type { Descriptor } from '../../../src/image/index.js';

const m = (n: number, platform?: Descriptor['platform'], annotations?: Record<string, string>): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  size: 1,
  ...(platform ? { platform } : {}),
  ...(annotations ? { annotations } : {}),
});

describe('platform normalisation (IMG-05)', () => {
  it.each([
    [
      { os: 'linux', architecture: 'x86_64' },
      { os: 'linux', architecture: 'amd64' },
    ],
    [
      { os: 'linux', architecture: 'aarch64', variant: 'v8' },
      { os: 'linux', architecture: 'arm64' },
    ],
    [
      { os: 'linux', architecture: 'arm64', variant: '8' },
      { os: 'linux', architecture: 'arm64' },
    ],
    [
      { os: 'linux', architecture: 'armhf' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ],
    [
      { os: 'linux', architecture: 'arm' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ],
    [
      { os: 'linux', architecture: 'i386' },
      { os: 'linux', architecture: '386' },
    ],
    [
      { os: 'Linux', architecture: 'AMD64' },
      { os: 'linux', architecture: 'amd64' },
    ],
  ])('%j → %j', (p, want) => expect(normalizePlatform(p)).toEqual(want));

  it('maps the host from process.platform/process.arch', () => {
    const h = hostPlatform();
    expect(h.os).toBe(process.platform === 'win32' ? 'windows' : process.platform);
    if (process.arch === 'x64') expect(h.architecture).toBe('amd64');
    if (process.arch === 'arm64') expect(h.architecture).toBe('arm64');
  });

  it('fallbacks: amd64 → 386, arm v7 → v6 → v5', () => {
    expect(platformPreferences({ os: 'linux', architecture: 'amd64' })).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: '386' },
    ]);
    expect(platformPreferences({ os: 'linux', architecture: 'arm', variant: 'v7' }).map((p) => p.variant)).toEqual(['v7', 'v6', 'v5']);
  });
});

describe('selectManifest (IMG-04)', () => {
  const amd64 = { os: 'linux', architecture: 'amd64' };
  it('first match wins', () => {
    const list = [
      m(1, { os: 'linux', architecture: 'arm64' }),
      m(2, { os: 'linux', architecture: 'amd64' }),
      m(3, { os: 'linux', architecture: 'amd64' }),
    ];
    expect(selectManifest(list, amd64)?.digest).toBe(list[1]?.digest);
  });
  it('normalises descriptor platforms', () => {
    const list = [m(1, { os: 'linux', architecture: 'x86_64' })];
    expect(selectManifest(list, amd64)).toBe(list[0]);
  });
  it('skips attestation manifests and unknown/unknown', () => {
    const list = [
      m(1, { os: 'unknown', architecture: 'unknown' }, { 'vnd.docker.reference.type': 'attestation-manifest' }),
      m(2, { os: 'linux', architecture: 'amd64' }),
    ];
    expect(selectManifest(list, amd64)).toBe(list[1]);
    expect(selectManifest([list[0] as Descriptor], amd64)).toBeUndefined();
  });
  it('prefers the exact platform over a fallback that comes first', () => {
    const list = [m(1, { os: 'linux', architecture: '386' }), m(2, { os: 'linux', architecture: 'amd64' })];
    expect(selectManifest(list, amd64)).toBe(list[1]);
    expect(selectManifest([list[0] as Descriptor], amd64)).toBe(list[0]);
  });
  it('arm variants: v7 host takes v6 when no v7, never v8', () => {
    const list = [m(1, { os: 'linux', architecture: 'arm64' }), m(2, { os: 'linux', architecture: 'arm', variant: 'v6' })];
    expect(selectManifest(list, { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(list[1]);
    expect(selectManifest(list, { os: 'linux', architecture: 'arm', variant: 'v5' })).toBeUndefined();
  });
  it('no match → undefined; no platforms at all → the first', () => {
    expect(selectManifest([m(1, { os: 'windows', architecture: 'amd64' })], amd64)).toBeUndefined();
    expect(selectManifest([m(1), m(2)], amd64)?.digest).toBe(m(1).digest);
  });
});
