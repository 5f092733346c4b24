/**
 * `docker-archive:` (containers-transports(5)): the tar `docker save` and
 * `skopeo copy … docker-archive:` write — `manifest.json` (a list of
 * `{Config, RepoTags, Layers}`), the config JSON, and one tar per layer (plain, or gzip/zstd
 * in newer writers), possibly linked to each other by symlinks.
 *
 * The archive has no registry manifest, so berth writes one: an OCI manifest whose config
 * and layer descriptors carry the digests and sizes of the archive's members. The image is
 * resolved from the archive's index before any layer is copied, so that the signature policy
 * decides (`checkTopLevel`, as for an OCI layout) before a layer blob is written:
 *   pass 1 reads the tar's entries: their sizes, links and first bytes, and the small JSON
 *     members (manifest.json, the config) whole; no layer is hashed or kept;
 *   a plain tar layer's digest is its DiffID (the config's `rootfs.diff_ids`), so for the
 *     archives `docker save` and skopeo write the manifest's digest is known from pass 1
 *     alone; a compressed layer (newer writers) is hashed in a pass of its own first;
 *   the manifest is stored and the policy asked; then the last pass streams the layers not
 *     stored yet into the content store, which verifies each against its digest.
 *
 * The selector after the path is a reference from RepoTags (`:busybox:latest`) or a
 * zero-based index (`:@0`); without one the archive must hold exactly one image.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { BerthError, errnoOf, silentLogger } from '../common/index.js';
import type { Logger } from '../common/index.js';
import type { ContentStore } from './types.js';
import { digestOf, isValidDigest } from './digest.js';
import { MAX_JSON_BODY, MediaType } from './media-types.js';
import { parseConfig } from './pull.js';
import { parseDockerReference } from './reference.js';
import { detectCompression } from './tar/decompress.js';
import { tarEntries, type TarEntry } from './tar/entries.js';
import type { Descriptor, PulledImage } from './types.js';

interface Member {
  size: number;
  magic: Buffer;
  /** kept for small .json members, with their digest */
  body?: Buffer;
  digest?: string;
  link?: string;
}

interface ArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** enough of a member's first bytes to tell every compression detectCompression knows (xz: 6) */
const MAGIC = 6;

const clean = (name: string) => posix.normalize(`/${name}`).slice(1);

async function* entries(file: string, signal?: AbortSignal): AsyncGenerator<TarEntry> {
  try {
    yield* tarEntries(createReadStream(file), { signal });
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw new BerthError('NotFound', `docker archive ${file} does not exist`, { cause: err });
    if (err instanceof BerthError) throw err;
    throw new BerthError('InvalidArgument', `${file}: not a readable tar (${(err as Error).message})`, { cause: err });
  }
}

/** Pass 1: the index of the archive: every member's size, link and first bytes; small JSON members whole, with their digest. */
async function indexArchive(file: string, signal?: AbortSignal): Promise<Map<string, Member>> {
  const members = new Map<string, Member>();
  let count = 0;
  for await (const { header, body: stream } of entries(file, signal)) {
    if (++count > 100_000) throw new BerthError('InvalidArgument', `${file}: too many tar entries`);
    const name = clean(header.name);
    if (header.type === 'symlink' || header.type === 'link') {
      const target =
        header.type === 'symlink' ? clean(posix.join(posix.dirname(name), header.linkname ?? '')) : clean(header.linkname ?? '');
      members.set(name, { size: 0, magic: Buffer.alloc(0), link: target });
      continue;
    }
    if (header.type !== 'file' && header.type !== 'contiguous-file') continue;
    const keep = name.endsWith('.json') && (header.size ?? 0) <= MAX_JSON_BODY;
    const parts: Buffer[] = [];
    let size = 0;
    let magic = Buffer.alloc(0);
    const truncated = (cause?: unknown) =>
      new BerthError(
        'InvalidArgument',
        `${file}: member ${name} declares ${header.size ?? '?'} bytes, but the archive ended after ${size} of them: the file is truncated`,
        cause === undefined ? undefined : { cause },
      );
    try {
      for await (const chunk of stream) {
        if (magic.length < MAGIC) magic = Buffer.concat([magic, chunk.subarray(0, MAGIC - magic.length)]);
        size += chunk.length;
        if (keep) parts.push(chunk);
      }
    } catch (err) {
      // tar-stream says "Unexpected end of data" or "Stream was destroyed"
      if (err instanceof BerthError || signal?.aborted) throw err;
      throw truncated(err);
    }
    if (header.size !== undefined && size < header.size) throw truncated();
    const body = keep ? Buffer.concat(parts) : undefined;
    members.set(name, { size, magic, ...(body ? { body, digest: digestOf(body) } : {}) });
  }
  return members;
}

/** The digests of the named members, read from the archive (compressed layers: their digest is nowhere else). */
async function hashMembers(file: string, names: Set<string>, signal?: AbortSignal): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (names.size === 0) return out;
  for await (const { header, body: stream } of entries(file, signal)) {
    const name = clean(header.name);
    if (!names.has(name) || header.type !== 'file' || out.has(name)) continue;
    const hash = createHash('sha256');
    for await (const chunk of stream) hash.update(chunk);
    out.set(name, `sha256:${hash.digest('hex')}`);
    if (out.size === names.size) break;
  }
  return out;
}

function resolveMember(members: Map<string, Member>, name: string, file: string): { name: string; m: Member } {
  let n = clean(name);
  for (let i = 0; i < 16; i++) {
    const m = members.get(n);
    if (!m) throw new BerthError('InvalidArgument', `${file}: manifest.json names ${name}, which the archive does not hold`);
    if (m.link === undefined) return { name: n, m };
    n = m.link;
  }
  throw new BerthError('InvalidArgument', `${file}: symlink loop at ${name}`);
}

function layerMediaType(magic: Buffer): string {
  const c = detectCompression(magic);
  return c === 'gzip' ? MediaType.ociLayerGzip : c === 'zstd' ? MediaType.ociLayerZstd : MediaType.ociLayer;
}

function selectEntry(list: ArchiveEntry[], selector: string | undefined, file: string): ArchiveEntry {
  const tags = list.flatMap((e) => e.RepoTags ?? []);
  if (selector === undefined) {
    if (list.length === 1) return list[0] as ArchiveEntry;
    throw new BerthError(
      'InvalidArgument',
      `${file} holds ${list.length} images; name one (:REPO:TAG or :@N; tags: ${tags.join(', ') || 'none'})`,
    );
  }
  if (selector.startsWith('@')) {
    const i = Number(selector.slice(1));
    const e = Number.isSafeInteger(i) ? list[i] : undefined;
    if (!e) throw new BerthError('NotFound', `${file}: no image at index ${selector.slice(1)} (${list.length} images)`);
    return e;
  }
  const norm = (t: string) => {
    try {
      const r = parseDockerReference(t);
      return `${r.registry}/${r.repository}:${r.tag ?? 'latest'}`;
    } catch {
      return t; // not a reference: compared as written, so it matches only the same text
    }
  };
  const want = norm(selector);
  const hit = list.find((e) => (e.RepoTags ?? []).some((t) => t === selector || norm(t) === want));
  if (!hit) throw new BerthError('NotFound', `${file}: no image tagged "${selector}" (tags: ${tags.join(', ') || 'none'})`);
  return hit;
}

export interface DockerArchiveContext {
  store: ContentStore;
  log?: Logger;
  signal?: AbortSignal;
  /**
   * The signature policy on the manifest berth writes for the image, called once it is stored
   * and before any config or layer is; a rejection stops the pull with nothing else written.
   */
  checkTopLevel?: (manifestDigest: string) => Promise<void>;
}

/** Pull an image from a docker-archive tar into the store (see the module comment for the order). */
export async function pullFromDockerArchive(
  file: string,
  ref: { raw: string; tag?: string },
  ctx: DockerArchiveContext,
): Promise<PulledImage> {
  const log = ctx.log ?? silentLogger();
  const members = await indexArchive(file, ctx.signal);
  const manifestJson = members.get('manifest.json')?.body;
  if (!manifestJson) throw new BerthError('InvalidArgument', `${file}: not a docker archive (no manifest.json)`);
  let list: ArchiveEntry[];
  try {
    list = JSON.parse(manifestJson.toString('utf8')) as ArchiveEntry[];
  } catch (err) {
    throw new BerthError('InvalidArgument', `${file}: manifest.json is not JSON`, { cause: err });
  }
  if (!Array.isArray(list) || list.some((e) => typeof e?.Config !== 'string' || !Array.isArray(e.Layers))) {
    throw new BerthError('InvalidArgument', `${file}: manifest.json must be a list of {Config, RepoTags, Layers}`);
  }
  const entry = selectEntry(list, ref.tag, file);
  const cfg = resolveMember(members, entry.Config, file);
  if (!cfg.m.body || !cfg.m.digest)
    throw new BerthError('InvalidArgument', `${file}: config ${entry.Config} is missing or over ${MAX_JSON_BODY} bytes`);
  const configBody = cfg.m.body;
  const configDesc: Descriptor = { mediaType: MediaType.ociConfig, digest: cfg.m.digest, size: cfg.m.size };
  const layerMembers = entry.Layers.map((l) => resolveMember(members, l, file));
  const diffIds = diffIdsOf(configBody);
  const plain = (i: number) => detectCompression(layerMembers[i]!.m.magic) === 'none' && diffIds[i] !== undefined;
  const hashed = await hashMembers(file, new Set(layerMembers.filter((_, i) => !plain(i)).map((l) => l.name)), ctx.signal);
  const layers: Descriptor[] = layerMembers.map(({ name, m }, i) => ({
    mediaType: layerMediaType(m.magic),
    digest: plain(i) ? diffIds[i]! : hashed.get(name)!,
    size: m.size,
  }));
  const config = parseConfig(configBody, layers, `${ref.raw} config`);

  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers }));
  const manifestDigest = digestOf(manifest);
  await ctx.store.ingest({ digest: manifestDigest, size: manifest.length }, Readable.from([manifest]));
  await ctx.checkTopLevel?.(manifestDigest);

  // The last pass: the layers that are not stored yet, verified against their digests by the store.
  const wanted = new Map<string, Descriptor>();
  for (const [i, { name }] of layerMembers.entries()) {
    const l = layers[i]!;
    if ((await ctx.store.info(l.digest))?.size !== l.size) wanted.set(name, l);
  }
  if (wanted.size) {
    for await (const { header, body: stream } of entries(file, ctx.signal)) {
      const name = clean(header.name);
      const l = wanted.get(name);
      if (!l || header.type !== 'file') continue;
      try {
        await ctx.store.ingest({ digest: l.digest, size: l.size }, Readable.from(stream));
      } catch (err) {
        if (err instanceof BerthError && err.code === 'FailedPrecondition')
          throw new BerthError('FailedPrecondition', `${file}: layer ${name}: ${err.message}`, { cause: err });
        throw err;
      }
      wanted.delete(name);
      if (wanted.size === 0) break;
    }
  }
  await ctx.store.ingest({ digest: configDesc.digest, size: configDesc.size }, Readable.from([configBody]));
  log.debug({ digest: manifestDigest, layers: layers.length }, 'docker archive imported');
  return { reference: ref.raw, manifestDigest, configDigest: configDesc.digest, config, layers };
}

/** The config's `rootfs.diff_ids` where they are digests (parseConfig says what is wrong with them otherwise). */
function diffIdsOf(body: Buffer): Array<string | undefined> {
  try {
    const ids = (JSON.parse(body.toString('utf8')) as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids;
    return Array.isArray(ids) ? ids.map((d) => (typeof d === 'string' && isValidDigest(d) ? d : undefined)) : [];
  } catch {
    return []; // not JSON: parseConfig refuses it with its reason
  }
}
