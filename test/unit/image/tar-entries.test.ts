/**
 * The tar entry stream (src/image/tar/entries.ts) and the decompression module: a consumer
 * that stops deep in the stream ends the source at once; a source error reaches the consumer
 * unchanged, also while it reads a body; a decompressor's failure carries its stderr.
 */
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../../../src/common/index.js';
import { decompress, detectCompression } from '../../../src/image/tar/decompress.js';
import { tarEntries } from '../../../src/image/tar/entries.js';

/** A tar of `n` files of `size` bytes each. */
async function tarOf(n: number, size: number): Promise<Buffer> {
  const pack = tar.pack();
  for (let i = 0; i < n; i++) pack.entry({ name: `f${i}`, size }, Buffer.alloc(size, i % 251));
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

/** A source that hands the tar out in 16 KiB chunks. */
function chunked(buf: Buffer): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= buf.length) this.push(null);
      else this.push(buf.subarray(off, (off += 16 * 1024)));
    },
  });
}

describe('tarEntries', () => {
  it('a refusal after more than 1 MiB ends the iteration and destroys the source (no drain wait)', async () => {
    const src = chunked(await tarOf(600, 4096));
    let seen = 0;
    const refused = (async () => {
      for await (const { header } of tarEntries(src)) {
        if (++seen === 500) throw new BerthError('InvalidArgument', `refused ${header.name}`);
      }
    })();
    await expect(refused).rejects.toThrow('refused f499');
    expect(src.destroyed).toBe(true);
  });

  it('break (the iterator return()) destroys the source; unread bodies are skipped', async () => {
    const src = chunked(await tarOf(50, 40_000));
    const names: string[] = [];
    for await (const { header } of tarEntries(src)) {
      names.push(header.name);
      if (names.length === 30) break;
    }
    expect(names).toHaveLength(30);
    expect(src.destroyed).toBe(true);
  });

  it('a source error reaches the consumer unchanged, also inside a body', async () => {
    const good = await tarOf(3, 100_000);
    const boom = new BerthError('FailedPrecondition', 'digest mismatch');
    async function* failing(): AsyncGenerator<Buffer> {
      yield good.subarray(0, 150_000);
      throw boom;
    }
    const consume = async () => {
      for await (const { body } of tarEntries(failing())) for await (const _ of body) void _;
    };
    await expect(consume()).rejects.toBe(boom);
  });

  it('a tap that throws ends the stream with its error', async () => {
    let bytes = 0;
    const tap = (c: Buffer) => {
      if ((bytes += c.length) > 64 * 1024) throw new BerthError('InvalidArgument', 'too many bytes');
    };
    const consume = async () => {
      for await (const _ of tarEntries(chunked(await tarOf(20, 10_000)), { tap })) void _;
    };
    await expect(consume()).rejects.toThrow('too many bytes');
  });

  it('a truncated tar is an error, not an early end', async () => {
    const whole = await tarOf(2, 10_000);
    const consume = async () => {
      for await (const { body } of tarEntries(Readable.from([whole.subarray(0, 8000)]))) for await (const _ of body) void _;
    };
    await expect(consume()).rejects.toThrow(/Unexpected end of data|destroyed/);
  });
});

describe('decompress', () => {
  it('gzip through zlib, every entry read back', async () => {
    const gz = gzipSync(await tarOf(10, 5000));
    expect(detectCompression(gz)).toBe('gzip');
    let n = 0;
    for await (const { body } of tarEntries(decompress(Readable.from([gz]), 'gzip', 'test'))) {
      for await (const c of body) n += c.length;
    }
    expect(n).toBe(50_000);
  });

  it.each(['xz', 'bzip2', 'zstd'] as const)('%s: corrupt input fails with the tool named and its stderr', async (c) => {
    const stream = decompress(Readable.from([Buffer.from('this is not compressed data at all')]), c, 'blob');
    const consume = async () => {
      for await (const _ of stream) void _;
    };
    await expect(consume()).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(new RegExp(`blob: ${c} -dc failed \\(exit \\d+\\): .+`)),
    });
  });
});
