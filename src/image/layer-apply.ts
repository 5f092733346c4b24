/**
 * Applying layer changesets to a directory (IMG-09..16) with tar safety (SEC-01..06).
 *
 * Every tar entry name is cleaned as Clean("/"+name) (SEC-01); its parent is resolved with
 * chroot-scoped symlink evaluation (SEC-02, `secureJoin`); the final component is never
 * followed: it is lstat'ed, removed unless dir-over-dir, and created exclusively (SEC-03).
 * Symlinks are created verbatim (SEC-04), a non-directory root entry is refused (SEC-05), and
 * entry counts and decompressed bytes are bounded (SEC-06).
 *
 * Whiteouts (IMG-12/13) are applied in one streaming pass: the applier tracks the host paths
 * this layer created (and their ancestors) — umoci's `upperPaths`, containerd's
 * `unpackedPaths` — and whiteouts only remove what is not in that set. That is exactly
 * "opaque whiteout first, wherever it sits in the tar".
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants as fsc,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from '../common/process.js';
import { BerthError, codeOf, errnoOf, silentLogger } from '../common/index.js';
import type { Logger } from '../common/index.js';
import { parseDigest } from './digest.js';
import { cleanEntryPath, resolveParent, secureJoin } from './secure-join.js';
import { decompress, detectCompression, MAGIC_BYTES } from './tar/decompress.js';
import type { Compression } from './tar/decompress.js';
import { skipBody, tarEntries } from './tar/entries.js';
import type { TarHeader } from './tar/entries.js';

export { detectCompression };
export type { Compression };

export interface ApplyOptions {
  log?: Logger;
  /** chown entries and mknod devices; default: running as root. */
  privileged?: boolean;
  /** SEC-06: maximum tar entries per layer (default 1,000,000). */
  maxEntries?: number;
  /** SEC-06: maximum decompressed bytes per layer (default 64 GiB). */
  maxBytes?: number;
  signal?: AbortSignal;
}

export interface ApplyResult {
  /** sha256 of the uncompressed tar stream (the layer's DiffID). */
  diffId: string;
  bytes: number;
  entries: number;
}

const WHITEOUT_PREFIX = '.wh.';
const WHITEOUT_META_PREFIX = '.wh..wh.';
const WHITEOUT_OPAQUE = '.wh..wh..opq';
const SKIPPED_XATTRS = new Set(['security.selinux', 'system.nfs4_acl']);
const DEFAULT_MAX_ENTRIES = 1_000_000;
const DEFAULT_MAX_BYTES = 64 * 1024 ** 3;

interface Times {
  atime: Date;
  mtime: Date;
}

type Header = TarHeader;

function bad(message: string): BerthError {
  return new BerthError('InvalidArgument', `invalid layer: ${message}`);
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** The process umask, read once (process.umask() without an argument is deprecated); undefined when unknown. */
let umaskValue: number | null | undefined;
function umask(): number | undefined {
  if (umaskValue === undefined) {
    try {
      const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'));
      umaskValue = m ? Number.parseInt(m[1] as string, 8) : null;
    } catch {
      umaskValue = null; // no procfs: always chmod
    }
  }
  return umaskValue ?? undefined;
}

let setfattrAvailable: Promise<boolean> | undefined;
function haveSetfattr(): Promise<boolean> {
  setfattrAvailable ??= execa('setfattr', ['--version'], { reject: false }).then(
    (r) => r.exitCode === 0,
    () => false,
  );
  return setfattrAvailable;
}

/**
 * The per-layer state of one changeset application. The target tree is private to berth
 * while it is rendered, so the file-system calls of one entry are made synchronously (a few
 * microseconds each, against a thread-pool round trip per call), and file data is
 * written chunk by chunk as the parser hands them over; the safety checks are the same calls.
 */
export class LayerApplier {
  private readonly upper = new Set<string>();
  private readonly savedTimes = new Map<string, Times>();
  private readonly dirTimes = new Map<string, Times>();
  /** Resolved directories known to be real directories; forgotten on any removal. */
  private readonly knownDirs = new Set<string>();
  /**
   * Resolved parents of this layer's entries (parentRel → host path). A resolution only
   * changes when this layer creates a symlink or removes something, so both clear it;
   * creating files and directories leaves every earlier resolution as it was.
   */
  private readonly parents = new Map<string, string>();
  private readonly root: string;
  private readonly log: Logger;
  private readonly privileged: boolean;
  private warnedXattr = false;
  private warnedDevice = false;
  entries = 0;
  private readonly euid = process.geteuid?.() ?? -1;
  private readonly egid = process.getegid?.() ?? -1;

  constructor(
    root: string,
    private readonly opts: ApplyOptions = {},
  ) {
    this.root = posix.normalize(root).replace(/\/+$/, '') || '/';
    this.log = opts.log ?? silentLogger();
    this.privileged = opts.privileged ?? process.getuid?.() === 0;
  }

  /** Remember a directory's times before this layer changes its children (umoci keeps parent metadata). */
  private saveTimes(dir: string): void {
    if (this.savedTimes.has(dir) || this.dirTimes.has(dir)) return; // a directory entry of this layer sets its times anyway
    const st = lstatOrUndefined(dir);
    if (st?.isDirectory()) this.savedTimes.set(dir, { atime: st.atime, mtime: st.mtime });
  }

  /**
   * resolveParent (SEC-02) through the per-layer cache of resolved parent directories. A
   * parent whose own parent is resolved and which this applier knows to be a real directory
   * (`knownDirs`: made or seen as one, forgotten on any removal) resolves to the name below
   * that, with no walk: a real directory is not a symlink, so the walk would give the same.
   */
  private async resolveParent(rel: string): Promise<{ parent: string; path: string }> {
    const parentRel = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
    let parent = this.parents.get(parentRel);
    if (parent === undefined && parentRel !== '') {
      const up = posix.dirname(parentRel);
      const above = this.parents.get(up === '.' ? '' : up);
      const name = posix.basename(parentRel);
      if (above !== undefined && name !== '..' && this.knownDirs.has(posix.join(above, name))) parent = posix.join(above, name);
    }
    if (parent === undefined) parent = (await resolveParent(this.root, rel)).parent;
    this.parents.set(parentRel, parent);
    return { parent, path: posix.join(parent, posix.basename(rel)) };
  }

  private markUpper(p: string): void {
    for (let cur = p; cur.length > this.root.length && !this.upper.has(cur); cur = posix.dirname(cur)) this.upper.add(cur);
  }

  /** mkdir -p of a resolved parent inside the root; a non-directory in the way is replaced (umoci NonDirParent). */
  private ensureDir(dir: string): void {
    if (this.knownDirs.has(dir)) return;
    const rel = posix.relative(this.root, dir);
    if (rel.startsWith('..') || posix.isAbsolute(rel)) throw new BerthError('Internal', `resolved path ${dir} escapes ${this.root}`);
    let cur = this.root;
    for (const comp of rel === '' ? [] : rel.split('/')) {
      const next = posix.join(cur, comp);
      if (this.knownDirs.has(next)) {
        cur = next;
        continue;
      }
      const st = lstatOrUndefined(next);
      if (st?.isDirectory()) {
        this.knownDirs.add(next);
        cur = next;
        continue;
      }
      if (st?.isSymbolicLink()) throw new BerthError('Internal', `unexpected symlink at resolved path ${next}`);
      this.saveTimes(cur);
      if (st) {
        this.parents.clear();
        unlinkSync(next);
      }
      mkdirSync(next, 0o755);
      this.knownDirs.add(next);
      cur = next;
    }
    this.knownDirs.add(dir);
  }

  private remove(p: string): void {
    this.knownDirs.clear();
    this.parents.clear();
    rmSync(p, { recursive: true, force: true });
  }

  /** Remove `p` unless this layer created it; recurse into directories this layer touched. */
  private removeLower(p: string): void {
    if (!this.upper.has(p)) {
      this.saveTimes(posix.dirname(p));
      this.remove(p);
      return;
    }
    const st = lstatOrUndefined(p);
    if (!st?.isDirectory()) return;
    for (const child of readdirSync(p)) this.removeLower(posix.join(p, child));
  }

  private async whiteout(rel: string, base: string): Promise<void> {
    const parentRel = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
    if (base === WHITEOUT_OPAQUE) {
      // IMG-13: remove every lower child, keep the directory and what this layer created in it.
      const dir = await secureJoin(this.root, parentRel);
      const st = lstatOrUndefined(dir);
      if (!st?.isDirectory()) return;
      for (const child of readdirSync(dir)) this.removeLower(posix.join(dir, child));
      return;
    }
    if (base.startsWith(WHITEOUT_META_PREFIX)) return; // AUFS meta entries (.wh..wh.plnk): ignore (IMG-12)
    const name = base.slice(WHITEOUT_PREFIX.length);
    // IMG-12 / containerd validateWhiteout: an empty name or one that escapes its directory is malicious.
    if (name === '' || name === '.' || name === '..') throw bad(`whiteout "${rel}" escapes its directory`);
    const parent = await secureJoin(this.root, parentRel);
    const target = posix.join(parent, name);
    if (!lstatOrUndefined(target)) return;
    this.removeLower(target);
  }

  private owner(h: Header): { uid: number; gid: number } {
    const pax = h.pax ?? {};
    const uid = pax.uid !== undefined ? Number.parseInt(pax.uid, 10) : h.uid;
    const gid = pax.gid !== undefined ? Number.parseInt(pax.gid, 10) : h.gid;
    return { uid: Number.isSafeInteger(uid) ? (uid as number) : 0, gid: Number.isSafeInteger(gid) ? (gid as number) : 0 };
  }

  private times(h: Header): Times {
    const pax = h.pax ?? {};
    const mtime = pax.mtime !== undefined ? new Date(Number.parseFloat(pax.mtime) * 1000) : h.mtime;
    const atime = pax.atime !== undefined ? new Date(Number.parseFloat(pax.atime) * 1000) : mtime;
    const ok = (d: Date | undefined): d is Date => d instanceof Date && !Number.isNaN(d.getTime());
    const m = ok(mtime) ? mtime : new Date(0);
    return { mtime: m, atime: ok(atime) ? atime : m };
  }

  private mode(h: Header, isDir: boolean): number {
    const m = (h.mode ?? 0o644) & 0o7777;
    // Without privileges a directory must stay writable for its owner, or later entries cannot land in it.
    return isDir && !this.privileged ? m | 0o700 : m;
  }

  private async xattrs(path: string, h: Header): Promise<void> {
    const pax = h.pax;
    if (!pax) return;
    const attrs = Object.entries(pax).filter(([k]) => k.startsWith('SCHILY.xattr.'));
    for (const [key, value] of attrs) {
      const name = key.slice('SCHILY.xattr.'.length);
      if (SKIPPED_XATTRS.has(name)) continue;
      if (!(await haveSetfattr())) {
        if (!this.warnedXattr) this.log.warn({ path: h.name, xattr: name }, 'xattrs not applied: setfattr is not installed');
        this.warnedXattr = true;
        return;
      }
      const hex = `0x${Buffer.from(value, 'latin1').toString('hex')}`;
      const r = await execa('setfattr', ['-h', '-n', name, '-v', hex, '--', path], { reject: false });
      if (r.exitCode !== 0) this.log.warn({ path: h.name, xattr: name, stderr: r.stderr }, 'xattr not applied');
    }
  }

  private async device(path: string, h: Header): Promise<boolean> {
    const kind = h.type === 'fifo' ? 'p' : h.type === 'block-device' ? 'b' : 'c';
    const args = kind === 'p' ? [path, 'p'] : [path, kind, String(h.devmajor ?? 0), String(h.devminor ?? 0)];
    if (!this.privileged) {
      if (!this.warnedDevice) this.log.warn({ path: h.name }, 'device and fifo entries skipped: not privileged (IMG-15)');
      this.warnedDevice = true;
      return false;
    }
    const r = await execa('mknod', ['-m', '0600', '--', ...args], { reject: false });
    if (r.exitCode !== 0) {
      this.log.warn({ path: h.name, stderr: r.stderr }, 'mknod failed; device entry skipped (IMG-15)');
      return false;
    }
    return true;
  }

  /** IMG-16: chown by number, then chmod (so setuid survives). Never follows the final component. */
  private async attributes(path: string, h: Header, kind: 'dir' | 'symlink' | 'other'): Promise<void> {
    if (this.privileged) {
      const { uid, gid } = this.owner(h);
      lchownSync(path, uid, gid);
    }
    if (kind !== 'symlink') chmodSync(path, this.mode(h, kind === 'dir'));
    await this.xattrs(path, h);
    const t = this.times(h);
    if (kind === 'dir') this.dirTimes.set(path, t);
    else lutimesSync(path, t.atime, t.mtime);
  }

  /** Create `path` exclusively without following a final symlink (SEC-03); something already there is replaced (IMG-11). */
  private createFile(path: string, mode: number): number {
    const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
    try {
      return openSync(path, flags, mode);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
      this.remove(path);
      return openSync(path, flags, mode);
    }
  }

  /**
   * A regular file, the common entry. Attributes go through the descriptor (IMG-16: chown,
   * then chmod, then times); a chown that would change nothing is skipped, and so is the
   * chmod when the create mode already gave the exact bits (no chown, nothing masked).
   */
  private async regularFile(path: string, h: Header, body: AsyncIterable<Buffer>): Promise<void> {
    const mode = this.mode(h, false);
    const mask = umask();
    let exact = mask !== undefined && (mode & (mask | 0o7000)) === 0; // special bits always through fchmod
    const fd = this.createFile(path, exact ? mode : 0o600);
    try {
      for await (const chunk of body) {
        for (let off = 0; off < chunk.length;) off += writeSync(fd, chunk, off, chunk.length - off);
      }
      if (this.privileged) {
        const { uid, gid } = this.owner(h);
        if (uid !== this.euid || gid !== this.egid) {
          fchownSync(fd, uid, gid);
          exact = false; // chown clears setuid/setgid: chmod after it
        }
      }
      if (!exact) fchmodSync(fd, mode);
      const t = this.times(h);
      futimesSync(fd, t.atime, t.mtime);
    } finally {
      closeSync(fd);
    }
    if (h.pax) await this.xattrs(path, h);
  }

  async entry(h: Header, body: AsyncIterable<Buffer>): Promise<void> {
    if (this.opts.signal?.aborted) throw new BerthError('Canceled', 'layer application canceled', { cause: this.opts.signal.reason });
    const max = this.opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (++this.entries > max) throw bad(`more than ${max} entries (SEC-06)`);
    const type = h.type as string | null;
    const rel = cleanEntryPath(h.name);
    if (type === null || !KNOWN_TYPES.has(type)) throw bad(`entry "${h.name}" has an unsupported type flag (IMG-16)`);

    if (rel === '') {
      // SEC-05: a non-directory entry for the root is malicious.
      if (type !== 'directory') throw bad(`non-directory entry "${h.name}" for the root (SEC-05)`);
      await this.attributes(this.root, h, 'dir');
      await skipBody(body);
      return;
    }
    const base = posix.basename(rel);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      await skipBody(body);
      await this.whiteout(rel, base);
      return;
    }

    const { parent, path } = await this.resolveParent(rel);
    let linkTarget: string | undefined;
    if (type === 'link') {
      // IMG-14: the hardlink target is resolved inside the root, its last component not followed.
      const linkRel = cleanEntryPath(h.linkname ?? '');
      if (linkRel === '') throw bad(`hardlink "${h.name}" points at the root`);
      linkTarget = (await this.resolveParent(linkRel)).path;
      const st = lstatOrUndefined(linkTarget);
      if (!st) throw bad(`hardlink "${h.name}" to missing "${h.linkname}"`);
      if (st.isDirectory()) throw bad(`hardlink "${h.name}" to directory "${h.linkname}"`);
      if (linkTarget === path) {
        this.markUpper(path);
        await skipBody(body);
        return;
      }
    }
    this.ensureDir(parent);
    if (type === 'file' || type === 'contiguous-file') {
      this.saveTimes(parent);
      await this.regularFile(path, h, body);
      this.markUpper(path);
      return;
    }
    const existing = lstatOrUndefined(path);
    const keepDir = existing?.isDirectory() === true && type === 'directory';
    if (!keepDir) this.saveTimes(parent);
    if (existing && !keepDir) {
      // IMG-11: anything but dir-over-dir is unlinked, then recreated.
      this.remove(path);
    }

    await skipBody(body);
    switch (type) {
      case 'directory':
        if (!keepDir) mkdirSync(path, 0o700);
        this.knownDirs.add(path);
        await this.attributes(path, h, 'dir');
        break;
      case 'symlink':
        this.parents.clear(); // paths through this name now resolve through the link
        symlinkSync(h.linkname ?? '', path); // SEC-04: verbatim
        await this.attributes(path, h, 'symlink');
        break;
      case 'link':
        this.parents.clear(); // the target may be a symlink: the new name is one too
        linkSync(linkTarget as string, path); // link(2) never follows a symlink target
        break;
      default:
        if (!(await this.device(path, h))) return;
        await this.attributes(path, h, 'other');
    }
    this.markUpper(path);
  }

  /** IMG-16: directory mtimes last; parents this layer touched implicitly keep their times. */
  finish(): void {
    const all = new Map(this.savedTimes);
    for (const [p, t] of this.dirTimes) all.set(p, t);
    for (const [p, t] of all) {
      try {
        lutimesSync(p, t.atime, t.mtime);
      } catch (err) {
        const code = errnoOf(err);
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      }
    }
  }
}

const KNOWN_TYPES: ReadonlySet<string> = new Set([
  'file',
  'contiguous-file',
  'link',
  'symlink',
  'directory',
  'character-device',
  'block-device',
  'fifo',
]);

/** Errors of a layer as the caller sees them: berth's own unchanged, a system call's Internal, the rest a bad layer. */
export function layerError(e: unknown, what = 'applying layer'): BerthError {
  if (e instanceof BerthError) return e;
  const systemError = /^E[A-Z]+$/.test(errnoOf(e) ?? '');
  return new BerthError(systemError ? 'Internal' : 'InvalidArgument', `${what}: ${(e as Error).message}`, { cause: e });
}

/**
 * Apply one uncompressed tar stream as a changeset onto `root` (an existing directory).
 * Returns the DiffID computed over every byte consumed.
 */
export async function applyTar(root: string, source: Readable | AsyncIterable<Uint8Array>, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const applier = new LayerApplier(root, opts);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = (chunk: Buffer): void => {
    bytes += chunk.length;
    if (bytes > maxBytes) throw bad(`more than ${maxBytes} decompressed bytes (SEC-06)`);
    hash.update(chunk);
  };
  try {
    for await (const { header, body } of tarEntries(source, { tap, signal: opts.signal })) await applier.entry(header, body);
  } catch (err) {
    throw layerError(err);
  }
  applier.finish();
  return { diffId: `sha256:${hash.digest('hex')}`, bytes, entries: applier.entries };
}

/** Stream a stored blob, verifying its size and digest as it is read (never past `size`). */
async function* verifiedBlob(path: string, digest: string, size: number): AsyncGenerator<Buffer> {
  const { algorithm } = parseDigest(digest);
  const hash = createHash(algorithm);
  let n = 0;
  const fh = await open(path, 'r');
  try {
    for await (const chunk of fh.createReadStream({ autoClose: false, highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > size) throw new BerthError('FailedPrecondition', `layer ${digest}: more than ${size} bytes`);
      hash.update(chunk);
      yield chunk;
    }
  } finally {
    await fh.close();
  }
  const actual = `${algorithm}:${hash.digest('hex')}`;
  if (n !== size || actual !== digest)
    throw new BerthError('FailedPrecondition', `layer ${digest}: content does not match (got ${actual}, ${n} bytes)`);
}

async function verifyWhole(layer: { path: string; digest: string; size: number }): Promise<void> {
  for await (const _chunk of verifiedBlob(layer.path, layer.digest, layer.size)) {
    // hashing only
  }
}

export interface LayerBlob {
  /** host path of the blob (in the content store) */
  path: string;
  digest: string;
  size: number;
  /** config.rootfs.diff_ids[i] (IMG-09) */
  diffId: string;
}

async function sniffBlob(path: string): Promise<Compression> {
  const head = Buffer.alloc(MAGIC_BYTES);
  const fh = await open(path, 'r');
  try {
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return detectCompression(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/**
 * Apply one (compressed) layer blob onto `root`, verifying its digest and its DiffID while
 * streaming (IMG-09/10). The compression is told by the magic bytes, as containerd does:
 * writers that label a plain tar `+gzip` exist.
 */
export async function applyLayerBlob(root: string, layer: LayerBlob, opts: ApplyOptions = {}): Promise<ApplyResult> {
  parseDigest(layer.diffId);
  const compression = await sniffBlob(layer.path);
  if (compression === 'xz' || compression === 'bzip2') {
    throw new BerthError(
      'InvalidArgument',
      `layer ${layer.digest} is ${compression}-compressed; OCI layers are plain, gzip or zstd (IMG-10)`,
    );
  }
  const tarStream = decompress(
    Readable.from(verifiedBlob(layer.path, layer.digest, layer.size), { objectMode: false }),
    compression,
    `layer ${layer.digest}`,
  );
  let result: ApplyResult;
  try {
    result = await applyTar(root, tarStream, opts);
  } catch (err) {
    // A decompression or tar error may come from corrupt content: say so if the blob does not match its digest.
    if (codeOf(err) === 'InvalidArgument') await verifyWhole(layer);
    throw err;
  }
  if (result.diffId !== layer.diffId) {
    throw new BerthError(
      'FailedPrecondition',
      `layer ${layer.digest}: DiffID ${result.diffId} does not match config ${layer.diffId} (IMG-09)`,
    );
  }
  return result;
}
