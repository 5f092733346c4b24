/**
 * Pull from `oci:` and `oci-archive:` layouts generated in the test, and render: media types
 * (IMG-01/02), layout and tags (IMG-17), platform selection through nested indexes (IMG-04/05),
 * verification (IMG-08/09), compression sniffing (IMG-10), the render cache.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { testImageService } from '../../helpers/image-service.js';
import type { Platform } from '../../../src/image/index.js';
import { dir, file, makeTar, putBlob, sha256, snapshot, symlink, tarDirectory, writeImage, writeIndex } from './helpers.js';
import type { LayoutImage } from './helpers.js';

const base = await mkdtemp(join(tmpdir(), 'berth-pull-'));
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});
const amd64: Platform = { os: 'linux', architecture: 'amd64' };

let n = 0;
function fresh(): { layout: string; state: string } {
  n++;
  return { layout: join(base, `layout-${n}`), state: join(base, `state-${n}`) };
}

const layer0 = await makeTar([
  dir('bin'),
  file('bin/sh', '#!sh', 0o755),
  dir('etc'),
  file('etc/passwd', 'root:x:0:0::/:/bin/sh\n'),
  file('etc/old', 'old'),
  dir('opt'),
  file('opt/a', 'a'),
]);
const layer1 = await makeTar([
  file('etc/.wh.old'),
  dir('opt'),
  file('opt/.wh..wh..opq'),
  file('opt/b', 'b'),
  symlink('/bin/sh', 'bin/ash'),
]);
const expectedTree = {
  bin: 'dir',
  'bin/ash': 'symlink:/bin/sh',
  'bin/sh': 'file:#!sh',
  etc: 'dir',
  'etc/passwd': 'file:root:x:0:0::/:/bin/sh\n',
  opt: 'dir',
  'opt/b': 'file:b',
};

async function layoutWith(img: LayoutImage, tag = 'latest'): Promise<{ layout: string; state: string; manifestDigest: string }> {
  const { layout, state } = fresh();
  const built = await writeImage(layout, img);
  await writeIndex(layout, [
    {
      mediaType: img.manifestMediaType ?? 'application/vnd.oci.image.manifest.v1+json',
      digest: built.manifestDigest,
      size: built.manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': tag },
    },
  ]);
  return { layout, state, manifestDigest: built.manifestDigest };
}

describe('pull + render from oci: layouts', () => {
  it('OCI manifest, gzip layers, whiteouts across layers; the rendered tree is cached', async () => {
    const { layout, state, manifestDigest } = await layoutWith({ layers: [layer0, layer1] });
    const svc = testImageService({ stateDir: state, platform: amd64 });
    const img = await svc.pull(`oci:${layout}:latest`);
    expect(img.manifestDigest).toBe(manifestDigest);
    expect(img.layers).toHaveLength(2);
    expect(img.config.config?.Cmd).toEqual(['/bin/sh']);
    const r = await svc.render(img);
    expect(r.rootfs).toBe(join(state, 'rendered', manifestDigest.slice(7), 'rootfs'));
    expect(await snapshot(r.rootfs)).toEqual(expectedTree);
    expect(await svc.listRendered()).toEqual([manifestDigest.slice(7)]);
    expect(await readdir(join(state, 'rendered'))).toEqual([manifestDigest.slice(7)]);
    // second render: a no-op on the cached tree
    await writeFile(join(r.rootfs, 'marker'), 'x');
    const again = await svc.render(img);
    expect(again.rootfs).toBe(r.rootfs);
    expect(await readFile(join(r.rootfs, 'marker'), 'utf8')).toBe('x');
    // the reference index remembers the image
    expect((await svc.listImages()).map((i) => [i.reference, i.manifestDigest])).toEqual([[`oci:${layout}:latest`, manifestDigest]]);
    expect((await svc.get(`oci:${layout}:latest`))?.configDigest).toBe(img.configDigest);
    await svc.removeRendered(manifestDigest.slice(7));
    await svc.removeRendered(manifestDigest.slice(7));
    expect(await svc.listRendered()).toEqual([]);
  });

  it('Docker schema2 manifest and config media types (IMG-01)', async () => {
    const { layout, state } = await layoutWith({
      layers: [layer0, layer1],
      manifestMediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    });
    const svc = testImageService({ stateDir: state, platform: amd64 });
    const r = await svc.render(await svc.pull(`oci:${layout}`));
    expect(await snapshot(r.rootfs)).toEqual(expectedTree);
  });

  it('uncompressed layers and a manifest without mediaType (as umoci writes it, IMG-03)', async () => {
    const { layout, state } = await layoutWith({ layers: [layer0], gzip: false, omitManifestMediaType: true });
    const svc = testImageService({ stateDir: state, platform: amd64 });
    const r = await svc.render(await svc.pull(`oci:${layout}`));
    expect(Object.keys(await snapshot(r.rootfs))).toContain('opt/a');
  });

  it('multi-member gzip layers (IMG-10)', async () => {
    const { layout, state } = fresh();
    const half = Math.floor(layer0.length / 2);
    const blob = Buffer.concat([gzipSync(layer0.subarray(0, half)), gzipSync(layer0.subarray(half))]);
    const layerDigest = await putBlob(layout, blob);
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer0)] } }),
    );
    const configDigest = await putBlob(layout, config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: blob.length }],
      }),
    );
    const md = await putBlob(layout, manifest);
    await writeIndex(layout, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length }]);
    const svc = testImageService({ stateDir: state, platform: amd64 });
    const r = await svc.render(await svc.pull(`oci:${layout}`));
    expect(Object.keys(await snapshot(r.rootfs))).toContain('opt/a');
  });

  it('a corrupt zstd layer is refused with what zstd said, nothing rendered (IMG-10)', async () => {
    const { layout, state } = fresh();
    const blob = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]);
    const ld = await putBlob(layout, blob);
    const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [sha256('x')] } }));
    const cd = await putBlob(layout, config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: ld, size: blob.length }],
      }),
    );
    const md = await putBlob(layout, manifest);
    await writeIndex(layout, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length }]);
    const svc = testImageService({ stateDir: state, platform: amd64 });
    const img = await svc.pull(`oci:${layout}`);
    await expect(svc.render(img)).rejects.toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(/zstd -dc failed/) });
    expect(await svc.listRendered()).toEqual([]);
    expect(await readdir(join(state, 'rendered'))).toEqual([]);
  });

  it('an index with several platforms, nested, and an attestation (IMG-04/05)', async () => {
    const { layout, state } = fresh();
    const a = await writeImage(layout, { layers: [layer0], platform: { os: 'linux', architecture: 'arm64' } });
    const b = await writeImage(layout, { layers: [layer0, layer1] });
    const att = Buffer.from('{"schemaVersion":2}');
    const attD = await putBlob(layout, att);
    const inner = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: attD,
            size: att.length,
            platform: { os: 'unknown', architecture: 'unknown' },
            annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: a.manifestDigest,
            size: a.manifest.length,
            platform: { os: 'linux', architecture: 'arm64' },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: b.manifestDigest,
            size: b.manifest.length,
            platform: { os: 'linux', architecture: 'x86_64' },
          },
        ],
      }),
    );
    const innerD = await putBlob(layout, inner);
    await writeIndex(layout, [
      {
        mediaType: 'application/vnd.oci.image.index.v1+json',
        digest: innerD,
        size: inner.length,
        annotations: { 'org.opencontainers.image.ref.name': 'multi' },
      },
    ]);
    const amdSvc = testImageService({ stateDir: state, platform: amd64 });
    expect((await amdSvc.pull(`oci:${layout}:multi`)).manifestDigest).toBe(b.manifestDigest);
    const armSvc = testImageService({ stateDir: `${state}-arm`, platform: { os: 'linux', architecture: 'arm64' } });
    expect((await armSvc.pull(`oci:${layout}:multi`)).manifestDigest).toBe(a.manifestDigest);
    const s390 = testImageService({ stateDir: `${state}-s390`, platform: { os: 'linux', architecture: 's390x' } });
    await expect(s390.pull(`oci:${layout}:multi`)).rejects.toMatchObject({
      code: 'NotFound',
      message: expect.stringContaining('linux/amd64'),
    });
  });

  it('tags: ref.name selects; no tag with several images lists the tags (IMG-17)', async () => {
    const { layout, state } = fresh();
    const a = await writeImage(layout, { layers: [layer0] });
    const b = await writeImage(layout, { layers: [layer0, layer1] });
    await writeIndex(layout, [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: a.manifestDigest,
        size: a.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': 'one' },
      },
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: b.manifestDigest,
        size: b.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': 'two' },
      },
    ]);
    const svc = testImageService({ stateDir: state, platform: amd64 });
    expect((await svc.pull(`oci:${layout}:two`)).manifestDigest).toBe(b.manifestDigest);
    await expect(svc.pull(`oci:${layout}`)).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining('one, two'),
    });
    await expect(svc.pull(`oci:${layout}:three`)).rejects.toMatchObject({ code: 'NotFound', message: expect.stringContaining('one, two') });
  });

  it('concurrent pulls of one reference share one operation', async () => {
    const { layout, state } = await layoutWith({ layers: [layer0] });
    const svc = testImageService({ stateDir: state, platform: amd64 });
    const [x, y] = [svc.pull(`oci:${layout}`), svc.pull(`oci:${layout}`)];
    expect(await x).toBe(await y);
    const [r1, r2] = await Promise.all([svc.render(await x), svc.render(await x)]);
    expect(r1.rootfs).toBe(r2.rootfs);
  });
});

describe('crash leftovers', () => {
  it('half-built renders and partial ingests are invisible and pruned; a damaged tree is rebuilt', async () => {
    const { layout, state, manifestDigest } = await layoutWith({ layers: [layer0] });
    const svc = testImageService({ stateDir: state, platform: amd64 });
    const img = await svc.pull(`oci:${layout}`);
    await mkdir(join(state, 'rendered', `.tmp-${manifestDigest.slice(7)}-dead/rootfs/etc`), { recursive: true });
    await mkdir(join(state, 'blobs', '.ingest'), { recursive: true });
    await writeFile(join(state, 'blobs', '.ingest', 'partial'), 'half');
    expect(await svc.listRendered()).toEqual([]);
    expect(await svc.pruneIncomplete()).toBe(2);
    expect(await readdir(join(state, 'rendered'))).toEqual([]);
    const r = await svc.render(img);
    await rm(r.rootfs, { recursive: true });
    const again = await svc.render(img);
    expect(Object.keys(await snapshot(again.rootfs))).toContain('opt/a');
  });
});

describe('refusals', () => {
  it('a layer blob whose bytes do not match its digest is refused and nothing is kept (IMG-08)', async () => {
    const { layout, state } = fresh();
    const built = await writeImage(layout, { layers: [layer0] });
    await writeIndex(layout, [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: built.manifestDigest, size: built.manifest.length },
    ]);
    const p = join(layout, 'blobs', 'sha256', built.layerDigests[0]?.slice(7) ?? '');
    const bytes = await readFile(p);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
    await writeFile(p, bytes);
    const svc = testImageService({ stateDir: state, platform: amd64 });
    await expect(svc.pull(`oci:${layout}`)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(await svc.content.has(built.layerDigests[0] ?? '')).toBe(false);
    expect(await svc.listImages()).toEqual([]);
  });

  it('a DiffID mismatch is refused and never rendered (IMG-09)', async () => {
    const { layout, state } = fresh();
    const built = await writeImage(layout, {
      layers: [layer0],
      config: { rootfs: { type: 'layers', diff_ids: [sha256('not the layer')] } },
    });
    await writeIndex(layout, [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: built.manifestDigest, size: built.manifest.length },
    ]);
    const svc = testImageService({ stateDir: state, platform: amd64 });
    const img = await svc.pull(`oci:${layout}`);
    await expect(svc.render(img)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(await readdir(join(state, 'rendered'))).toEqual([]);
  });

  it('a blob corrupted in the store after pull is never rendered', async () => {
    const { layout, state } = await layoutWith({ layers: [layer0] });
    const svc = testImageService({ stateDir: state, platform: amd64 });
    const img = await svc.pull(`oci:${layout}`);
    const p = join(state, 'blobs', 'sha256', (img.layers[0]?.digest ?? '').slice('sha256:'.length));
    const bytes = await readFile(p);
    bytes[20] = (bytes[20] ?? 0) ^ 1;
    await writeFile(p, bytes);
    await expect(svc.render(img)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(await svc.listRendered()).toEqual([]);
  });

  it.each([
    ['schema1', { manifestMediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }, 'InvalidArgument'],
    ['unknown config media type', { configMediaType: 'application/vnd.example.config+json' }, 'InvalidArgument'],
    ['rootfs.type other than layers', { rootfsType: 'squashfs' }, 'InvalidArgument'],
    ['unknown layer media type', { layerMediaType: 'application/vnd.example.layer' }, 'Unimplemented'],
  ] as const)('%s (IMG-02)', async (_name, img, code) => {
    const { layout, state } = await layoutWith({ layers: [layer0], ...img });
    const svc = testImageService({ stateDir: state, platform: amd64 });
    await expect(svc.pull(`oci:${layout}`)).rejects.toMatchObject({ code });
  });

  it('missing layout, missing oci-layout, bad index digest', async () => {
    const { layout, state } = fresh();
    const svc = testImageService({ stateDir: state, platform: amd64 });
    await expect(svc.pull(`oci:${layout}`)).rejects.toMatchObject({ code: 'NotFound' });
    await mkdir(layout, { recursive: true });
    await writeFile(join(layout, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
    await expect(svc.pull(`oci:${layout}`)).rejects.toMatchObject({ code: 'InvalidArgument' });
    await writeIndex(layout, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:../../etc/passwd', size: 1 }]);
    await expect(svc.pull(`oci:${layout}`)).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('a registry reference with imagePullPolicy Never and nothing stored fails without any network', async () => {
    const svc = testImageService({ stateDir: fresh().state, platform: amd64 });
    await expect(svc.pull('busybox:latest', { pullPolicy: 'Never' })).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: expect.stringContaining('ErrImageNeverPull'),
    });
    await expect(svc.pull('oci:relative')).rejects.toMatchObject({ code: 'InvalidArgument' });
  });
});

describe('oci-archive:', () => {
  it('pulls from a tar of a layout without extracting it', async () => {
    const { layout, state, manifestDigest } = await layoutWith({ layers: [layer0, layer1] }, 'v1');
    const archive = join(base, `archive-${n}.tar`);
    await writeFile(archive, await tarDirectory(layout));
    const svc = testImageService({ stateDir: state, platform: amd64 });
    const img = await svc.pull(`oci-archive:${archive}:v1`);
    expect(img.manifestDigest).toBe(manifestDigest);
    expect(await snapshot((await svc.render(img)).rootfs)).toEqual(expectedTree);
    await expect(svc.pull(`oci-archive:${archive}:v2`)).rejects.toMatchObject({ code: 'NotFound' });
    await expect(svc.pull(`oci-archive:${join(base, 'nope.tar')}`)).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('a corrupted blob in the archive is refused', async () => {
    const { layout, state } = await layoutWith({ layers: [layer0] });
    const tarBuf = await tarDirectory(layout);
    const img = await writeImage(join(base, 'scratch'), { layers: [layer0] });
    const hex = img.layerDigests[0]?.slice(7) ?? '';
    const at = tarBuf.indexOf(`blobs/sha256/${hex}`);
    // flip a byte inside that member's data (header is 512 bytes from the name)
    tarBuf[at + 512 + 30] = (tarBuf[at + 512 + 30] ?? 0) ^ 0xff;
    const archive = join(base, `bad-${n}.tar`);
    await writeFile(archive, tarBuf);
    const svc = testImageService({ stateDir: state, platform: amd64 });
    await expect(svc.pull(`oci-archive:${archive}`)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(await svc.listImages()).toEqual([]);
  });
});
