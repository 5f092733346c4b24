/**
 * ACI archives (appc `spec/aci.md`, `aci/file.go`, `aci/layout.go`): compression detected by
 * magic bytes (gzip through zlib; bzip2 and xz streamed through the system `bzip2 -dc` /
 * `xz -dc`), the uncompressed tar stored in the content store under its sha512 (the image
 * ID is `sha512-<hex>` of exactly those bytes), and the layout checked: exactly `manifest`
 * (a file) and `rootfs/`, no duplicate entries.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { createGunzip } from 'node:zlib';
import { execa } from 'execa';
import * as tar from 'tar-stream';
import { BerthError } from '../../common/index.js';
import type { ContentStore } from '../types.js';
import { parseImageManifest, type ImageManifest } from './manifest.js';

export type AciCompression = 'gzip' | 'bzip2' | 'xz' | 'none';

/** Maximum size of the `manifest` entry. */
export const MAX_MANIFEST = 1024 * 1024;
/** Maximum uncompressed ACI size (SEC-06 in spirit): 64 GiB. */
export const MAX_ACI_BYTES = 64 * 1024 ** 3;

/** `aci/file.go` DetectFileType, by magic bytes. */
export function detectAciCompression(head: Uint8Array): AciCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  const xz = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
  if (head.length >= 6 && xz.every((b, i) => head[i] === b)) return 'xz';
  return 'none';
}

export async function sniffFile(path: string): Promise<AciCompression> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(8);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return detectAciCompression(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

async function* external(cmd: 'bzip2' | 'xz', path: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const sub = execa(cmd, ['-dc'], { inputFile: path, buffer: false, reject: false, stderr: 'pipe', ...(signal ? { cancelSignal: signal } : {}) });
  let stderr = '';
  sub.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  let finished = false;
  try {
    for await (const chunk of sub.stdout as AsyncIterable<Uint8Array>) yield chunk;
    finished = true;
  } finally {
    if (!finished) sub.kill();
  }
  const r = await sub;
  if ((r as { code?: string }).code === 'ENOENT') {
    throw new BerthError('FailedPrecondition', `${cmd} is not installed; it is needed to decompress ${path}`);
  }
  if (r.exitCode !== 0) throw new BerthError('InvalidArgument', `${path}: ${cmd} -dc failed (exit ${r.exitCode}): ${stderr.trim()}`);
}

/** The uncompressed tar of an ACI file, whatever its compression. */
export async function openUncompressed(path: string, signal?: AbortSignal): Promise<{ compression: AciCompression; stream: AsyncIterable<Uint8Array> }> {
  const compression = await sniffFile(path);
  switch (compression) {
    case 'gzip': {
      const gunzip = createGunzip();
      const src = createReadStream(path);
      src.on('error', (e) => gunzip.destroy(e));
      return { compression, stream: src.pipe(gunzip) };
    }
    case 'bzip2':
    case 'xz':
      return { compression, stream: external(compression, path, signal) };
    default:
      return { compression, stream: createReadStream(path) };
  }
}

/** Copy an ACI file's uncompressed tar into the store; returns the image ID and blob digest. */
export async function ingestAci(
  store: ContentStore,
  path: string,
  signal?: AbortSignal,
): Promise<{ imageId: string; digest: string; size: number; existed: boolean; compression: AciCompression }> {
  const { compression, stream } = await openUncompressed(path, signal);
  let r;
  try {
    r = await store.ingest({ algorithm: 'sha512', maxBytes: MAX_ACI_BYTES }, stream);
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new BerthError('InvalidArgument', `${path}: cannot decompress (${compression}): ${(err as Error).message}`, { cause: err });
  }
  return { imageId: digestToImageId(r.digest), digest: r.digest, size: r.size, existed: r.existed, compression };
}

export const digestToImageId = (digest: string): string => `sha512-${digest.slice('sha512:'.length)}`;
export const imageIdToDigest = (id: string): string => `sha512:${id.slice('sha512-'.length)}`;

/** Entry name as appc compares it: filepath.Clean, relative. */
export function cleanName(name: string): string {
  const c = posix.normalize(name).replace(/\/+$/, '');
  return c.replace(/^(\.\/)+/, '').replace(/^\/+/, '') || '.';
}

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) {
    // discard
  }
}

/**
 * Check an uncompressed ACI tar (`aci/layout.go`): only `manifest` and `rootfs[/…]`, no
 * duplicates, a manifest that validates; entries named like OCI whiteouts are refused, since
 * ACIs have none and berth's applier would honour them. Returns the manifest.
 */
export async function validateAci(source: AsyncIterable<Uint8Array> | NodeJS.ReadableStream, where: string): Promise<{ manifest: ImageManifest; manifestText: string }> {
  const extract = tar.extract();
  const src = source as NodeJS.ReadableStream;
  const feed = (async () => {
    try {
      for await (const chunk of source as AsyncIterable<Uint8Array>) {
        if (!extract.write(Buffer.from(chunk))) await new Promise<void>((r) => extract.once('drain', () => r()));
      }
      extract.end(undefined);
    } catch (err) {
      extract.destroy(err as Error);
    }
  })();
  const seen = new Set<string>();
  let manifestText: string | undefined;
  let rootfs = false;
  const bad = (why: string) => new BerthError('InvalidArgument', `${where}: invalid ACI: ${why}`);
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const name = cleanName(h.name);
      if (name === '.') {
        await drain(entry);
        continue;
      }
      if (seen.has(name)) throw bad(`duplicate entry "${name}"`);
      seen.add(name);
      if (name === 'manifest') {
        if (h.type !== 'file' && h.type !== 'contiguous-file') throw bad('"manifest" is not a regular file');
        if ((h.size ?? 0) > MAX_MANIFEST) throw bad(`manifest larger than ${MAX_MANIFEST} bytes`);
        const chunks: Buffer[] = [];
        for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
        manifestText = Buffer.concat(chunks).toString('utf8');
        continue;
      }
      if (name === 'rootfs') {
        if (h.type !== 'directory') throw bad('"rootfs" is not a directory');
        rootfs = true;
      } else if (name.startsWith('rootfs/')) {
        rootfs = true;
        if (posix.basename(name).startsWith('.wh.')) throw bad(`entry "${name}" is named like an OCI whiteout; ACIs have no whiteouts and berth refuses such names`);
      } else {
        throw bad(`unrecognized file path in layout: "${name}" (only manifest and rootfs/ are allowed)`);
      }
      await drain(entry);
    }
  } catch (err) {
    extract.destroy();
    await feed;
    if (err instanceof BerthError) throw err;
    throw bad((err as Error).message);
  } finally {
    if (typeof (src as { destroy?: () => void }).destroy === 'function') (src as unknown as { destroy: () => void }).destroy();
  }
  await feed;
  if (manifestText === undefined) throw bad('no manifest');
  if (!rootfs) throw bad('no rootfs');
  return { manifest: parseImageManifest(manifestText, `${where}: manifest`), manifestText };
}
