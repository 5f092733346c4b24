/**
 * Container logs in the CRI format conmon writes (`k8s-file:`):
 *   `<RFC3339Nano> <stdout|stderr> <F|P> <text>`
 * `P` lines are partial: their text continues on the next line of the same stream, up to an
 * `F` line. readCriLog yields one string per logical line (without the newline).
 */
import { open, stat } from 'node:fs/promises';
import { watch } from 'node:fs';
import { errnoOf, sleep } from '../common/index.js';

export interface CriLine {
  time: string;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  text: string;
}

const CRI_LINE = /^(\S+) (stdout|stderr) ([FP])(?: (.*))?$/s;

/** One CRI log line (without its newline), or undefined when it is not one. */
export function parseCriLine(line: string): CriLine | undefined {
  const m = CRI_LINE.exec(line.endsWith('\n') ? line.slice(0, -1) : line);
  if (!m) return undefined;
  return { time: m[1]!, stream: m[2] as 'stdout' | 'stderr', partial: m[3] === 'P', text: m[4] ?? '' };
}

export interface ReadCriLogOptions {
  /** only the last N logical lines (of what exists when reading starts) */
  tail?: number;
  /** prefix each line with the time of its first fragment */
  timestamps?: boolean;
  /** keep reading appended lines until `signal` aborts */
  follow?: boolean;
  signal?: AbortSignal;
  /** only this stream */
  stream?: 'stdout' | 'stderr';
  /** poll interval while following (default 250 ms; fs.watch wakes it earlier) */
  pollMs?: number;
}

/** Joins partial fragments per stream into logical lines. */
class Assembler {
  private pending = new Map<string, { time: string; text: string }>();
  constructor(private readonly opts: ReadCriLogOptions) {}

  push(raw: string): string | undefined {
    const l = parseCriLine(raw);
    if (!l) return undefined;
    if (this.opts.stream && l.stream !== this.opts.stream) return undefined;
    const prev = this.pending.get(l.stream);
    const time = prev?.time ?? l.time;
    const text = (prev?.text ?? '') + l.text;
    if (l.partial) {
      this.pending.set(l.stream, { time, text });
      return undefined;
    }
    this.pending.delete(l.stream);
    return this.format(time, text);
  }

  /** Partials that never got their `F` (the app exited mid-line). */
  flush(): string[] {
    const out = [...this.pending.values()].map((p) => this.format(p.time, p.text));
    this.pending.clear();
    return out;
  }

  private format(time: string, text: string): string {
    return this.opts.timestamps ? `${time} ${text}` : text;
  }
}

/** Read the log; with `follow`, keep yielding appended lines until aborted. A missing file is empty (and awaited when following). */
export async function* readCriLog(path: string, opts: ReadCriLogOptions = {}): AsyncIterable<string> {
  const asm = new Assembler(opts);
  let offset = 0;
  let rest = '';
  const readMore = async (): Promise<string[]> => {
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return [];
      throw err;
    }
    try {
      const { size } = await fh.stat();
      if (size < offset) {
        offset = 0; // truncated or replaced
        rest = '';
      }
      if (size === offset) return [];
      const buf = Buffer.alloc(size - offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      offset += bytesRead;
      const text = rest + buf.subarray(0, bytesRead).toString('utf8');
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      const out: string[] = [];
      for (const l of lines) {
        const s = asm.push(l);
        if (s !== undefined) out.push(s);
      }
      return out;
    } finally {
      await fh.close();
    }
  };

  let first = await readMore();
  if (!opts.follow) {
    if (rest) {
      const s = asm.push(rest);
      if (s !== undefined) first.push(s);
    }
    first.push(...asm.flush());
  }
  if (opts.tail !== undefined) first = opts.tail <= 0 ? [] : first.slice(-opts.tail);
  yield* first;
  if (!opts.follow) return;

  const signal = opts.signal;
  const pollMs = opts.pollMs ?? 250;
  let wake: (() => void) | undefined;
  let watcher: ReturnType<typeof watch> | undefined;
  const startWatch = async () => {
    try {
      await stat(path);
      watcher = watch(path, () => wake?.());
      watcher.on('error', () => undefined);
    } catch {
      watcher = undefined;
    }
  };
  await startWatch();
  try {
    while (!signal?.aborted) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        sleep(pollMs, signal).then(resolve, resolve);
      });
      wake = undefined;
      if (signal?.aborted) break;
      if (!watcher) await startWatch();
      for (const s of await readMore()) yield s;
    }
  } finally {
    watcher?.close();
  }
}
