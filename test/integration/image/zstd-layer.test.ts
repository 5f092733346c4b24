/**
 * zstd OCI layers (`application/vnd.oci.image.layer.v1.tar+zstd`, IMG-10): layers packed by
 * GNU tar and compressed by the zstd tool render the same tree as the same layers in gzip;
 * a zstd layer whose compressed bytes are cut short is refused with what zstd said, and
 * nothing is published.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImageService } from '../../../src/image/index.js';
import type { BerthImageService } from '../../../src/image/index.js';
import { goodFiles, tarDir, writeLayout } from './layout-helpers.js';

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('zstd layers (IMG-10)', () => {
  let base = '';
  let svc: BerthImageService;
  let layers: string[] = [];

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'berth-tzstd-'));
    svc = createImageService({ stateDir: join(base, 'state') });
    const l1 = join(base, 'l1');
    await goodFiles(l1, 200, 3000);
    await mkdir(join(l1, 'etc'), { recursive: true });
    await writeFile(join(l1, 'etc', 'hostname'), 'lower\n');
    const l2 = join(base, 'l2');
    await mkdir(join(l2, 'etc'), { recursive: true });
    await writeFile(join(l2, 'etc', 'hostname'), 'upper\n');
    await symlink('hostname', join(l2, 'etc', 'name'));
    await writeFile(join(l2, 'etc', '.wh.motd'), '');
    layers = [await tarDir(l1, join(base, 'l1.tar')), await tarDir(l2, join(base, 'l2.tar'))];
  });
  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('renders the tree the same layers give in gzip', async () => {
    const trees: Record<string, string> = {};
    for (const c of ['zstd', 'gzip'] as const) {
      const layout = join(base, `layout-${c}`);
      await writeLayout(layout, layers, c);
      const img = await svc.pull(`oci:${layout}:latest`);
      expect(img.layers.map((l) => l.mediaType)).toEqual(layers.map(() => `application/vnd.oci.image.layer.v1.tar+${c}`));
      const { rootfs } = await svc.render(img);
      expect(await readFile(join(rootfs, 'etc', 'hostname'), 'utf8')).toBe('upper\n');
      expect((await lstat(join(rootfs, 'etc', 'name'))).isSymbolicLink()).toBe(true);
      trees[c] = (await readdir(join(rootfs, 'good'), { recursive: true })).sort().join('\n');
    }
    expect(trees.zstd).toBe(trees.gzip);
    expect(trees.zstd!.split('\n')).toHaveLength(220); // 20 directories, 200 files
  });

  it('a zstd layer cut short is refused with what zstd said; nothing is published', async () => {
    const layout = join(base, 'layout-cut');
    await writeLayout(layout, [layers[0]!], 'zstd');
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    const manifestPath = join(layout, 'blobs', 'sha256', index.manifests[0].digest.slice(7));
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    const blobPath = join(layout, 'blobs', 'sha256', manifest.layers[0].digest.slice(7));
    const whole = await readFile(blobPath);
    // Rewrite the image around a cut blob: a consistent layout whose layer is a truncated zstd frame.
    const { createHash } = await import('node:crypto');
    const cut = whole.subarray(0, Math.floor(whole.length / 2));
    const cutDigest = `sha256:${createHash('sha256').update(cut).digest('hex')}`;
    await writeFile(join(layout, 'blobs', 'sha256', cutDigest.slice(7)), cut);
    manifest.layers[0] = { ...manifest.layers[0], digest: cutDigest, size: cut.length };
    const mBody = Buffer.from(JSON.stringify(manifest));
    const mDigest = `sha256:${createHash('sha256').update(mBody).digest('hex')}`;
    await writeFile(join(layout, 'blobs', 'sha256', mDigest.slice(7)), mBody);
    index.manifests[0] = { ...index.manifests[0], digest: mDigest, size: mBody.length };
    await writeFile(join(layout, 'index.json'), JSON.stringify(index));

    const before = (await readdir(join(base, 'state', 'rendered'))).sort();
    const img = await svc.pull(`oci:${layout}:latest`);
    await expect(svc.render(img)).rejects.toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(/zstd -dc failed/) });
    expect((await readdir(join(base, 'state', 'rendered'))).sort()).toEqual(before);
  });
});
