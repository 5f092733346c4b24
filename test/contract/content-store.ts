/**
 * The ContentStore contract (src/image/types.ts), shaped like containerd's content store test
 * suite: info, readers, writers that verify at commit, walk, delete. Runs against the
 * in-memory fake (test/unit/contract/content-store.test.ts) and FsContentStore on a real
 * directory (test/integration/contract/content-store.test.ts).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf } from '../../src/common/errors.js';
import type { BlobInfo, ContentStore } from '../../src/image/types.js';

export interface ContentStoreHarness {
  store: ContentStore;
  cleanup(): Promise<void>;
}

const sha = (alg: 'sha256' | 'sha512', b: Buffer | string) => `${alg}:${createHash(alg).update(b).digest('hex')}`;
const body = Buffer.from('hello, blob');
const digest = sha('sha256', body);

async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer | string>) parts.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(parts);
}

async function walked(store: ContentStore): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  await store.walk((i) => {
    out.push(i);
  });
  return out;
}

const codeOfRejection = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: unknown) => codeOf(e),
  );

export function contentStoreContract(name: string, open: () => Promise<ContentStoreHarness>): void {
  describe(`ContentStore contract: ${name} (IMG-07/08)`, () => {
    let h: ContentStoreHarness;
    let store: ContentStore;
    beforeEach(async () => {
      h = await open();
      store = h.store;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('an absent blob: no info, not there, NotFound to read, delete is success, walk sees nothing', async () => {
      expect(await store.info(digest)).toBeUndefined();
      expect(await store.has(digest)).toBe(false);
      expect(await codeOfRejection(store.reader(digest))).toBe('NotFound');
      expect(await codeOfRejection(store.readAll(digest))).toBe('NotFound');
      await store.delete(digest);
      expect(await walked(store)).toEqual([]);
    });

    it('ingest verifies size and digest, then info, reader, readAll and walk show the blob', async () => {
      const r = await store.ingest({ digest, size: body.length }, Readable.from([body.subarray(0, 3), body.subarray(3)]));
      expect(r).toMatchObject({ digest, size: body.length, existed: false });
      expect(await store.info(digest)).toMatchObject({ digest, size: body.length });
      expect((await store.info(digest))?.committedAt).toBeGreaterThan(0);
      expect(await store.has(digest)).toBe(true);
      expect(await collect(await store.reader(digest))).toEqual(body);
      expect(await store.readAll(digest)).toEqual(body);
      expect((await walked(store)).map((i) => i.digest)).toEqual([digest]);
    });

    it('a writer: nothing is visible before commit; commit checks and publishes', async () => {
      const w = await store.writer({ digest, size: body.length });
      await w.write(body.subarray(0, 5));
      expect(w.offset).toBe(5);
      await w.write(body.subarray(5));
      expect(await store.has(digest)).toBe(false);
      expect(await w.commit()).toMatchObject({ digest, size: body.length, existed: false });
      expect(await store.readAll(digest)).toEqual(body);
    });

    it('commit refuses a digest mismatch (FailedPrecondition) and keeps nothing', async () => {
      const other = sha('sha256', 'something else');
      const w = await store.writer({ digest: other, size: body.length });
      await w.write(body);
      expect(await codeOfRejection(w.commit())).toBe('FailedPrecondition');
      expect(await store.has(other)).toBe(false);
      expect(await store.has(digest)).toBe(false);
      expect(await walked(store)).toEqual([]);
      expect(await codeOfRejection(store.ingest({ digest: other, size: body.length }, Readable.from([body])))).toBe('FailedPrecondition');
      expect(await walked(store)).toEqual([]);
    });

    it('commit refuses data shorter than the declared size; a write past it fails at once', async () => {
      expect(await codeOfRejection(store.ingest({ digest, size: body.length + 1 }, Readable.from([body])))).toBe('FailedPrecondition');
      const w = await store.writer({ digest, size: 4 });
      expect(await codeOfRejection(w.write(body))).toBe('FailedPrecondition');
      await w.abort();
      expect(await store.has(digest)).toBe(false);
    });

    it('ingest stops reading the source as soon as it passes the expected size', async () => {
      let pulled = 0;
      async function* endless() {
        for (;;) {
          pulled++;
          yield Buffer.alloc(1024, 1);
        }
      }
      expect(await codeOfRejection(store.ingest({ digest, size: 2048 }, endless()))).toBe('FailedPrecondition');
      expect(pulled).toBe(3);
    });

    it('an unknown size is taken from the data; sha512 works as sha256', async () => {
      async function* gen() {
        yield new Uint8Array(body);
      }
      expect(await store.ingest({ digest }, gen())).toMatchObject({ digest, size: body.length });
      const d512 = sha('sha512', body);
      await store.ingest({ digest: d512, size: body.length }, Readable.from([body]));
      expect(await store.readAll(d512)).toEqual(body);
      expect((await walked(store)).map((i) => i.digest)).toEqual([digest, d512].sort());
    });

    it('a computed digest (algorithm given): commit names the blob; maxBytes is enforced (InvalidArgument)', async () => {
      const r = await store.ingest({ algorithm: 'sha512' }, Readable.from([body]));
      expect(r).toMatchObject({ digest: sha('sha512', body), size: body.length, existed: false });
      expect(await store.ingest({ algorithm: 'sha512' }, Readable.from([body]))).toMatchObject({ existed: true });
      expect(await codeOfRejection(store.ingest({ algorithm: 'sha256', maxBytes: 4 }, Readable.from([body])))).toBe('InvalidArgument');
      expect(await store.has(digest)).toBe(false);
    });

    it('ingest of a present blob does not read the source and says it existed', async () => {
      await store.ingest({ digest, size: body.length }, Readable.from([body]));
      const again = await store.ingest({ digest, size: body.length }, Readable.from([Buffer.from('not even read')]));
      expect(again).toMatchObject({ digest, existed: true });
      expect(await store.readAll(digest)).toEqual(body);
    });

    it('abort drops the ingest; abort twice and after commit is harmless', async () => {
      const w = await store.writer({ digest, size: body.length });
      await w.write(body);
      await w.abort();
      await w.abort();
      expect(await store.has(digest)).toBe(false);
      const w2 = await store.writer({ digest, size: body.length });
      await w2.write(body);
      await w2.commit();
      await w2.abort();
      expect(await store.has(digest)).toBe(true);
    });

    it('pruneIngest drops what an interrupted ingest left', async () => {
      const w = await store.writer({ digest, size: body.length });
      await w.write(body.subarray(0, 3));
      expect(await store.pruneIngest()).toBe(1);
      expect(await store.pruneIngest()).toBe(0);
      expect(await store.has(digest)).toBe(false);
    });

    it('readAll enforces its cap (FailedPrecondition)', async () => {
      await store.ingest({ digest, size: body.length }, Readable.from([body]));
      expect(await codeOfRejection(store.readAll(digest, 4))).toBe('FailedPrecondition');
    });

    it.each([
      'sha256:abc',
      `sha256:${'A'.repeat(64)}`,
      `md5:${'a'.repeat(32)}`,
      `sha256:../../${'a'.repeat(58)}`,
      `sha512:${'a'.repeat(64)}`,
      'sha256',
    ])('a malformed digest is InvalidArgument everywhere: %s', async (bad) => {
      expect(await codeOfRejection(store.writer({ digest: bad }))).toBe('InvalidArgument');
      expect(await codeOfRejection(store.ingest({ digest: bad }, Readable.from([body])))).toBe('InvalidArgument');
      expect(await codeOfRejection(store.info(bad))).toBe('InvalidArgument');
      expect(await codeOfRejection(store.has(bad))).toBe('InvalidArgument');
    });

    it('delete removes a blob and is idempotent', async () => {
      await store.ingest({ digest, size: body.length }, Readable.from([body]));
      await store.delete(digest);
      await store.delete(digest);
      expect(await store.has(digest)).toBe(false);
      expect(await walked(store)).toEqual([]);
    });
  });
}
