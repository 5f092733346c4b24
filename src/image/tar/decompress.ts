/**
 * The one decompression module of the image module (IMG-10; appc `aci/file.go`): the
 * compression is told by magic bytes; gzip goes through node:zlib (which
 * reads multi-member gzip), zstd through zlib when Node has it, else — like xz and bzip2 —
 * through the system tool (`zstd -dc`, `xz -dc`, `bzip2 -dc`) run as a child process whose
 * stderr is captured and whose exit status is an error of the stream.
 *
 * Every function returns a Node Readable: destroying it (a consumer that refused an entry)
 * destroys the compressed source and kills the child; an error of the source (a digest
 * mismatch) becomes the error of the decompressed stream, unchanged.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { BerthError, errnoOf } from '../../common/index.js';

export type Compression = 'gzip' | 'zstd' | 'xz' | 'bzip2' | 'none';

/** Bytes `detectCompression` needs to see. */
export const MAGIC_BYTES = 6;

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

/** Sniff the compression from the first bytes of a stream. */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  // zstd skippable frame: 0x184D2A5? little-endian
  if (head.length >= 4 && (head[0] ?? 0) >> 4 === 0x5 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18) return 'zstd';
  if (head.length >= 6 && XZ_MAGIC.every((b, i) => head[i] === b)) return 'xz';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  return 'none';
}

/** The compression of a file, by its magic bytes. */
export async function sniffFile(path: string): Promise<Compression> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(MAGIC_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return detectCompression(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

type ZlibWithZstd = typeof zlib & { createZstdDecompress?: () => NodeJS.ReadWriteStream };

/** `source` through an in-process transform: errors of either end destroy the other. */
function through(source: Readable, transform: NodeJS.ReadWriteStream): Readable {
  const out = transform as unknown as Readable & NodeJS.WritableStream;
  source.on('error', (err) => out.destroy(err));
  out.on('close', () => source.destroy());
  source.pipe(out);
  return out;
}

/** `source` through `cmd -dc`: stdin fed with back-pressure, stdout as the result, exit status and stderr as its error. */
function external(cmd: 'zstd' | 'xz' | 'bzip2', source: Readable, where: string): Readable {
  const child = spawn(cmd, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const out = new Readable({
    read: () => child.stdout.resume(),
    destroy: (err, cb) => {
      source.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      cb(err);
    },
  });
  child.stdout.on('data', (chunk: Buffer) => {
    if (!out.push(chunk)) child.stdout.pause();
  });
  source.on('error', (err) => out.destroy(err));
  // EPIPE when the tool exits early (corrupt input); its exit status says why.
  child.stdin.on('error', () => undefined);
  source.pipe(child.stdin);
  child.on('error', (err) => {
    const missing = errnoOf(err) === 'ENOENT';
    out.destroy(
      missing
        ? new BerthError('FailedPrecondition', `${cmd} is not installed; it is needed to decompress ${where}`, { cause: err })
        : new BerthError('Internal', `${where}: running ${cmd}: ${err.message}`, { cause: err }),
    );
  });
  child.on('close', (code, signal) => {
    if (out.destroyed) return;
    if (code === 0) out.push(null);
    else
      out.destroy(
        new BerthError('InvalidArgument', `${where}: ${cmd} -dc failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`),
      );
  });
  return out;
}

/** The decompressed bytes of `source`, compressed with `compression`. */
export function decompress(source: Readable, compression: Compression, where: string): Readable {
  switch (compression) {
    case 'none':
      return source;
    case 'gzip':
      return through(source, zlib.createGunzip());
    case 'zstd': {
      const native = (zlib as ZlibWithZstd).createZstdDecompress;
      return native ? through(source, native()) : external('zstd', source, where);
    }
    case 'xz':
    case 'bzip2':
      return external(compression, source, where);
  }
}

/** A file's decompressed bytes, its compression told by its magic bytes. */
export async function openDecompressed(path: string, signal?: AbortSignal): Promise<{ compression: Compression; stream: Readable }> {
  const compression = await sniffFile(path);
  const stream = decompress(createReadStream(path), compression, path);
  if (signal) {
    const onAbort = (): void => void stream.destroy(new BerthError('Canceled', `reading ${path} canceled`, { cause: signal.reason }));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    stream.once('close', () => signal.removeEventListener('abort', onAbort));
  }
  return { compression, stream };
}
