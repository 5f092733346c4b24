/**
 * An in-memory ContentStore (the port of src/image/types.ts) for unit tests: blobs in a map,
 * writers that verify at commit exactly as the port says, open ingests counted for
 * `pruneIngest`. The contract suite test/contract/content-store.ts runs against it and
 * against FsContentStore.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { BerthError } from '../../src/common/errors.js';
import { parseDigest } from '../../src/image/digest.js';
import type { BlobInfo, ContentStore, ContentWriter, WriterExpectation } from '../../src/image/types.js';

type Source = AsyncIterable<Uint8Array> | NodeJS.ReadableStream;

class MemoryWriter implements ContentWriter {
  offset = 0;
  private done = false;
  private readonly hash: Hash;
  private readonly parts: Buffer[] = [];
  constructor(
    private readonly store: MemoryContentStore,
    private readonly algorithm: 'sha256' | 'sha512',
    private readonly want: { digest?: string; size?: number; maxBytes: number },
  ) {
    this.hash = createHash(algorithm);
  }
  async write(chunk: Uint8Array): Promise<void> {
    if (this.done) throw new BerthError('FailedPrecondition', 'write after commit or abort');
    const next = this.offset + chunk.length;
    const { digest, size, maxBytes } = this.want;
    if (size !== undefined && next > size)
      throw new BerthError('FailedPrecondition', `blob ${digest}: more than the expected ${size} bytes`);
    if (next > maxBytes) throw new BerthError('InvalidArgument', `content larger than ${maxBytes} bytes`);
    this.hash.update(chunk);
    this.parts.push(Buffer.from(chunk));
    this.offset = next;
  }
  async commit(): Promise<BlobInfo & { existed: boolean }> {
    if (this.done) throw new BerthError('FailedPrecondition', 'already committed or aborted');
    await this.abort();
    const { digest, size } = this.want;
    if (size !== undefined && this.offset !== size)
      throw new BerthError('FailedPrecondition', `blob ${digest}: the data ended after ${this.offset} of the declared ${size} bytes`);
    const actual = `${this.algorithm}:${this.hash.digest('hex')}`;
    if (digest !== undefined && actual !== digest)
      throw new BerthError('FailedPrecondition', `blob digest mismatch: got ${actual}, expected ${digest}`);
    const present = await this.store.info(actual);
    if (present) return { ...present, existed: true };
    const committedAt = this.store.now();
    this.store.blobs.set(actual, { bytes: Buffer.concat(this.parts), committedAt });
    return { digest: actual, size: this.offset, committedAt, existed: false };
  }
  async abort(): Promise<void> {
    this.done = true;
    this.store.open.delete(this);
  }
}

export class MemoryContentStore implements ContentStore {
  blobs = new Map<string, { bytes: Buffer; committedAt: number }>();
  /** open writers (an interrupted ingest is one nobody commits) */
  readonly open = new Set<ContentWriter>();
  constructor(readonly now: () => number = () => 1_700_000_000_000) {}

  async info(digest: string): Promise<BlobInfo | undefined> {
    parseDigest(digest);
    const b = this.blobs.get(digest);
    return b ? { digest, size: b.bytes.length, committedAt: b.committedAt } : undefined;
  }
  async has(digest: string): Promise<boolean> {
    return (await this.info(digest)) !== undefined;
  }
  private get(digest: string): Buffer {
    parseDigest(digest);
    const b = this.blobs.get(digest);
    if (!b) throw new BerthError('NotFound', `blob ${digest} not in the content store`);
    return b.bytes;
  }
  async reader(digest: string): Promise<NodeJS.ReadableStream> {
    return Readable.from([this.get(digest)]);
  }
  async readAll(digest: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
    const b = this.get(digest);
    if (b.length > maxBytes)
      throw new BerthError('FailedPrecondition', `blob ${digest} is ${b.length} bytes, over the ${maxBytes}-byte limit`);
    return Buffer.from(b);
  }

  async writer(expected: WriterExpectation): Promise<ContentWriter> {
    const algorithm = 'digest' in expected ? (parseDigest(expected.digest).algorithm as 'sha256' | 'sha512') : expected.algorithm;
    const want = 'digest' in expected ? expected.digest : undefined;
    const size = 'digest' in expected ? expected.size : undefined;
    const maxBytes = 'digest' in expected ? Number.MAX_SAFE_INTEGER : (expected.maxBytes ?? Number.MAX_SAFE_INTEGER);
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) throw new BerthError('InvalidArgument', `invalid size ${size}`);
    const w = new MemoryWriter(this, algorithm, {
      maxBytes,
      ...(want !== undefined ? { digest: want } : {}),
      ...(size !== undefined ? { size } : {}),
    });
    this.open.add(w);
    return w;
  }

  async ingest(expected: WriterExpectation, source: Source): Promise<BlobInfo & { existed: boolean }> {
    const close = () => (source as { destroy?: () => void }).destroy?.();
    let w: ContentWriter;
    try {
      if ('digest' in expected) {
        const present = await this.info(expected.digest);
        if (present && (expected.size === undefined || present.size === expected.size)) {
          close();
          return { ...present, existed: true };
        }
      }
      w = await this.writer(expected);
    } catch (err) {
      close();
      throw err;
    }
    try {
      try {
        for await (const c of source as AsyncIterable<Uint8Array | string>) await w.write(typeof c === 'string' ? Buffer.from(c) : c);
      } finally {
        close();
      }
      return await w.commit();
    } catch (err) {
      await w.abort();
      throw err;
    }
  }

  async walk(fn: (info: BlobInfo) => void | Promise<void>): Promise<void> {
    for (const d of [...this.blobs.keys()].sort()) {
      const i = await this.info(d);
      if (i) await fn(i);
    }
  }
  async delete(digest: string): Promise<void> {
    parseDigest(digest);
    this.blobs.delete(digest);
  }
  async pruneIngest(): Promise<number> {
    const n = this.open.size;
    for (const w of [...this.open]) await w.abort();
    return n;
  }
}
