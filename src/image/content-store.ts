/**
 * FsContentStore: content-addressed, immutable blobs at `<stateDir>/blobs/<alg>/<hex>`
 * (DESIGN.md §3). Verify on commit (IMG-07/08): the digest is validated before it becomes a
 * path, the source is streamed into a temp file beside the blobs while hashing, reading stops
 * as soon as more than `size` bytes arrive, and only a blob whose size and digest match is
 * renamed into place. On mismatch nothing is kept and the error is FailedPrecondition.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, errnoOf } from '../common/index.js';
import type { ContentStore } from './types.js';
import { parseDigest } from './digest.js';

type Source = AsyncIterable<Uint8Array> | NodeJS.ReadableStream;

function closeSource(source: Source): void {
  const s = source as { destroy?: () => void };
  if (typeof s.destroy === 'function') s.destroy();
}

export class FsContentStore implements ContentStore {
  readonly root: string;

  /** `stateDir` is berth's state directory; blobs live in `<stateDir>/blobs`. */
  constructor(stateDir: string) {
    this.root = join(stateDir, 'blobs');
  }

  path(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.root, algorithm, hex);
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await stat(this.path(digest))).isFile();
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return false;
      throw err;
    }
  }

  /** Size of a stored blob, or undefined when absent. */
  async size(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.path(digest))).size;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  async ingest(expected: { digest: string; size?: number }, source: Source): Promise<string> {
    const { algorithm, hex } = parseDigest(expected.digest);
    const size = expected.size;
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
      closeSource(source);
      throw new BerthError('InvalidArgument', `invalid size ${size} for ${expected.digest}`);
    }
    const final = join(this.root, algorithm, hex);
    const existing = await this.size(expected.digest);
    if (existing !== undefined && (size === undefined || existing === size)) {
      closeSource(source);
      return final;
    }
    const ingestDir = join(this.root, '.ingest');
    await mkdir(ingestDir, { recursive: true });
    await mkdir(join(this.root, algorithm), { recursive: true });
    const tmp = join(ingestDir, `${hex.slice(0, 16)}-${randomBytes(6).toString('hex')}`);
    const hash = createHash(algorithm);
    let written = 0;
    const fh = await open(tmp, 'wx', 0o644);
    try {
      try {
        for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          written += buf.length;
          if (size !== undefined && written > size) {
            throw new BerthError('FailedPrecondition', `blob ${expected.digest}: more than the expected ${size} bytes`, {
              details: { digest: expected.digest, expectedSize: size },
            });
          }
          hash.update(buf);
          let off = 0;
          while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
        }
      } finally {
        closeSource(source);
      }
      if (size !== undefined && written !== size) {
        throw new BerthError('FailedPrecondition', `blob ${expected.digest}: the data ended after ${written} of the declared ${size} bytes`, {
          details: { digest: expected.digest, expectedSize: size, actualSize: written },
        });
      }
      const actual = `${algorithm}:${hash.digest('hex')}`;
      if (actual !== expected.digest) {
        throw new BerthError('FailedPrecondition', `blob digest mismatch: got ${actual}, expected ${expected.digest}`, {
          details: { digest: expected.digest, actual },
        });
      }
      await fh.sync();
      await fh.close();
      await rename(tmp, final);
      return final;
    } catch (err) {
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /**
   * Ingest content whose digest is not known in advance (an ACI's image ID is the sha512 of
   * its uncompressed tar): hash while writing, then rename into the place the hash names.
   * More than `maxBytes` is refused (InvalidArgument). Returns the digest, size and whether
   * the blob was already there.
   */
  async ingestComputed(
    algorithm: 'sha256' | 'sha512',
    source: Source,
    maxBytes = Number.MAX_SAFE_INTEGER,
  ): Promise<{ digest: string; size: number; path: string; existed: boolean }> {
    const ingestDir = join(this.root, '.ingest');
    await mkdir(ingestDir, { recursive: true });
    await mkdir(join(this.root, algorithm), { recursive: true });
    const tmp = join(ingestDir, `computed-${randomBytes(8).toString('hex')}`);
    const hash = createHash(algorithm);
    let size = 0;
    const fh = await open(tmp, 'wx', 0o644);
    try {
      try {
        for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          size += buf.length;
          if (size > maxBytes) throw new BerthError('InvalidArgument', `content larger than ${maxBytes} bytes`);
          hash.update(buf);
          let off = 0;
          while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
        }
      } finally {
        closeSource(source);
      }
      const digest = `${algorithm}:${hash.digest('hex')}`;
      const final = this.path(digest);
      const existed = (await this.size(digest)) === size;
      await fh.sync();
      await fh.close();
      if (existed) await rm(tmp, { force: true });
      else await rename(tmp, final);
      return { digest, size, path: final, existed };
    } catch (err) {
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Read a whole blob, refusing one larger than `maxBytes`; re-verifies its digest. */
  async readAll(digest: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
    const { algorithm } = parseDigest(digest);
    const p = this.path(digest);
    let fh;
    try {
      fh = await open(p, 'r');
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
  openRead(digest: string): NodeJS.ReadableStream {
    return createReadStream(this.path(digest));
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
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
          out.push(d);
        } catch {
          // not a blob (stray file): ignore
        }
      }
    }
    return out.sort();
  }

  /** Remove partial ingests left by a crash (call when no ingest is in flight); returns how many. */
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
    await rm(this.path(digest), { force: true });
  }
}
