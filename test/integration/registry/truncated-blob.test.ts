/**
 * Issue 14.13: a layer whose data ends before its declared size ("Stream was destroyed") is
 * refused naming the layer, its declared size and the bytes received, and saying the
 * registry's stream ended early; nothing is kept, and the same reference pulls again once
 * the registry serves the whole blob. The registry is a tiny node:http server on 127.0.0.1
 * that lies about the blob (a real registry never does, so it cannot be made to).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsContentStore } from '../../../src/image/content-store.js';
import { TokenCache } from '../../../src/image/registry/auth.js';
import { RegistryClient } from '../../../src/image/registry/client.js';
import { BlobFetcher, pullFromRegistry } from '../../../src/image/registry/pull.js';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('a layer whose data ends early', () => {
  // incompressible, so that the layer is larger than one socket write
  const layer = gzipSync(randomBytes(512 * 1024));
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(randomBytes(8))] }, config: {} }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
    }),
  );
  /** how the blob is served: cut with Content-Length, cut without it (chunked), or whole */
  let mode: 'cut-length' | 'cut-chunked' | 'whole' = 'whole';
  const cutAt = 100_000;
  let server: Server;
  let host = '';
  let dir = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-ttrunc-'));
    server = createServer((req, res) => {
      const path = req.url ?? '';
      if (path === '/v2/') return res.end('{}');
      if (path.endsWith(`/manifests/v1`)) {
        res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Docker-Content-Digest': sha(manifest) });
        return res.end(manifest);
      }
      if (path.endsWith(`/blobs/${sha(config)}`)) return res.end(config);
      if (path.endsWith(`/blobs/${sha(layer)}`)) {
        if (mode === 'whole') {
          res.writeHead(200, { 'Content-Length': layer.length });
          return res.end(layer);
        }
        res.writeHead(200, mode === 'cut-length' ? { 'Content-Length': layer.length } : {});
        res.write(layer.subarray(0, cutAt), () => {
          if (mode === 'cut-length') res.socket?.destroy();
          else res.end();
        });
        return;
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    server?.closeAllConnections();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const pull = (store: FsContentStore, blobs: BlobFetcher) =>
    pullFromRegistry(
      [
        new RegistryClient(
          { host, insecure: true, repository: 'ns/app' },
          { tokens: new TokenCache(), credentials: async () => undefined, sleep: async () => undefined },
        ),
      ],
      { raw: `${host}/ns/app:v1`, tag: 'v1' },
      { store, blobs, platform: { os: 'linux', architecture: 'amd64' } },
    );

  it.each(['cut-length', 'cut-chunked'] as const)(
    '%s: refused naming the layer, the bytes received of the declared size; pulls again afterwards',
    async (m) => {
      const stateDir = join(dir, m);
      const store = new FsContentStore(stateDir);
      const blobs = new BlobFetcher(store);
      mode = m;
      const err = await pull(store, blobs).then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(err, 'the pull must fail').toBeDefined();
      expect(err!.message).toContain(`layer ${sha(layer)}`);
      expect(err!.message).toMatch(new RegExp(`the registry's stream ended after \\d+ of ${layer.length} bytes`));
      expect(err!.message).not.toMatch(/Stream was destroyed|aborted|Premature close/);
      expect(err!.code).toBe('Unavailable');
      expect(await store.has(sha(layer))).toBe(false);
      expect(await readdir(join(stateDir, 'blobs', '.ingest'))).toEqual([]);

      mode = 'whole';
      const img = await pull(store, blobs);
      expect(img.manifestDigest).toBe(sha(manifest));
      expect(await store.has(sha(layer))).toBe(true);
    },
  );

  it('a local blob shorter than its descriptor says it ended early, with both sizes', async () => {
    const store = new FsContentStore(join(dir, 'local'));
    await expect(store.ingest({ digest: sha(layer), size: layer.length }, Readable.from([layer.subarray(0, cutAt)]))).rejects.toMatchObject(
      {
        code: 'FailedPrecondition',
        message: `blob ${sha(layer)}: the data ended after ${cutAt} of the declared ${layer.length} bytes`,
      },
    );
  });
});
