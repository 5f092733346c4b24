/**
 * Local transports over the OCI image layout (IMG-17): a directory (`oci:`) or a tar of one
 * (`oci-archive:`). Both expose the same tiny read-only interface; nothing here verifies
 * content — the puller copies every blob into the content store, which does (IMG-08).
 *
 * The archive is never extracted: it is read once through the tar entry stream to index its
 * members (name → data offset, tar-stream's `byteOffset`), and `blobs/<alg>/<hex>` members
 * are streamed straight from their byte range in the file.
 */
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { BerthError, errnoOf } from '../common/index.js';
import { parseDigest } from './digest.js';
import { MAX_JSON_BODY } from './media-types.js';
import { tarEntries } from './tar/entries.js';

export interface LayoutReader {
  /** Bytes of `oci-layout`, checked for `imageLayoutVersion` (IMG-17). */
  checkLayoutVersion(): Promise<void>;
  /** Bytes of `index.json` (capped at 4 MiB). */
  readIndex(): Promise<Buffer>;
  /** The raw bytes of `blobs/<alg>/<hex>`; NotFound when the layout lacks it. */
  openBlob(digest: string): Promise<NodeJS.ReadableStream>;
  /** Whether the layout holds the blob. */
  hasBlob(digest: string): Promise<boolean>;
  close(): Promise<void>;
}

function blobRel(digest: string): string {
  const { algorithm, hex } = parseDigest(digest); // IMG-07: validate before building a path
  return `blobs/${algorithm}/${hex}`;
}

function checkVersion(where: string, body: Buffer | undefined): void {
  if (body === undefined) throw new BerthError('InvalidArgument', `${where}: not an OCI image layout (no oci-layout file)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new BerthError('InvalidArgument', `${where}: oci-layout is not JSON`, { cause: err });
  }
  const v = (parsed as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
  if (typeof v !== 'string' || !/^1\.\d+\.\d+$/.test(v)) {
    throw new BerthError('InvalidArgument', `${where}: unsupported imageLayoutVersion ${JSON.stringify(v)}`);
  }
}

/** `oci:` — an image layout directory. */
export class DirLayoutReader implements LayoutReader {
  constructor(private readonly dir: string) {}

  private async readSmall(rel: string, max: number): Promise<Buffer | undefined> {
    const p = join(this.dir, rel);
    try {
      const st = await stat(p);
      if (!st.isFile()) throw new BerthError('InvalidArgument', `${p} is not a regular file`);
      if (st.size > max) throw new BerthError('InvalidArgument', `${p} is larger than ${max} bytes`);
      return await readFile(p);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  async checkLayoutVersion(): Promise<void> {
    try {
      if (!(await stat(this.dir)).isDirectory()) throw new BerthError('InvalidArgument', `${this.dir} is not a directory`);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw new BerthError('NotFound', `image layout ${this.dir} does not exist`, { cause: err });
      throw err;
    }
    checkVersion(this.dir, await this.readSmall('oci-layout', 4096));
  }

  async readIndex(): Promise<Buffer> {
    const body = await this.readSmall('index.json', MAX_JSON_BODY);
    if (body === undefined) throw new BerthError('InvalidArgument', `${this.dir}: image layout has no index.json`);
    return body;
  }

  async hasBlob(digest: string): Promise<boolean> {
    try {
      return (await stat(join(this.dir, blobRel(digest)))).isFile();
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return false;
      throw err;
    }
  }

  async openBlob(digest: string): Promise<NodeJS.ReadableStream> {
    const p = join(this.dir, blobRel(digest));
    const fh = await open(p, 'r').catch((err: unknown) => {
      if (errnoOf(err) === 'ENOENT') throw new BerthError('NotFound', `blob ${digest} missing from layout ${this.dir}`, { cause: err });
      throw err;
    });
    return fh.createReadStream();
  }

  async close(): Promise<void> {}
}

interface Member {
  offset: number;
  size: number;
}

/** `oci-archive:` — a tar holding an image layout, read in place. */
export class ArchiveLayoutReader implements LayoutReader {
  private members?: Map<string, Member>;

  constructor(private readonly file: string) {}

  private async index(): Promise<Map<string, Member>> {
    if (this.members) return this.members;
    let fileSize: number;
    try {
      fileSize = (await stat(this.file)).size;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw new BerthError('NotFound', `image archive ${this.file} does not exist`, { cause: err });
      throw err;
    }
    const members = new Map<string, Member>();
    let count = 0;
    try {
      for await (const { header } of tarEntries(createReadStream(this.file))) {
        if (++count > 1_000_000) throw new BerthError('InvalidArgument', `${this.file}: too many tar entries`);
        const offset = header.byteOffset ?? -1;
        if (offset < 0) throw new BerthError('Internal', 'tar-stream gave no data offset');
        if (offset + header.size > fileSize) {
          throw new BerthError(
            'InvalidArgument',
            `${this.file}: member ${header.name} declares ${header.size} bytes, but the archive ends after ${fileSize - offset} of them: the file is truncated`,
          );
        }
        if (header.type !== 'file' && header.type !== 'contiguous-file') continue;
        const clean = posix.normalize(`/${header.name}`).slice(1);
        if (members.has(clean)) throw new BerthError('InvalidArgument', `${this.file}: duplicate member ${clean}`);
        members.set(clean, { offset, size: header.size });
      }
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw new BerthError('InvalidArgument', `${this.file}: not a readable tar (${(err as Error).message})`, { cause: err });
    }
    this.members = members;
    return members;
  }

  private async readMember(rel: string, max: number): Promise<Buffer | undefined> {
    const m = (await this.index()).get(rel);
    if (!m) return undefined;
    if (m.size > max) throw new BerthError('InvalidArgument', `${this.file}: ${rel} is larger than ${max} bytes`);
    const fh = await open(this.file, 'r');
    try {
      const buf = Buffer.alloc(m.size);
      await fh.read(buf, 0, m.size, m.offset);
      return buf;
    } finally {
      await fh.close();
    }
  }

  async checkLayoutVersion(): Promise<void> {
    checkVersion(this.file, await this.readMember('oci-layout', 4096));
  }

  async readIndex(): Promise<Buffer> {
    const body = await this.readMember('index.json', MAX_JSON_BODY);
    if (body === undefined) throw new BerthError('InvalidArgument', `${this.file}: image archive has no index.json`);
    return body;
  }

  async hasBlob(digest: string): Promise<boolean> {
    return (await this.index()).has(blobRel(digest));
  }

  async openBlob(digest: string): Promise<NodeJS.ReadableStream> {
    const m = (await this.index()).get(blobRel(digest));
    if (!m) throw new BerthError('NotFound', `blob ${digest} missing from archive ${this.file}`);
    if (m.size === 0) return Readable.from([]);
    return createReadStream(this.file, { start: m.offset, end: m.offset + m.size - 1 });
  }

  async close(): Promise<void> {
    this.members = undefined;
  }
}
