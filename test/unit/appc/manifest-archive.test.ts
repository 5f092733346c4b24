/** The appc ImageManifest schema, references, image IDs and the ACI layout check. */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestAci, validateAci } from '../../../src/image/appc/archive.js';
import { labelsMatch, parseImageManifest } from '../../../src/image/appc/manifest.js';
import { parseAppcReference } from '../../../src/image/appc/reference.js';
import { FsContentStore } from '../../../src/image/content-store.js';
import { parseImageReference } from '../../../src/image/reference.js';
import { detectCompression as detectAciCompression } from '../../../src/image/tar/decompress.js';
import { imageIdOf, makeAci, manifest } from './helpers.js';

const ok = (extra: Record<string, unknown> = {}) => JSON.stringify(manifest('example.com/app', extra));
const app = { exec: ['/bin/sh'], user: '0', group: '0' };

describe('ImageManifest', () => {
  it('accepts appc/spec examples/image.json-like manifests', () => {
    const m = parseImageManifest(
      ok({
        labels: [
          { name: 'version', value: '1.0.0' },
          { name: 'os', value: 'linux' },
          { name: 'arch', value: 'amd64' },
        ],
        app: {
          ...app,
          workingDirectory: '/opt/work',
          environment: [{ name: 'REDUCE_WORKER_DEBUG', value: 'true' }],
          mountPoints: [{ name: 'work', path: '/var/lib/work', readOnly: false }],
          ports: [{ name: 'health', port: 4000, protocol: 'tcp', socketActivated: true }],
          isolators: [{ name: 'resource/cpu', value: { request: '250m', limit: '500m' } }],
          eventHandlers: [{ name: 'pre-start', exec: ['/bin/true'] }],
        },
        dependencies: [
          {
            imageName: 'example.com/reduce-worker-base',
            imageID: 'sha512-8d3fffddf79e',
            labels: [{ name: 'os', value: 'linux' }],
            size: 4096,
          },
        ],
        pathWhitelist: ['/etc/ca/example.com/crt', '/usr/bin/map-reduce-worker'],
        annotations: [{ name: 'authors', value: 'Carly Container <carly@example.com>' }],
        somethingUnknown: true,
      }),
    );
    expect(m.app?.workingDirectory).toBe('/opt/work');
    expect(m.dependencies?.[0]?.size).toBe(4096);
  });

  it('reads both spellings of supplementary GIDs (the spec example and the Go tag)', () => {
    expect(parseImageManifest(ok({ app: { ...app, supplementaryGids: [10, 20] } })).app?.supplementaryGIDs).toEqual([10, 20]);
    expect(parseImageManifest(ok({ app: { ...app, supplementaryGIDs: [30] } })).app?.supplementaryGIDs).toEqual([30]);
    expect(parseImageManifest(ok({ app: { ...app, supplementaryGIDs: [1], supplementaryGids: [1, 2] } })).app?.supplementaryGIDs).toEqual([
      1, 2,
    ]);
  });

  it.each([
    ['bad kind', { acKind: 'PodManifest' }, /acKind/],
    ['bad version', { acVersion: '1.0' }, /semantic version/],
    ['upper-case name', { name: 'Example.com/App' }, /name must match/],
    ['name ending in a separator', { name: 'example.com/' }, /name must match/],
    ['label called name', { labels: [{ name: 'name', value: 'x' }] }, /invalid label name: "name"/],
    [
      'duplicate labels',
      {
        labels: [
          { name: 'version', value: '1' },
          { name: 'version', value: '2' },
        ],
      },
      /duplicate label/,
    ],
    ['bad os', { labels: [{ name: 'os', value: 'plan9' }] }, /bad os/],
    [
      'bad arch',
      {
        labels: [
          { name: 'os', value: 'linux' },
          { name: 'arch', value: 'x86_64' },
        ],
      },
      /bad arch/,
    ],
    ['missing user', { app: { exec: ['/x'], group: '0' } }, /user/],
    ['missing group', { app: { exec: ['/x'], user: '0' } }, /group/],
    ['relative working directory', { app: { ...app, workingDirectory: 'opt' } }, /workingDirectory must be an absolute path/],
    ['relative whitelist', { pathWhitelist: ['etc'] }, /absolute/],
    ['bad dependency id', { dependencies: [{ imageName: 'example.com/x', imageID: 'sha256-abc' }] }, /imageID/],
  ])('refuses %s', (_what, extra, re) => {
    expect(() => parseImageManifest(JSON.stringify({ ...manifest('example.com/app'), ...extra }))).toThrow(re);
  });

  it('matches labels: requested ones must be equal, others may be anything', () => {
    expect(labelsMatch({ version: '1.0.0' }, { version: '1.0.0', os: 'linux' })).toBe(true);
    expect(labelsMatch({ version: '1.0.0', os: 'linux' }, { version: '1.0.0' })).toBe(false);
    expect(labelsMatch({ version: '2' }, { version: '1' })).toBe(false);
    expect(labelsMatch({}, { version: '1' })).toBe(true);
  });
});

describe('appc references', () => {
  it('parses aci:, aci+https: and appc: (discovery/parse.go syntax)', () => {
    expect(parseImageReference('aci:/srv/x.aci')).toEqual({ transport: 'aci', path: '/srv/x.aci', raw: 'aci:/srv/x.aci' });
    expect(parseImageReference('aci+https://example.com/x.aci')).toMatchObject({ transport: 'aci-url', url: 'https://example.com/x.aci' });
    expect(parseImageReference('appc:example.com/reduce-worker:1.0.0,os=linux,arch=amd64')).toEqual({
      transport: 'appc',
      name: 'example.com/reduce-worker',
      labels: { version: '1.0.0', os: 'linux', arch: 'amd64' },
      raw: 'appc:example.com/reduce-worker:1.0.0,os=linux,arch=amd64',
    });
    expect(parseAppcReference('appc:example.com/app')).toMatchObject({ name: 'example.com/app', labels: {} });
    expect(() => parseImageReference('aci:relative.aci')).toThrow(/absolute/);
    expect(() => parseImageReference('appc:example.com/app,os=linux:1.0')).toThrow(/colon may appear only right after/);
    expect(() => parseImageReference('appc:example.com/app:1:2')).toThrow(/at most once/);
    expect(() => parseImageReference('appc:example.com/app,name=x')).toThrow(/reserved/);
    expect(() => parseImageReference('appc:Example.com/app')).toThrow(/not a valid appc name/);
  });
});

describe('ACI files', () => {
  let dir: string;
  let store: FsContentStore;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-taci-unit-'));
    store = new FsContentStore(join(dir, 'state'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('detects compression by magic bytes', () => {
    expect(detectAciCompression(Buffer.from([0x1f, 0x8b, 8]))).toBe('gzip');
    expect(detectAciCompression(Buffer.from('BZh91AY'))).toBe('bzip2');
    expect(detectAciCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]))).toBe('xz');
    expect(detectAciCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd');
    expect(detectAciCompression(Buffer.from('manifest'))).toBe('none');
  });

  it('the image ID is sha512 of the uncompressed tar, whatever the compression', async () => {
    const aci = await makeAci(manifest('example.com/app'), [{ name: 'rootfs/hello', content: 'hi' }]);
    const id = `sha512-${createHash('sha512').update(aci).digest('hex')}`;
    expect(imageIdOf(aci)).toBe(id);
    await writeFile(join(dir, 'plain.aci'), aci);
    await writeFile(join(dir, 'gz.aci'), gzipSync(aci));
    const files = ['plain.aci', 'gz.aci'];
    for (const [tool, ext] of [
      ['bzip2', 'bz2'],
      ['xz', 'xz'],
    ] as const) {
      const r = await execa(tool, ['-c', join(dir, 'plain.aci')], { encoding: 'buffer', reject: false });
      if (r.exitCode !== 0) continue; // tool missing on this machine: covered by the integration tier
      await writeFile(join(dir, `${ext}.aci`), r.stdout as unknown as Uint8Array);
      files.push(`${ext}.aci`);
    }
    for (const f of files) {
      const r = await ingestAci(store, join(dir, f));
      expect(r.imageId, f).toBe(id);
      expect(r.size).toBe(aci.length);
    }
    expect(await store.has(`sha512:${id.slice(7)}`)).toBe(true);
  });

  it.each([
    ['an extra top-level file', [{ name: 'README', content: 'x' }], /unrecognized file path in layout: "README"/],
    [
      'a duplicate entry',
      [
        { name: 'rootfs/a', content: '1' },
        { name: 'rootfs/a', content: '2' },
      ],
      /duplicate entry "rootfs\/a"/,
    ],
    ['an OCI whiteout name', [{ name: 'rootfs/etc/.wh.passwd', content: '' }], /whiteout/],
  ])('refuses a layout with %s', async (_what, entries, re) => {
    const aci = await makeAci(manifest('example.com/app'), entries as never);
    await expect(validateAci(Readable.from([aci]), 'x.aci')).rejects.toThrow(re);
  });

  it('refuses an ACI without manifest or rootfs, or with a bad manifest', async () => {
    const noRootfs = await makeAci(manifest('example.com/app'), [], { rootfsDir: false });
    await expect(validateAci(Readable.from([noRootfs]), 'x.aci')).rejects.toThrow(/no rootfs/);
    const badManifest = await makeAci('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"BAD"}', []);
    await expect(validateAci(Readable.from([badManifest]), 'x.aci')).rejects.toThrow(/invalid appc image manifest/);
    const ok2 = await makeAci(manifest('example.com/app'), [{ name: 'rootfs/x', content: '' }]);
    expect((await validateAci(Readable.from([ok2]), 'x.aci')).manifest.name).toBe('example.com/app');
  });
});
