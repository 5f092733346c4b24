/**
 * The one tar entry stream of the image module: tar-stream's extractor fed from a byte
 * source, as an async iterator of entries.
 *
 * Back-pressure runs end to end: an entry body nobody reads fills the extractor, whose
 * `write` then returns false and pauses the source until `drain`. Errors run both ways: a
 * source error (a digest mismatch, a decompressor's exit status, a byte limit raised by
 * `tap`) destroys the extractor with that very error, so the iterator and any body being
 * read reject with it; a consumer that stops — it refused an entry and threw, or broke out
 * of the loop — ends the generator, whose `finally` destroys the source and the extractor at
 * once. Nothing ever waits for a `drain` that a destroyed extractor would never emit.
 */
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { BerthError } from '../../common/index.js';

/** A tar header as tar-stream decodes it: PAX records applied, the records kept in `pax`. */
export type TarHeader = Omit<tar.Header, 'pax'> & {
  pax?: Record<string, string> | null;
  /** offset of the entry's data in the uncompressed stream */
  byteOffset?: number;
};

export interface TarEntry {
  header: TarHeader;
  /** The entry's data; what the consumer leaves unread is skipped when it asks for the next entry. */
  body: AsyncIterable<Buffer>;
}

export interface TarEntriesOptions {
  /** Sees every chunk before the parser does (hashing, byte limits); a throw ends the stream with that error. */
  tap?: (chunk: Buffer) => void;
  signal?: AbortSignal | undefined;
}

type Source = Readable | NodeJS.ReadableStream | AsyncIterable<Uint8Array>;

function toReadable(source: Source): Readable {
  if (source instanceof Readable) return source;
  return Readable.from(source as AsyncIterable<Uint8Array>, { objectMode: false });
}

const asBuffer = (c: Uint8Array | string): Buffer =>
  Buffer.isBuffer(c) ? c : typeof c === 'string' ? Buffer.from(c) : Buffer.from(c.buffer, c.byteOffset, c.byteLength);

/** The entries of the tar in `source`, in order. */
export async function* tarEntries(source: Source, opts: TarEntriesOptions = {}): AsyncGenerator<TarEntry, void, undefined> {
  const extract = tar.extract();
  const input = toReadable(source);
  let failure: unknown;
  const fail = (err: unknown): void => {
    failure ??= err;
    extract.destroy(err as Error);
    input.destroy();
  };
  input.on('error', fail);
  input.on('data', (chunk: Uint8Array | string) => {
    const buf = asBuffer(chunk);
    try {
      opts.tap?.(buf);
    } catch (err) {
      fail(err);
      return;
    }
    if (!extract.write(buf)) input.pause();
  });
  extract.on('drain', () => input.resume());
  input.on('end', () => extract.end(undefined));
  const onAbort = (): void => fail(new BerthError('Canceled', 'reading the archive canceled', { cause: opts.signal?.reason }));
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const entry of extract) {
      const stream = entry as unknown as Readable;
      yield { header: entry.header as TarHeader, body: stream as AsyncIterable<Buffer> };
      stream.resume(); // skip what the consumer did not read
    }
  } catch (err) {
    throw failure ?? err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    input.destroy();
    extract.destroy();
  }
  if (failure !== undefined) throw failure;
}

/** Read an entry body to its end, discarding it. */
export async function skipBody(body: AsyncIterable<Buffer>): Promise<void> {
  for await (const _chunk of body) {
    // discard
  }
}
