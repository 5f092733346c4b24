/**
 * FsContentStore: content-addressed, immutable blobs at `<stateDir>/blobs/<alg>/<hex>`
 * (DESIGN.md §3), implementing the ContentStore port (src/image/types.ts). Verify on commit
 * (IMG-07/08): the digest is validated before it names a file, a writer streams into a temp
 * file under `blobs/.ingest` while hashing, refuses the first byte past the expected size, and
 * only a blob whose size and digest match is renamed into place. On mismatch nothing is kept
 * and the error is FailedPrecondition.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, errnoOf } from '../common/index.js';
import type { BlobInfo, ContentStore, ContentWriter, WriterExpectation } from './types.js';
import { parseDigest } from './digest.js';
import { makeDirs } from '../common/fs.js';

type Source = AsyncIterable<Uint8Array> | NodeJS.ReadableStream;

function closeSource(source: Source): void {
  const s = source as { destroy?: () => void };
  if (typeof s.destroy === 'function') s.destroy();
}

class FsWriter implements ContentWriter {
  offset = 0;
  private done = false;
  private readonly hash: Hash;

  constructor(
    private readonly store: FsContentStore,
    private readonly fh: FileHandle,
    private readonly tmp: string,
    private readonly algorithm: 'sha256' | 'sha512',
    private readonly expected: { digest?: string; size?: number; maxBytes: number },
  ) {
    this.hash = createHash(algorithm);
  }

  private what(): string {
    return this.expected.digest ?? `${this.algorithm} content`;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.done) throw new BerthError('FailedPrecondition', `blob ${this.what()}: write after commit or abort`);
    const next = this.offset + chunk.length;
    const { size, maxBytes } = this.expected;
    if (size !== undefined && next > size) {
      throw new BerthError('FailedPrecondition', `blob ${this.what()}: more than the expected ${size} bytes`, {
        details: { digest: this.expected.digest, expectedSize: size },
      });
    }
    if (next > maxBytes) throw new BerthError('InvalidArgument', `content larger than ${maxBytes} bytes`);
    this.hash.update(chunk);
    let off = 0;
    while (off < chunk.length) off += (await this.fh.write(chunk, off, chunk.length - off)).bytesWritten;
    this.offset = next;
  }

  async commit(): Promise<BlobInfo & { existed: boolean }> {
    if (this.done) throw new BerthError('FailedPrecondition', `blob ${this.what()}: already committed or aborted`);
    try {
      const { digest: want, size } = this.expected;
      if (size !== undefined && this.offset !== size) {
        throw new BerthError('FailedPrecondition', `blob ${want}: the data ended after ${this.offset} of the declared ${size} bytes`, {
          details: { digest: want, expectedSize: size, actualSize: this.offset },
        });
      }
      const actual = `${this.algorithm}:${this.hash.digest('hex')}`;
      if (want !== undefined && actual !== want) {
        throw new BerthError('FailedPrecondition', `blob digest mismatch: got ${actual}, expected ${want}`, {
          details: { digest: want, actual },
        });
      }
      const present = await this.store.info(actual);
      await this.fh.sync();
      await this.fh.close();
      this.done = true;
      if (present?.size === this.offset) {
        await rm(this.tmp, { force: true });
        return { ...present, existed: true };
      }
      await rename(this.tmp, this.store.blobPath(actual));
      const committed = await this.store.info(actual);
      if (!committed) throw new BerthError('Internal', `blob ${actual} vanished right after its commit`);
      return { ...committed, existed: false };
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.fh.close().catch(() => undefined); // closing a handle a failed write left: nothing to report
    }
    await rm(this.tmp, { force: true });
  }
}

export class FsContentStore implements ContentStore {
  readonly root: string;

  /** `stateDir` is berth's state directory; blobs live in `<stateDir>/blobs`. */
  constructor(stateDir: string) {
    this.root = join(stateDir, 'blobs');
  }

  /**
   * The file of a blob. Not part of the ContentStore port: only the layer appliers that read a
   * blob twice or by random access use it (image-service.ts `doRender` → `applyLayerBlob`,
   * appc/service.ts → `renderAciTree`).
   */
  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.root, algorithm, hex);
  }

  async info(digest: string): Promise<BlobInfo | undefined> {
    try {
      const st = await stat(this.blobPath(digest));
      return st.isFile() ? { digest, size: st.size, committedAt: st.mtimeMs } : undefined;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  async has(digest: string): Promise<boolean> {
    return (await this.info(digest)) !== undefined;
  }

  async writer(expected: WriterExpectation): Promise<ContentWriter> {
    let algorithm: 'sha256' | 'sha512';
    let want: { digest?: string; size?: number; maxBytes: number };
    if ('digest' in expected) {
      algorithm = parseDigest(expected.digest).algorithm as 'sha256' | 'sha512';
      const size = expected.size;
      if (size !== undefined && (!Number.isSafeInteger(size) || size < 0))
        throw new BerthError('InvalidArgument', `invalid size ${size} for ${expected.digest}`);
      want = { digest: expected.digest, maxBytes: Number.MAX_SAFE_INTEGER, ...(size !== undefined ? { size } : {}) };
    } else {
      algorithm = expected.algorithm;
      want = { maxBytes: expected.maxBytes ?? Number.MAX_SAFE_INTEGER };
    }
    const ingestDir = join(this.root, '.ingest');
    await makeDirs(ingestDir);
    await makeDirs(join(this.root, algorithm));
    const name = want.digest ? parseDigest(want.digest).hex.slice(0, 16) : 'computed';
    const tmp = join(ingestDir, `${name}-${randomBytes(6).toString('hex')}`);
    return new FsWriter(this, await open(tmp, 'wx', 0o644), tmp, algorithm, want);
  }

  async ingest(expected: WriterExpectation, source: Source): Promise<BlobInfo & { existed: boolean }> {
    let w: ContentWriter;
    try {
      if ('digest' in expected) {
        const present = await this.info(expected.digest);
        if (present && (expected.size === undefined || present.size === expected.size)) {
          closeSource(source);
          return { ...present, existed: true };
        }
      }
      w = await this.writer(expected);
    } catch (err) {
      closeSource(source);
      throw err;
    }
    try {
      try {
        for await (const chunk of source as AsyncIterable<Uint8Array | string>)
          await w.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      } finally {
        closeSource(source);
      }
      return await w.commit();
    } catch (err) {
      await w.abort();
      throw err;
    }
  }

  /** Read a whole blob, refusing one larger than `maxBytes`; re-verifies its digest. */
  async readAll(digest: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
    const { algorithm } = parseDigest(digest);
    let fh;
    try {
      fh = await open(this.blobPath(digest), 'r');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw new BerthError('NotFound', `blob ${digest} not in the content store`, { cause: err });
      throw err;
    }
    try {
      const { size } = await fh.stat();
      if (size > maxBytes) throw new BerthError('FailedPrecondition', `blob ${digest} is ${size} bytes, over the ${maxBytes}-byte limit`);
      const buf = Buffer.alloc(size);
      let off = 0;
      while (off < size) {
        const { bytesRead } = await fh.read(buf, off, size - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      const actual = `${algorithm}:${createHash(algorithm).update(buf.subarray(0, off)).digest('hex')}`;
      if (off !== size || actual !== digest) throw new BerthError('FailedPrecondition', `stored blob ${digest} is corrupt (got ${actual})`);
      return buf;
    } finally {
      await fh.close();
    }
  }

  /** A stream of a stored blob (not re-verified: callers that need it hash while reading). */
  async reader(digest: string): Promise<NodeJS.ReadableStream> {
    // a missing blob is NotFound here, not an 'error' event later (blobs are never replaced, so the check holds)
    if (!(await this.has(digest))) throw new BerthError('NotFound', `blob ${digest} not in the content store`);
    return createReadStream(this.blobPath(digest));
  }

  async walk(fn: (info: BlobInfo) => void | Promise<void>): Promise<void> {
    const digests: string[] = [];
    for (const alg of ['sha256', 'sha512'] as const) {
      let names: string[];
      try {
        names = await readdir(join(this.root, alg));
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') continue;
        throw err;
      }
      for (const n of names) {
        const d = `${alg}:${n}`;
        try {
          parseDigest(d);
          digests.push(d);
        } catch {
          // not a blob (a stray file): not part of the store
        }
      }
    }
    for (const d of digests.sort()) {
      const info = await this.info(d);
      if (info) await fn(info);
    }
  }

  async pruneIngest(): Promise<number> {
    const dir = join(this.root, '.ingest');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return 0;
      throw err;
    }
    for (const n of names) await rm(join(dir, n), { force: true, recursive: true });
    return names.length;
  }

  async delete(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }
}
