/**
 * Leaving the process without losing output (issue 14.8). On Linux, a pipe on stdout or
 * stderr is written asynchronously: `process.exit()` right after a large write drops what
 * the reader has not taken yet (`berth status -o json | jq` got 65536 of 917959 bytes).
 * `exitAfterFlush` waits until every earlier write to both streams has reached the OS, then
 * exits with the code. A reader that went away (EPIPE) does not keep berth from exiting.
 */
import type { Writable } from 'node:stream';
import { errnoOf } from '../common/errors.js';

type Out = Writable & { fd?: number };

/** Resolve once everything written to `stream` so far has been handed to the OS (or failed). */
export function flushed(stream: Out): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable || stream.writableLength === 0) return resolve();
    // writes complete in order: the callback of an empty write runs after all earlier ones
    stream.write('', () => resolve());
  });
}

/** Ignore EPIPE (the reader closed its end, `berth status | head -1`), keep other errors fatal. */
export function toleratePipeClose(stream: Out): void {
  stream.on('error', (err: Error) => {
    if (errnoOf(err) !== 'EPIPE') throw err;
  });
}

/** Set the exit code, wait for stdout and stderr to drain, then exit. */
export async function exitAfterFlush(code: number, streams: Out[] = [process.stdout, process.stderr]): Promise<never> {
  process.exitCode = code;
  await Promise.all(streams.map(flushed));
  process.exit(code);
}
