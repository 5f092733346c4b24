/**
 * Sources of desired state: spec directories (DESIGN.md §2 "Files"). A directory holds
 * `*.yaml`, `*.yml`, `*.json`; dotfiles and editor/backup files are ignored; subdirectories
 * are not read. A half-written file is simply invalid now and valid a moment later.
 *
 * A source is never silently empty: a directory that does not exist or cannot be read is a
 * failed source (nothing it owned may be changed), while an existing, empty directory holds no
 * pods. Files are read safely: only regular files (after following a symlink), opened without
 * blocking, at most MAX_SPEC_FILE_BYTES, valid UTF-8; every file skipped or refused is
 * reported with its reason.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { watch } from 'chokidar';
import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
import { errnoOf, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { parseFile } from '../api/index.js';
import { isSpecFile } from '../api/spec-files.js';
import type { ParsedFile, SpecIssue } from '../api/types.js';

/** The largest spec file berth reads (the API server's request limit is 3 MiB; a file may hold several documents). */
export const MAX_SPEC_FILE_BYTES = 4 * 1024 * 1024;

export { isSpecFile };

/** A spec directory (or a file given directly) that could not be read: nothing it owned is changed. */
export interface SourceFailure {
  path: string;
  message: string;
}

export interface SpecSources {
  /** the spec files read, in order; a file refused or skipped is here with its issue and no documents */
  files: ParsedFile[];
  failed: SourceFailure[];
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** What kind of thing a non-regular file is, for messages. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

function sourceMessage(path: string, err: unknown, what: string): string {
  const errno = errnoOf(err);
  if (errno === 'ENOENT') return `${what} ${path} does not exist`;
  if (errno === 'EACCES' || errno === 'EPERM') return `${what} ${path} cannot be read: permission denied`;
  return `${what} ${path} cannot be read: ${errorMessage(err)}`;
}

/**
 * The spec files of each path: a directory's spec files sorted by name, a file as it is.
 * A path that does not exist or cannot be listed is a failed source.
 */
export async function listSources(paths: string[]): Promise<{ files: string[]; failed: SourceFailure[] }> {
  const files: string[] = [];
  const failed: SourceFailure[] = [];
  for (const p of paths) {
    let st: Stats;
    try {
      st = await stat(p);
    } catch (err) {
      failed.push({ path: p, message: sourceMessage(p, err, errnoOf(err) === 'ENOENT' && isSpecFile(p) ? 'spec file' : 'spec directory') });
      continue;
    }
    if (!st.isDirectory()) {
      // a file given directly; anything else (a FIFO, a device) fails the source at once
      if (st.isFile()) files.push(p);
      else failed.push({ path: p, message: `${p} is ${kindOf(st)}, not a regular file or directory` });
      continue;
    }
    try {
      const entries = await readdir(p, { withFileTypes: true });
      for (const e of entries.sort((a, b) => byName(a.name, b.name))) if (isSpecFile(e.name)) files.push(join(p, e.name));
    } catch (err) {
      failed.push({ path: p, message: sourceMessage(p, err, 'spec directory') });
    }
  }
  return { files, failed };
}

/** Spec files of the directories (or files given directly), sorted by file name within each. */
export async function listSpecFiles(paths: string[]): Promise<string[]> {
  return (await listSources(paths)).files;
}

/**
 * The offset of the first byte that is not part of a well-formed UTF-8 sequence (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF), or -1.
 */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined) return i;
      if (k === 1 ? d < lo || d > hi : d < 0x80 || d > 0xbf) return i + k;
    }
    i += n + 1;
  }
  return -1;
}

/** 1-based line and column (in characters) of byte `offset`, all bytes before it being valid UTF-8. */
function positionOfByte(b: Uint8Array, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (b[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  const column = [...new TextDecoder('utf-8').decode(b.subarray(lineStart, offset))].length + 1;
  return { line, column };
}

type ReadResult = { text: string } | { issue: SpecIssue } | { gone: true };

const refuse = (
  file: string,
  message: string,
  severity: 'error' | 'warning' = 'error',
  at: { line?: number; column?: number } = {},
): ReadResult => ({
  issue: { severity, file, ...at, path: '', message },
});

/**
 * Read one spec file without ever blocking: stat (following symlinks) and refuse anything
 * that is not a regular file before opening it, open with O_NONBLOCK (a FIFO swapped in
 * meanwhile cannot hang us) and check the descriptor again, read at most the size limit,
 * and decode strictly.
 */
export async function readSpecFile(file: string): Promise<ReadResult> {
  let st: Stats;
  try {
    st = await stat(file);
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === 'ENOENT') {
      const link = await lstat(file).catch(() => undefined); // gone too: removed between listing and reading
      if (link?.isSymbolicLink()) return refuse(file, 'dangling symlink: its target does not exist; not read', 'warning');
      return { gone: true }; // removed between listing and reading
    }
    if (errno === 'ELOOP') return refuse(file, 'symlink loop: not read');
    return refuse(file, `cannot read: ${errorMessage(err)}`);
  }
  if (!st.isFile()) {
    if (st.isDirectory()) return refuse(file, 'is a directory: subdirectories are not read', 'warning');
    return refuse(file, `is ${kindOf(st)}, not a regular file: refused`);
  }
  const tooBig = (size: number | string) =>
    refuse(file, `is ${size} bytes, more than the limit of ${MAX_SPEC_FILE_BYTES} bytes (4 MiB) per spec file: refused`);
  if (st.size > MAX_SPEC_FILE_BYTES) return tooBig(st.size);
  let bytes: Uint8Array;
  try {
    const fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    try {
      const fst = await fh.stat();
      if (!fst.isFile()) return refuse(file, `is ${kindOf(fst)}, not a regular file: refused`);
      const buf = Buffer.alloc(Math.min(MAX_SPEC_FILE_BYTES + 1, Math.max(fst.size + 1, 4096)));
      let n = 0;
      for (;;) {
        if (n === buf.length) break;
        const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      if (n > MAX_SPEC_FILE_BYTES) return tooBig(`more than ${MAX_SPEC_FILE_BYTES}`);
      if (n === buf.length) {
        // it grew while we read: a writer is at work; the next pass sees the finished file
        return refuse(file, 'changed while being read (a writer is at work?): not read this time');
      }
      bytes = buf.subarray(0, n);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return { gone: true };
    return refuse(file, `cannot read: ${errorMessage(err)}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    const pos = positionOfByte(bytes, Math.max(at, 0));
    return refuse(
      file,
      `invalid UTF-8: byte 0x${(bytes[at] ?? 0).toString(16).padStart(2, '0')} at offset ${at} is not part of a valid UTF-8 sequence`,
      'error',
      pos,
    );
  }
  if (text.trim() === '') {
    // A file truncated by a writer that is about to fill it (kubelet: "file was empty").
    return refuse(file, 'is empty: taken as half-written, the pods it held keep running (remove the file to remove them)');
  }
  return { text };
}

/**
 * What each file held at its last read, for the daemon's relist: a file whose device, inode,
 * mode, size and change times are those of the last read is not read and parsed again (with
 * 100 pods, that was most of an idle sync's work). As in git's racy-clean rule, a file read
 * less than RACY_MS after it changed is read again every time, since a second change within
 * the file system's timestamp granularity would keep every one of those fields.
 */
const lastRead = new Map<string, { key: string; parsed: ParsedFile }>();
const RACY_MS = 2000;

async function identity(file: string): Promise<{ key: string; changedMs: number } | undefined> {
  try {
    const st = await stat(file, { bigint: true });
    if (!st.isFile()) return undefined;
    return { key: `${st.dev}:${st.ino}:${st.mode}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`, changedMs: Number(st.ctimeNs / 1_000_000n) };
  } catch {
    return undefined; // no identity: the file is read again (and its error reported) by the caller
  }
}

/** Read and parse every spec file of the paths; failed sources and refused files are reported, never dropped. */
export async function readSources(paths: string[], clock: Pick<Clock, 'now'> = systemClock): Promise<SpecSources> {
  const { files: names, failed } = await listSources(paths);
  const files: ParsedFile[] = [];
  for (const file of names) {
    const id = await identity(file);
    const last = lastRead.get(file);
    if (id && last?.key === id.key) {
      files.push(structuredClone(last.parsed));
      continue;
    }
    // compared with the kernel's file times: systemClock is wall clock, as they are
    const readAt = clock.now();
    const r = await readSpecFile(file);
    if ('gone' in r) continue;
    const parsed = 'issue' in r ? { file, pods: [], networks: [], issues: [r.issue] } : parseFile(r.text, file);
    files.push(parsed);
    if (id && readAt - id.changedMs >= RACY_MS) lastRead.set(file, { key: id.key, parsed: structuredClone(parsed) });
    else lastRead.delete(file);
  }
  const listed = new Set(names);
  for (const f of [...lastRead.keys()]) if (!listed.has(f)) lastRead.delete(f);
  return { files, failed };
}

/** The issue that reports a failed source (no key: it is about a file or directory, not one document). */
export const sourceIssue = (f: SourceFailure): SpecIssue => ({
  severity: 'error',
  file: f.path,
  path: '',
  message: f.message,
  reason: 'SourceError',
});

/** Parsed spec files of the paths, each failed source as one more file holding its error. */
export async function readSpecFiles(paths: string[]): Promise<ParsedFile[]> {
  const { files, failed } = await readSources(paths);
  return [...failed.map((f) => ({ file: f.path, pods: [], networks: [], issues: [sourceIssue(f)] })), ...files];
}

/**
 * Watch the spec directories; `onChange` is called (debounced) after files are added,
 * changed or removed. Returns a function that stops watching.
 */
export function watchSpecDirs(dirs: string[], onChange: () => void, log: Logger, clock: Clock, debounceMs = 100): () => Promise<void> {
  let timer: TimerHandle | undefined;
  const fire = (path: string) => {
    const name = path.split('/').pop() ?? path;
    if (!isSpecFile(name)) return;
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = clock.setTimeout(onChange, debounceMs);
  };
  const watcher = watch(dirs, { depth: 0, ignoreInitial: true, awaitWriteFinish: false });
  watcher.on('add', fire).on('change', fire).on('unlink', fire);
  watcher.on('error', (err) => log.warn({ err, component: 'sources' }, 'spec directory watch failed'));
  return async () => {
    if (timer !== undefined) clock.clearTimeout(timer);
    await watcher.close();
  };
}
