/**
 * Local transports over the OCI image layout (IMG-17): a directory (`oci:`) or a tar of one
 * (`oci-archive:`). Both expose the same tiny read-only interface; nothing here verifies
 * content — the puller copies every blob into the content store, which does (IMG-08).
 *
 * The archive is never extracted: its tar headers are indexed once (name → data offset) and
 * `blobs/<alg>/<hex>` members are streamed straight from their byte range in the file.
 */
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { BerthError, errnoOf } from '../common/index.js';
import { parseDigest } from './digest.js';
import { MAX_JSON_BODY } from './media-types.js';

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
  } catch {
    throw new BerthError('InvalidArgument', `${where}: oci-layout is not JSON`);
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
    } catch {
      return false;
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

const BLOCK = 512;

function parseOctal(buf: Buffer, off: number, len: number): number {
  const field = buf.subarray(off, off + len);
  if ((field[0] ?? 0) & 0x80) {
    // base-256 (GNU) for large values
    let v = 0;
    for (let i = 1; i < field.length; i++) v = v * 256 + (field[i] ?? 0);
    return v;
  }
  const s = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new BerthError('InvalidArgument', `corrupt tar header field "${s}"`);
  return Number.parseInt(s, 8);
}

function cstr(buf: Buffer, off: number, len: number): string {
  const field = buf.subarray(off, off + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? field.length : nul).toString('utf8');
}

function paxPath(data: Buffer): string | undefined {
  let path: string | undefined;
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number.parseInt(data.subarray(i, sp).toString('latin1'), 10);
    if (!Number.isSafeInteger(len) || len <= 0) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0 && rec.slice(0, eq) === 'path') path = rec.slice(eq + 1);
    i += len;
  }
  return path;
}

/** `oci-archive:` — a tar holding an image layout, read in place. */
export class ArchiveLayoutReader implements LayoutReader {
  private members?: Map<string, Member>;

  constructor(private readonly file: string) {}

  private async index(): Promise<Map<string, Member>> {
    if (this.members) return this.members;
    let fh: FileHandle;
    try {
      fh = await open(this.file, 'r');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw new BerthError('NotFound', `image archive ${this.file} does not exist`, { cause: err });
      throw err;
    }
    const members = new Map<string, Member>();
    try {
      const { size: fileSize } = await fh.stat();
      const header = Buffer.alloc(BLOCK);
      let pos = 0;
      let longName: string | undefined;
      let count = 0;
      while (pos + BLOCK <= fileSize) {
        const { bytesRead } = await fh.read(header, 0, BLOCK, pos);
        if (bytesRead < BLOCK) break;
        if (header.every((b) => b === 0)) break; // end of archive
        if (++count > 1_000_000) throw new BerthError('InvalidArgument', `${this.file}: too many tar entries`);
        let sum = 0;
        for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
        if (sum !== parseOctal(header, 148, 8)) throw new BerthError('InvalidArgument', `${this.file}: corrupt tar header at ${pos}`);
        const type = String.fromCharCode(header[156] ?? 0);
        const size = parseOctal(header, 124, 12);
        const dataOff = pos + BLOCK;
        let name = cstr(header, 0, 100);
        if (header.subarray(257, 262).toString('latin1') === 'ustar') {
          const prefix = cstr(header, 345, 155);
          if (prefix) name = `${prefix}/${name}`;
        }
        if (dataOff + size > fileSize) {
          throw new BerthError('InvalidArgument', `${this.file}: member ${longName ?? name} declares ${size} bytes, but the archive ends after ${fileSize - dataOff} of them: the file is truncated`);
        }
        if (type === 'x' || type === 'L') {
          if (size > 1024 * 1024) throw new BerthError('InvalidArgument', `${this.file}: oversized tar extended header`);
          const data = Buffer.alloc(size);
          await fh.read(data, 0, size, dataOff);
          longName = type === 'L' ? cstr(data, 0, size) : (paxPath(data) ?? longName);
        } else if (type !== 'g') {
          if (longName !== undefined) name = longName;
          longName = undefined;
          if (type === '0' || type === '\0' || type === '7') {
            const clean = posix.normalize(`/${name}`).slice(1);
            if (members.has(clean)) throw new BerthError('InvalidArgument', `${this.file}: duplicate member ${clean}`);
            members.set(clean, { offset: dataOff, size });
          }
        }
        pos = dataOff + Math.ceil(size / BLOCK) * BLOCK;
      }
    } finally {
      await fh.close();
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
