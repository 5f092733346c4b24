/**
 * Resolution of an image from a layout source into the content store:
 * index → (nested indexes) → manifest by platform (IMG-04/05) → config → layers.
 * Every blob is copied into the store verified by size and digest (IMG-08); manifest and
 * config bodies are capped at 4 MiB and parsed only from the verified stored bytes.
 */
import { Readable } from 'node:stream';
import { BerthError, silentLogger } from '../common/index.js';
import type { Logger } from '../common/index.js';
import type { ContentStore } from './types.js';
import { parseDigest } from './digest.js';
import type { LayoutReader } from './layout.js';
import {
  CONFIG_TYPES,
  INDEX_TYPES,
  LAYER_TYPES,
  MANIFEST_TYPES,
  MAX_JSON_BODY,
  REF_NAME_ANNOTATION,
  SCHEMA1_TYPES,
} from './media-types.js';
import { formatPlatform, isAttestation, normalizePlatform, selectManifest } from './platform.js';
import type { Platform } from './platform.js';
import type { Descriptor, PulledImage, PullProgress } from './types.js';

const MAX_INDEX_DEPTH = 4;

function invalid(message: string): BerthError {
  return new BerthError('InvalidArgument', message);
}

/** A manifest, index or config body as a JSON object (never re-serialized: digests cover the bytes). */
export function parseJson(body: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new BerthError('InvalidArgument', `${what} is not valid JSON`, { cause: err });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** IMG-06: mediaType, digest and size are required; the digest must be valid (IMG-07). */
export function checkDescriptor(d: unknown, what: string): Descriptor {
  if (d === null || typeof d !== 'object') throw invalid(`${what}: descriptor is not an object`);
  const desc = d as Partial<Descriptor>;
  if (typeof desc.mediaType !== 'string' || desc.mediaType === '') throw invalid(`${what}: descriptor without mediaType`);
  if (typeof desc.digest !== 'string') throw invalid(`${what}: descriptor without digest`);
  try {
    parseDigest(desc.digest);
  } catch (err) {
    throw new BerthError('InvalidArgument', `${what}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof desc.size !== 'number' || !Number.isSafeInteger(desc.size) || desc.size < 0)
    throw invalid(`${what}: descriptor with invalid size`);
  if (desc.data !== undefined && typeof desc.data !== 'string') throw invalid(`${what}: descriptor data must be base64 text`);
  return desc as Descriptor;
}

/** IMG-03: the media type of a manifest-like document (descriptor, `mediaType` field, or shape). */
export function documentMediaType(desc: Descriptor | undefined, doc: Record<string, unknown>, what: string): string {
  const field = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  if (desc && field && desc.mediaType !== field && !(SCHEMA1_TYPES.has(desc.mediaType) || SCHEMA1_TYPES.has(field))) {
    throw invalid(`${what}: descriptor says ${desc.mediaType} but the document says ${field}`);
  }
  const mt =
    field ?? desc?.mediaType ?? (Array.isArray(doc.manifests) ? INDEX_TYPES.values().next().value : MANIFEST_TYPES.values().next().value);
  if (SCHEMA1_TYPES.has(mt as string) || doc.schemaVersion === 1) {
    throw invalid(`${what}: Docker schema1 manifests are not supported (IMG-02)`);
  }
  return mt as string;
}

export interface ParsedManifest {
  config: Descriptor;
  layers: Descriptor[];
}

export function parseManifest(body: Buffer, desc: Descriptor | undefined, what: string): ParsedManifest {
  const doc = parseJson(body, what);
  const mt = documentMediaType(desc, doc, what);
  if (!MANIFEST_TYPES.has(mt)) throw invalid(`${what}: ${mt} is not an image manifest`);
  if (doc.schemaVersion !== 2) throw invalid(`${what}: schemaVersion must be 2`);
  const config = checkDescriptor(doc.config, `${what} config`);
  // IMG-02: an unknown config media type MUST NOT be parsed.
  if (!CONFIG_TYPES.has(config.mediaType)) throw invalid(`${what}: unsupported config media type ${config.mediaType} (IMG-02)`);
  if (!Array.isArray(doc.layers)) throw invalid(`${what}: manifest without layers`);
  const layers = doc.layers.map((l, i) => checkDescriptor(l, `${what} layer ${i}`));
  for (const l of layers) {
    if (!LAYER_TYPES.has(l.mediaType)) throw new BerthError('Unimplemented', `${what}: unsupported layer media type ${l.mediaType}`);
  }
  return { config, layers };
}

export function parseConfig(body: Buffer, layers: Descriptor[], what: string): PulledImage['config'] {
  const doc = parseJson(body, what);
  const rootfs = doc.rootfs as { type?: unknown; diff_ids?: unknown } | undefined;
  // IMG-02: rootfs.type other than "layers" MUST error.
  if (!rootfs || rootfs.type !== 'layers') throw invalid(`${what}: rootfs.type must be "layers"`);
  if (!Array.isArray(rootfs.diff_ids) || !rootfs.diff_ids.every((d) => typeof d === 'string'))
    throw invalid(`${what}: rootfs.diff_ids missing`);
  const diffIds = rootfs.diff_ids as string[];
  for (const d of diffIds) {
    try {
      parseDigest(d);
    } catch (err) {
      throw new BerthError('InvalidArgument', `${what}: diff_id ${(err as Error).message}`, { cause: err });
    }
  }
  if (diffIds.length !== layers.length) throw invalid(`${what}: ${diffIds.length} diff_ids for ${layers.length} layers`);
  return doc as PulledImage['config'];
}

export interface PullContext {
  store: ContentStore;
  platform: Platform;
  log?: Logger;
  signal?: AbortSignal;
  /** each layer copied (or found in the store) */
  onProgress?: (p: PullProgress) => void;
  /** the signature policy, on the top-level manifest or index (stored, verified) before any other blob is copied */
  checkTopLevel?: (digest: string) => Promise<void>;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BerthError('Canceled', 'pull canceled', { cause: signal.reason });
}

/** Copy one blob from the source into the store, verified (IMG-08). Inline `data` is used and verified too (IMG-06). */
async function copyBlob(reader: LayoutReader, desc: Descriptor, ctx: PullContext): Promise<void> {
  checkAborted(ctx.signal);
  if (desc.data !== undefined) {
    await ctx.store.ingest({ digest: desc.digest, size: desc.size }, Readable.from([Buffer.from(desc.data, 'base64')]));
    return;
  }
  const have = (await ctx.store.info(desc.digest))?.size;
  if (have === desc.size) return;
  if (!(await reader.hasBlob(desc.digest)) && desc.urls?.length) {
    throw new BerthError(
      'NotFound',
      `blob ${desc.digest} is a foreign layer (${desc.urls.join(', ')}) not present in the layout; fetching foreign layers is not supported`,
    );
  }
  await ctx.store.ingest({ digest: desc.digest, size: desc.size }, await reader.openBlob(desc.digest));
}

async function copySmall(reader: LayoutReader, desc: Descriptor, ctx: PullContext, what: string): Promise<Buffer> {
  if (desc.size > MAX_JSON_BODY)
    throw invalid(`${what} ${desc.digest} is ${desc.size} bytes, over the ${MAX_JSON_BODY}-byte limit (IMG-08)`);
  await copyBlob(reader, desc, ctx);
  return ctx.store.readAll(desc.digest, MAX_JSON_BODY);
}

/** IMG-17: choose the top-level descriptor of `index.json` by tag (ref.name annotation). */
export function selectByTag(manifests: Descriptor[], tag: string | undefined, where: string): Descriptor {
  const tags = manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).filter((t): t is string => t !== undefined);
  if (tag !== undefined) {
    const hit = manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === tag);
    if (!hit) throw new BerthError('NotFound', `${where}: no image tagged "${tag}" (tags: ${tags.length ? tags.join(', ') : 'none'})`);
    return hit;
  }
  if (manifests.length === 1) return manifests[0] as Descriptor;
  if (manifests.length === 0) throw new BerthError('NotFound', `${where}: the layout holds no image`);
  throw invalid(
    `${where}: the layout holds ${manifests.length} images; name one with a tag (tags: ${tags.length ? tags.join(', ') : 'none'})`,
  );
}

/** Pull an image from an OCI layout source (`oci:` or `oci-archive:`) into the store. */
export async function pullFromLayout(
  reader: LayoutReader,
  ref: { raw: string; tag?: string },
  ctx: PullContext,
): Promise<PulledImage & { sourceDigest: string }> {
  const log = ctx.log ?? silentLogger();
  await reader.checkLayoutVersion();
  const index = parseJson(await reader.readIndex(), `${ref.raw}: index.json`);
  if (index.mediaType !== undefined && !INDEX_TYPES.has(index.mediaType as string)) {
    throw invalid(`${ref.raw}: index.json has media type ${String(index.mediaType)}, not an image index`);
  }
  if (!Array.isArray(index.manifests)) throw invalid(`${ref.raw}: index.json without manifests`);
  const top = index.manifests.map((d, i) => checkDescriptor(d, `${ref.raw}: index.json manifests[${i}]`));
  let desc = selectByTag(top, ref.tag, ref.raw);
  const sourceDigest = desc.digest;

  for (let depth = 0; ; depth++) {
    if (depth > MAX_INDEX_DEPTH) throw invalid(`${ref.raw}: indexes nested more than ${MAX_INDEX_DEPTH} deep`);
    if (SCHEMA1_TYPES.has(desc.mediaType)) throw invalid(`${ref.raw}: Docker schema1 manifests are not supported (IMG-02)`);
    if (!INDEX_TYPES.has(desc.mediaType) && !MANIFEST_TYPES.has(desc.mediaType)) {
      throw new BerthError('Unimplemented', `${ref.raw}: unsupported manifest media type ${desc.mediaType}`);
    }
    const body = await copySmall(reader, desc, ctx, 'manifest');
    if (depth === 0) await ctx.checkTopLevel?.(desc.digest);
    const what = `${ref.raw}: ${desc.digest}`;
    if (INDEX_TYPES.has(desc.mediaType)) {
      const doc = parseJson(body, what);
      documentMediaType(desc, doc, what);
      if (!Array.isArray(doc.manifests)) throw invalid(`${what}: index without manifests`);
      const children = doc.manifests.map((d, i) => checkDescriptor(d, `${what} manifests[${i}]`));
      const chosen = selectManifest(children, ctx.platform);
      if (!chosen) {
        const have = children
          .filter((c) => c.platform && !isAttestation(c))
          .map((c) => formatPlatform(normalizePlatform(c.platform ?? {})));
        throw new BerthError(
          'NotFound',
          `${what}: no manifest for platform ${formatPlatform(ctx.platform)} (available: ${have.join(', ') || 'none'})`,
        );
      }
      log.debug({ digest: chosen.digest }, 'index resolved to manifest');
      desc = chosen;
      continue;
    }
    const manifest = parseManifest(body, desc, what);
    const configBody = await copySmall(reader, manifest.config, ctx, 'config');
    const config = parseConfig(configBody, manifest.layers, `${what} config`);
    for (const layer of manifest.layers) {
      const cached = (await ctx.store.info(layer.digest))?.size === layer.size;
      ctx.onProgress?.({ kind: 'layer', digest: layer.digest, size: layer.size, bytes: 0, state: cached ? 'cached' : 'downloading' });
      await copyBlob(reader, layer, ctx);
      ctx.onProgress?.({ kind: 'layer', digest: layer.digest, size: layer.size, bytes: layer.size, state: cached ? 'cached' : 'done' });
    }
    return {
      reference: ref.raw,
      manifestDigest: desc.digest,
      configDigest: manifest.config.digest,
      config,
      layers: manifest.layers,
      sourceDigest,
    };
  }
}

/** Rebuild a PulledImage from blobs already in the store (manifest digest known). */
export async function loadFromStore(store: ContentStore, reference: string, manifestDigest: string): Promise<PulledImage> {
  const body = await store.readAll(manifestDigest, MAX_JSON_BODY);
  const manifest = parseManifest(body, undefined, `${reference}: ${manifestDigest}`);
  const config = parseConfig(await store.readAll(manifest.config.digest, MAX_JSON_BODY), manifest.layers, `${reference} config`);
  for (const l of manifest.layers) {
    if ((await store.info(l.digest))?.size !== l.size)
      throw new BerthError('NotFound', `${reference}: layer ${l.digest} is not in the content store`);
  }
  return { reference, manifestDigest, configDigest: manifest.config.digest, config, layers: manifest.layers };
}
