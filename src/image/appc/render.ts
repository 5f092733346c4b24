/**
 * Rendering an ACI with its dependencies (appc `spec/ace.md` "Filesystem Setup", the rules of
 * `pkg/acirenderer`), written for berth:
 *
 * The images come upper first (the image itself at level 0, then its dependencies as appc's
 * depth-first list builds them: for A→[B,C], B,C→[D] the list is A,C,D,B,D; rendering
 * bottom-up gives D,B,D,C,A). "Later files win" is applied from the top: each image in list
 * order contributes only the entries no upper image already provided, that are not below a
 * non-directory an upper image provided (a symlink to a directory is replaced, never
 * followed), that its own `pathWhitelist` allows (non-directories only) and that the
 * whitelist of the highest whitelisting ancestor on its branch allows (everything). There
 * are no whiteouts. Because the selected sets are disjoint, entries are extracted as they
 * are selected, in one streaming pass per image, through berth's safe layer applier
 * (`LayerApplier`: cleaned names, chroot-scoped parents, never following the last component,
 * bounded sizes); each image's bytes are re-hashed and must match its image ID.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { BerthError } from '../../common/index.js';
import { LayerApplier, layerError, type ApplyOptions } from '../layer-apply.js';
import { tarEntries, type TarHeader } from '../tar/entries.js';
import { cleanName, MAX_ACI_BYTES } from './archive.js';

export interface RenderImage {
  imageId: string;
  level: number;
  pathWhitelist?: string[] | undefined;
}

type Kind = 'dir' | 'other';

/** `pwlToMap`: whitelist entries as cleaned tar names under `rootfs/`; undefined when empty. */
export function whitelistSet(pwl: string[] | undefined): Set<string> | undefined {
  if (!pwl || pwl.length === 0) return undefined;
  return new Set(pwl.map((p) => cleanName(posix.join('rootfs', p))));
}

/** The whitelist of the highest ancestor with one, on the branch of `images[pos]` (`getUpperPWLM`). */
export function upperWhitelist(images: RenderImage[], pos: number): Set<string> | undefined {
  let out: Set<string> | undefined;
  let level = images[pos]!.level;
  for (let i = pos; i >= 0; i--) {
    const img = images[i]!;
    if (img.level < level && img.pathWhitelist && img.pathWhitelist.length > 0) out = whitelistSet(img.pathWhitelist);
    level = img.level;
  }
  return out;
}

/** The selection state shared by the images of one render: what upper images provided. */
export class Selection {
  /** cleaned names → kind, of every entry selected so far */
  readonly provided = new Map<string, Kind>();
  /** parents of selected entries that upper images did not list themselves: they stay directories */
  private readonly impliedDirs = new Set<string>();

  /** Decide one entry of image `pos`; records it when selected. */
  select(name: string, isDir: boolean, own: Set<string> | undefined, upper: Set<string> | undefined): boolean {
    if (name === 'rootfs') {
      if (!isDir || this.provided.has(name)) return false;
      this.provided.set(name, 'dir');
      return true;
    }
    if (!name.startsWith('rootfs/')) return false;
    if (!isDir && own && !own.has(name)) return false;
    if (upper && !upper.has(name)) return false;
    if (this.provided.has(name)) return false;
    if (!isDir && this.impliedDirs.has(name)) return false; // a directory above, implied by an upper entry
    for (let p = posix.dirname(name); p !== '.' && p !== '/'; p = posix.dirname(p)) {
      if (this.provided.get(p) === 'other') return false;
    }
    this.provided.set(name, isDir ? 'dir' : 'other');
    for (let p = posix.dirname(name); p !== 'rootfs' && p !== '.'; p = posix.dirname(p)) {
      if (this.provided.has(p) || this.impliedDirs.has(p)) break;
      this.impliedDirs.add(p);
    }
    return true;
  }
}

/** The header of a selected entry, renamed below the rootfs. */
function renamed(h: TarHeader, name: string): TarHeader {
  const rel = name === 'rootfs' ? '.' : name.slice('rootfs/'.length);
  const out: TarHeader = { ...h, name: h.type === 'directory' ? `${rel}/` : rel };
  if (h.pax) {
    // the new name and link target are set above; the originals must not come back
    const { path: _p, linkpath: _l, ...pax } = h.pax;
    out.pax = pax;
  }
  if (h.type === 'link' && h.linkname) {
    const target = cleanName(h.linkname);
    if (!target.startsWith('rootfs/')) throw new BerthError('InvalidArgument', `hard link "${name}" points outside rootfs`);
    out.linkname = target.slice('rootfs/'.length);
  }
  return out;
}

/**
 * Walk one stored ACI tar and apply every selected entry, renamed below the rootfs, through
 * the safe layer applier (or only select, for a dry run); returns the sha512 of every byte
 * read (the image ID check).
 */
async function renderImage(
  path: string,
  decide: (name: string, isDir: boolean) => boolean,
  applier: LayerApplier | undefined,
  opts: ApplyOptions,
): Promise<string> {
  const hash = createHash('sha512');
  const maxBytes = opts.maxBytes ?? MAX_ACI_BYTES;
  let bytes = 0;
  const tap = (chunk: Buffer): void => {
    bytes += chunk.length;
    if (bytes > maxBytes) throw new BerthError('InvalidArgument', `${path}: more than ${maxBytes} bytes (SEC-06)`);
    hash.update(chunk);
  };
  try {
    for await (const { header, body } of tarEntries(createReadStream(path, { highWaterMark: 256 * 1024 }), { tap, signal: opts.signal })) {
      const name = cleanName(header.name);
      if (!decide(name, header.type === 'directory') || !applier) continue;
      await applier.entry(renamed(header, name), body);
    }
  } catch (err) {
    throw layerError(err, 'rendering ACI');
  }
  applier?.finish();
  return hash.digest('hex');
}

export interface RenderResult {
  /** entries extracted per image, upper first */
  selected: string[][];
}

/**
 * Render `images` (upper first) into `root` (an existing, empty directory). `pathOf` gives
 * the stored uncompressed tar of an image ID.
 */
export async function renderAciTree(
  root: string,
  images: RenderImage[],
  pathOf: (imageId: string) => string,
  opts: ApplyOptions & { dryRun?: boolean } = {},
): Promise<RenderResult> {
  const sel = new Selection();
  const selected: string[][] = [];
  for (const [pos, img] of images.entries()) {
    if (opts.signal?.aborted) throw new BerthError('Canceled', 'render canceled');
    const own = whitelistSet(img.pathWhitelist);
    const upper = upperWhitelist(images, pos);
    const names: string[] = [];
    const decide = (name: string, isDir: boolean) => {
      const ok = sel.select(name, isDir, own, upper);
      if (ok) names.push(name);
      return ok;
    };
    const hex = await renderImage(pathOf(img.imageId), decide, opts.dryRun ? undefined : new LayerApplier(root, opts), opts);
    if (`sha512-${hex}` !== img.imageId) {
      throw new BerthError('FailedPrecondition', `stored ACI ${img.imageId} is corrupt (its content hashes to sha512-${hex})`);
    }
    selected.push(names);
  }
  return { selected };
}
