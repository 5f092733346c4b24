import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { FsContentStore } from '../../../src/image/index.js';
import { sha256 } from './helpers.js';

const base = await mkdtemp(join(tmpdir(), 'berth-store-'));
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

let n = 0;
let store: FsContentStore;
let stateDir: string;
beforeEach(() => {
  stateDir = join(base, `s${++n}`);
  store = new FsContentStore(stateDir);
});

const body = Buffer.from('hello, blob');
const digest = sha256(body);

async function leftovers(): Promise<string[]> {
  return readdir(join(stateDir, 'blobs', '.ingest')).catch(() => []);
}

/**
 * What FsContentStore does beyond the ContentStore contract (test/contract/content-store.ts,
 * run against it in test/integration/contract/content-store.test.ts): where blobs and
 * ingests live on disk.
 */
describe('FsContentStore on disk (IMG-07/08)', () => {
  it('stores at <state>/blobs/<alg>/<hex> after verifying size and digest, leaving no ingest file', async () => {
    await store.ingest({ digest, size: body.length }, Readable.from([body.subarray(0, 3), body.subarray(3)]));
    expect(store.blobPath(digest)).toBe(join(stateDir, 'blobs', 'sha256', digest.slice(7)));
    expect(await readdir(join(stateDir, 'blobs', 'sha256'))).toEqual([digest.slice(7)]);
    expect(await leftovers()).toEqual([]);
  });

  it('a blob of several MiB written through a writer whose caller reuses one chunk buffer is stored byte for byte', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 4321);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
    const d = sha256(data);
    const w = await store.writer({ digest: d, size: data.length });
    const chunk = Buffer.alloc(64 * 1024 + 7);
    for (let off = 0; off < data.length; off += chunk.length) {
      const n = data.copy(chunk, 0, off, off + chunk.length);
      await w.write(chunk.subarray(0, n));
      chunk.fill(0); // the store is done with the chunk once write resolves
    }
    expect(await w.commit()).toMatchObject({ digest: d, size: data.length, existed: false });
    expect((await store.readAll(d)).equals(data)).toBe(true);
    expect(await leftovers()).toEqual([]);
  });

  it('a refused ingest leaves no file in .ingest', async () => {
    const other = sha256('something else');
    await expect(store.ingest({ digest: other, size: body.length }, Readable.from([body]))).rejects.toMatchObject({
      code: 'FailedPrecondition',
    });
    async function* endless() {
      for (;;) yield Buffer.alloc(1024, 1);
    }
    await expect(store.ingest({ digest, size: 2048 }, endless())).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(await leftovers()).toEqual([]);
  });

  it.each(['sha256:abc', `sha256:${'a'.repeat(63)}/`, `sha256:../../${'a'.repeat(58)}`])(
    'validates the digest grammar before using it as a path: %s',
    (bad) => {
      expect(() => store.blobPath(bad)).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    },
  );

  it('readAll re-verifies the stored bytes: a blob changed on disk is FailedPrecondition', async () => {
    await store.ingest({ digest, size: body.length }, Readable.from([body]));
    await writeFile(store.blobPath(digest), 'tampered!!!');
    await expect(store.readAll(digest)).rejects.toMatchObject({ code: 'FailedPrecondition' });
  });

  it('walk skips stray files that are not blobs', async () => {
    await store.ingest({ digest, size: body.length }, Readable.from([body]));
    await writeFile(join(stateDir, 'blobs', 'sha256', 'not-a-digest'), 'x');
    const seen: string[] = [];
    await store.walk((i) => {
      seen.push(i.digest);
    });
    expect(seen).toEqual([digest]);
  });
});
