/**
 * docker-archive: as skopeo writes it (the `docker save` layout): pulled into the shared
 * content store, rendered, and identical to the same image read from its OCI layout.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testImageService } from '../../helpers/image-service.js';
import { skopeo } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const script = fileURLToPath(new URL('../../../scripts/build-busybox-image.sh', import.meta.url));

describe.skipIf(!isRoot)('docker-archive: transport (root)', () => {
  let base: string;
  let layout: string;
  let archive: string;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'berth-treg-da-'));
    layout = join(base, 'busybox');
    await execa(script, [layout, 'latest']);
    archive = join(base, 'busybox-docker.tar');
    await skopeo(['copy', `oci:${layout}:latest`, `docker-archive:${archive}:localhost/busybox:latest`]);
  });
  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('pulls and renders; the layers are the ones of the OCI image (same DiffIDs, shared store)', async () => {
    const svc = testImageService({ stateDir: join(base, 'state') });
    const fromOci = await svc.pull(`oci:${layout}:latest`);
    const img = await svc.pull(`docker-archive:${archive}`);
    expect(img.config.rootfs?.diff_ids).toEqual(fromOci.config.rootfs?.diff_ids);
    expect(img.config.config?.Cmd).toEqual(['/bin/sh']);
    expect(img.layers[0]?.digest).toBe(fromOci.config.rootfs?.diff_ids[0]); // an uncompressed tar: digest = DiffID
    expect(await svc.content.has(img.manifestDigest)).toBe(true);
    const r = await svc.render(img);
    const { stdout } = await execa(join(r.rootfs, 'bin/busybox'), ['echo', 'from-docker-archive']);
    expect(stdout).toBe('from-docker-archive');
    expect((await readdir(join(r.rootfs, 'bin'))).length).toBeGreaterThan(10);
    // by tag, by index; the same manifest digest each time (the written manifest is deterministic)
    expect((await svc.pull(`docker-archive:${archive}:localhost/busybox:latest`)).manifestDigest).toBe(img.manifestDigest);
    expect((await svc.pull(`docker-archive:${archive}:@0`)).manifestDigest).toBe(img.manifestDigest);
    await expect(svc.pull(`docker-archive:${archive}:other:tag`)).rejects.toMatchObject({
      code: 'NotFound',
      message: expect.stringContaining('localhost/busybox:latest'),
    });
    await expect(svc.pull(`docker-archive:${join(base, 'missing.tar')}`)).rejects.toMatchObject({ code: 'NotFound' });
  });
});
