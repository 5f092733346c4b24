/** docker-archive (docker-archive.ts): the image resolved from the archive's index, the policy asked before any layer is stored. */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError, codeOf } from '../../../src/common/errors.js';
import { FsContentStore } from '../../../src/image/content-store.js';
import { pullFromDockerArchive } from '../../../src/image/docker-archive.js';
import { file, makeTar } from './helpers.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('pullFromDockerArchive', () => {
  let dir = '';
  let store: FsContentStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-darchive-'));
    store = new FsContentStore(join(dir, 'state'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** An archive of one image: `layer` as its one layer member, `diffId` in its config. */
  async function archive(layer: Buffer, diffId: string): Promise<string> {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
    const manifest = JSON.stringify([{ Config: 'config.json', RepoTags: ['localhost/t:1'], Layers: ['layer.tar'] }]);
    const p = join(dir, 'image.tar');
    await writeFile(p, await makeTar([file('manifest.json', manifest), file('config.json', config), file('layer.tar', layer)]));
    return p;
  }
  const stored = async () => {
    const out: string[] = [];
    await store.walk((i) => void out.push(i.digest));
    return out;
  };

  it('a plain layer: its digest is its DiffID; the policy sees the manifest with nothing else stored, then the layer and config follow', async () => {
    const layer = await makeTar([file('hello', 'hi\n')]);
    const p = await archive(layer, sha(layer));
    const seen: string[][] = [];
    const img = await pullFromDockerArchive(
      p,
      { raw: `docker-archive:${p}` },
      { store, checkTopLevel: async () => void seen.push(await stored()) },
    );
    expect(img.layers).toEqual([{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }]);
    expect(seen).toEqual([[img.manifestDigest]]);
    expect((await stored()).sort()).toEqual([img.manifestDigest, img.configDigest, sha(layer)].sort());
  });

  it('a gzip layer is hashed from the archive (its digest is not its DiffID)', async () => {
    const tarBytes = await makeTar([file('hello', 'hi\n')]);
    const layer = gzipSync(tarBytes);
    const p = await archive(layer, sha(tarBytes));
    const img = await pullFromDockerArchive(p, { raw: `docker-archive:${p}` }, { store });
    expect(img.layers[0]).toMatchObject({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: sha(layer),
      size: layer.length,
    });
    expect(await store.has(sha(layer))).toBe(true);
  });

  it('a refusal by the policy leaves no layer and no config in the store', async () => {
    const layer = await makeTar([file('hello', 'hi\n')]);
    const p = await archive(layer, sha(layer));
    const refuse = async () => {
      throw new BerthError('PermissionDenied', 'refused by the test');
    };
    const err = await pullFromDockerArchive(p, { raw: `docker-archive:${p}` }, { store, checkTopLevel: refuse }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('PermissionDenied');
    expect(await stored()).toHaveLength(1); // the manifest berth wrote, the document the policy was asked about
    expect(await store.has(sha(layer))).toBe(false);
  });

  it('a plain layer whose bytes are not its DiffID is refused, naming the member', async () => {
    const layer = await makeTar([file('hello', 'hi\n')]);
    const other = await makeTar([file('other', 'x\n')]);
    const p = await archive(layer, sha(other));
    const err = await pullFromDockerArchive(p, { raw: `docker-archive:${p}` }, { store }).catch((e: unknown) => e as Error);
    expect(codeOf(err)).toBe('FailedPrecondition');
    expect((err as Error).message).toMatch(/layer layer\.tar: blob digest mismatch/);
    expect(await store.has(sha(layer))).toBe(false);
  });
});
