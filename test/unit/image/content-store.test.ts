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

describe('FsContentStore (IMG-07/08)', () => {
  it('stores at <state>/blobs/<alg>/<hex> after verifying size and digest', async () => {
    const p = await store.ingest({ digest, size: body.length }, Readable.from([body.subarray(0, 3), body.subarray(3)]));
    expect(p).toBe(join(stateDir, 'blobs', 'sha256', digest.slice(7)));
    expect(await store.has(digest)).toBe(true);
    expect(await store.readAll(digest)).toEqual(body);
    expect(await store.list()).toEqual([digest]);
    expect(await leftovers()).toEqual([]);
  });

  it('accepts an async iterable source and an unknown size', async () => {
    async function* gen() {
      yield new Uint8Array(body);
    }
    await store.ingest({ digest }, gen());
    expect(await store.has(digest)).toBe(true);
  });

  it('refuses a digest mismatch with FailedPrecondition and keeps nothing', async () => {
    const other = sha256('something else');
    await expect(store.ingest({ digest: other, size: body.length }, Readable.from([body]))).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(await store.has(other)).toBe(false);
    expect(await store.list()).toEqual([]);
    expect(await leftovers()).toEqual([]);
  });

  it('refuses a short blob (size mismatch)', async () => {
    await expect(store.ingest({ digest, size: body.length + 1 }, Readable.from([body]))).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(await store.has(digest)).toBe(false);
  });

  it('stops reading as soon as the source passes the expected size', async () => {
    let pulled = 0;
    async function* endless() {
      for (;;) {
        pulled++;
        yield Buffer.alloc(1024, 1);
      }
    }
    await expect(store.ingest({ digest, size: 2048 }, endless())).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(pulled).toBe(3);
    expect(await leftovers()).toEqual([]);
  });

  it.each([
    'sha256:abc',
    `sha256:${'A'.repeat(64)}`,
    `md5:${'a'.repeat(32)}`,
    `sha256:${'a'.repeat(63)}/`,
    `sha256:../../${'a'.repeat(58)}`,
    `sha512:${'a'.repeat(64)}`,
    'sha256',
  ])('validates the digest grammar before using it as a path: %s', async (bad) => {
    expect(() => store.path(bad)).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    await expect(store.ingest({ digest: bad }, Readable.from([body]))).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(store.has(bad)).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('supports sha512', async () => {
    const { createHash } = await import('node:crypto');
    const d = `sha512:${createHash('sha512').update(body).digest('hex')}`;
    await store.ingest({ digest: d, size: body.length }, Readable.from([body]));
    expect(await store.readAll(d)).toEqual(body);
  });

  it('readAll enforces a cap and re-verifies the stored bytes', async () => {
    await store.ingest({ digest, size: body.length }, Readable.from([body]));
    await expect(store.readAll(digest, 4)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await writeFile(store.path(digest), 'tampered!!!');
    await expect(store.readAll(digest)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await expect(store.readAll(sha256('absent'))).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('ingest of a present blob is a no-op; delete is idempotent', async () => {
    await store.ingest({ digest, size: body.length }, Readable.from([body]));
    await store.ingest({ digest, size: body.length }, Readable.from([Buffer.from('not even read')]));
    expect(await store.readAll(digest)).toEqual(body);
    await store.delete(digest);
    await store.delete(digest);
    expect(await store.has(digest)).toBe(false);
  });
});
