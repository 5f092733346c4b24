/**
 * Container logs in the CRI format conmon writes (`k8s-file:`):
 *   `<RFC3339Nano> <stdout|stderr> <F|P> <text>`
 * `P` lines are partial: their text continues on the next line of the same stream, up to an
 * `F` line. readCriLog yields one string per logical line (without the newline).
 */
import { open, readdir, stat } from 'node:fs/promises';
import { watch } from 'node:fs';
import { join } from 'node:path';
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
    const l = this.pushLine(raw);
    return l && this.format(l.time, l.text);
  }

  /** The logical line `raw` completes, with the time of its first fragment. */
  pushLine(raw: string): { time: string; text: string } | undefined {
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
    return { time, text };
  }

  /** Partials that never got their `F` (the app exited mid-line). */
  flush(): string[] {
    return this.flushLines().map((p) => this.format(p.time, p.text));
  }

  flushLines(): Array<{ time: string; text: string }> {
    const out = [...this.pending.values()];
    this.pending.clear();
    return out;
  }

  format(time: string, text: string): string {
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
      watcher.on('error', () => undefined); // the poll (pollMs) still sees new lines
    } catch {
      watcher = undefined; // no file yet or no watch: the poll (pollMs) still sees new lines
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

/** One file of an app's log: an execution's rotated files (stamp order), then its live `<n>.log`. */
export interface LogSegment {
  execution: number;
  path: string;
  /** the live file (not rotated) */
  live: boolean;
}

/** Every log segment in an app's log dir, in the order it was written. */
export async function logSegments(dir: string): Promise<LogSegment[]> {
  const names = await readdir(dir).catch((err: unknown) => {
    if (errnoOf(err) === 'ENOENT') return [] as string[];
    throw err;
  });
  const out: Array<LogSegment & { key: string }> = [];
  for (const n of names) {
    const m = /^(\d+)\.log(?:\.(\d{8}-\d{6}\.\d{3}(?:-\d+)?))?$/.exec(n);
    if (!m) continue;
    out.push({ execution: Number(m[1]), path: join(dir, n), live: m[2] === undefined, key: m[2] ?? '~' });
  }
  out.sort((a, b) => a.execution - b.execution || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return out.map(({ key: _k, ...s }) => s);
}

export interface ReadAppLogOptions {
  /** the execution to start with (default: the latest); with follow, later ones follow it */
  execution?: number;
  /** only the last N logical lines of what exists when reading starts */
  tail?: number;
  /** only lines written at or after this time (epoch ms) */
  sinceMs?: number;
  timestamps?: boolean;
  /** keep reading: across rotations and into the next executions (restarts) */
  follow?: boolean;
  /** following ends when this says the log's owner is gone (the pod deleted) */
  gone?: () => Promise<boolean>;
  signal?: AbortSignal;
  pollMs?: number;
}

/**
 * An app's log (`dir` holds `<execution>.log` and its rotated files): one execution, all its
 * segments in order; with `follow`, appended lines, the rotated-away file read to its end
 * before the new one, and each later execution as it appears, until aborted or `gone`.
 * Segments are tracked by inode, so a rename under the reader loses nothing.
 */
export async function* readAppLog(dir: string, opts: ReadAppLogOptions = {}): AsyncIterable<string> {
  const asm = new Assembler({});
  const initial = await logSegments(dir);
  const first = opts.execution ?? initial.at(-1)?.execution;
  let cur: { ino: number; offset: number; execution: number } | undefined;
  const done = new Set<number>();
  let rest = '';
  let startExec = first;
  const keep = (l: { time: string; text: string }) => opts.sinceMs === undefined || (Date.parse(l.time) || 0) >= opts.sinceMs;

  /** Read what is there now; returns the completed lines. */
  const drain = async (final: boolean): Promise<Array<{ time: string; text: string }>> => {
    const out: Array<{ time: string; text: string }> = [];
    const push = (raw: string) => {
      const l = asm.pushLine(raw);
      if (l && keep(l)) out.push(l);
    };
    for (let guard = 0; guard < 1000; guard++) {
      if (startExec === undefined) {
        startExec = (await logSegments(dir)).at(-1)?.execution;
        if (startExec === undefined) return out;
      }
      const segs = (await logSegments(dir)).filter(
        (s) => s.execution >= (cur?.execution ?? startExec!) && (opts.follow || s.execution === startExec),
      );
      const withIno: Array<LogSegment & { ino: number }> = [];
      for (const s of segs) {
        const st = await stat(s.path).catch(() => undefined); // removed by a rotation meanwhile: nothing left to read
        if (st && !done.has(st.ino)) withIno.push({ ...s, ino: st.ino });
      }
      let idx = cur ? withIno.findIndex((s) => s.ino === cur!.ino) : -1;
      if (idx < 0) {
        // start, or the file we read is gone: the next one not read yet
        if (withIno.length === 0) return out;
        if (cur) done.add(cur.ino);
        idx = 0;
        if (cur && withIno[0]!.execution !== cur.execution) {
          if (rest) push(rest);
          rest = '';
          for (const l of asm.flushLines()) if (keep(l)) out.push(l);
        }
        cur = { ino: withIno[0]!.ino, offset: 0, execution: withIno[0]!.execution };
      }
      const seg = withIno[idx]!;
      const text = await readFrom(seg.path, seg.ino, cur!);
      if (text === undefined) continue; // replaced under us: list again
      const lines = (rest + text).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) push(l);
      const next = withIno[idx + 1];
      if (!next) {
        if (final || (!opts.follow && !seg.live)) {
          if (rest) push(rest);
          rest = '';
          for (const l of asm.flushLines()) if (keep(l)) out.push(l);
        }
        return out;
      }
      // a later segment exists: this one is complete (renamed away, or its execution ended)
      done.add(seg.ino);
      if (next.execution !== seg.execution) {
        if (rest) push(rest);
        rest = '';
        for (const l of asm.flushLines()) if (keep(l)) out.push(l);
      }
      cur = { ino: next.ino, offset: 0, execution: next.execution };
    }
    return out;
  };

  const fmt = (l: { time: string; text: string }) => (opts.timestamps ? `${l.time} ${l.text}` : l.text);
  let lines = await drain(!opts.follow);
  if (opts.tail !== undefined) lines = opts.tail <= 0 ? [] : lines.slice(-opts.tail);
  for (const l of lines) yield fmt(l);
  if (!opts.follow) return;
  const pollMs = opts.pollMs ?? 250;
  let wake: (() => void) | undefined;
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    watcher = watch(dir, () => wake?.());
    watcher.on('error', () => undefined); // the poll (pollMs) still sees new segments
  } catch {
    watcher = undefined; // no watch: the poll (pollMs) still sees new segments
  }
  try {
    while (!opts.signal?.aborted) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        sleep(pollMs, opts.signal).then(resolve, resolve);
      });
      wake = undefined;
      if (opts.signal?.aborted) break;
      const gone = (await opts.gone?.()) ?? false;
      for (const l of await drain(gone)) yield fmt(l);
      if (gone) return;
    }
  } finally {
    watcher?.close();
  }
}

/** Bytes of `path` after cur.offset, when it still is inode `ino` (else undefined); advances cur.offset. */
async function readFrom(path: string, ino: number, cur: { offset: number }): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = await fh.stat();
    if (st.ino !== ino) return undefined;
    if (st.size <= cur.offset) return '';
    const buf = Buffer.alloc(st.size - cur.offset);
    const { bytesRead } = await fh.read(buf, 0, buf.length, cur.offset);
    // whole records only (conmon ends every one with a newline): no UTF-8 sequence is split
    const end = bytesRead > 0 ? buf.lastIndexOf(0x0a, bytesRead - 1) : -1;
    if (end < 0) return '';
    cur.offset += end + 1;
    return buf.subarray(0, end + 1).toString('utf8');
  } finally {
    await fh.close();
  }
}
