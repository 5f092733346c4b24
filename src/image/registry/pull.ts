/**
 * Pull from a registry (DST-03..07, IMG-01..08): resolve the reference on the first endpoint
 * that has it (mirrors in order, the primary last), verify the manifest against the digest
 * of a digest reference and against `Docker-Content-Digest`, follow indexes / manifest
 * lists by platform, then copy config and layers into the content store, verified by size
 * and digest while streaming. Layers of one image download in parallel; a blob wanted by
 * several pulls at once is downloaded once (`BlobFetcher`, per digest, in-process); blobs
 * already stored are not fetched again, so an interrupted pull resumes where it stopped.
 *
 * The top-level manifest is stored and handed to `checkTopLevel` (the signature policy)
 * before anything else is downloaded.
 */
import { Readable } from 'node:stream';
import { BerthError, codeOf, errnoOf, silentLogger } from '../../common/index.js';
import type { Logger } from '../../common/index.js';
import type { ContentStore } from '../types.js';
import { digestOf, parseDigest } from '../digest.js';
import { INDEX_TYPES, MANIFEST_TYPES, MAX_JSON_BODY, SCHEMA1_TYPES } from '../media-types.js';
import { formatPlatform, isAttestation, normalizePlatform, selectManifest } from '../platform.js';
import type { Platform } from '../platform.js';
import { checkDescriptor, documentMediaType, parseConfig, parseJson, parseManifest } from '../pull.js';
import type { Descriptor, PulledImage, PullProgress } from '../types.js';
import type { RegistryClient } from './client.js';

const MAX_INDEX_DEPTH = 4;

/** Why a response body stopped, in words: Node says "aborted" (ECONNRESET) or "Premature close". */
function whyEnded(cause: unknown): string {
  const errno = errnoOf(cause);
  const message = (cause as { message?: string } | null)?.message;
  if (errno === 'ECONNRESET' || message === 'aborted') return 'the connection was closed';
  if (errno === 'ERR_STREAM_PREMATURE_CLOSE' || errno === 'ERR_STREAM_DESTROYED') return 'the response was cut off';
  return message ?? String(cause);
}

/** One download per digest at a time, shared by every pull of the process. */
export class BlobFetcher {
  private readonly inflight = new Map<string, Promise<void>>();
  /** blobs actually downloaded (for logs and tests) */
  downloads = 0;
  bytes = 0;

  constructor(private readonly store: ContentStore) {}

  async fetch(
    clients: RegistryClient[],
    desc: Descriptor,
    kind: PullProgress['kind'],
    opts: { signal?: AbortSignal; onProgress?: (p: PullProgress) => void },
  ): Promise<void> {
    const have = (await this.store.info(desc.digest))?.size;
    if (have === desc.size) {
      opts.onProgress?.({ kind, digest: desc.digest, size: desc.size, bytes: desc.size, state: 'cached' });
      return;
    }
    const running = this.inflight.get(desc.digest);
    if (running) {
      // a shared download canceled by its first requester is not a failure for the others
      const shared = running.catch((err: unknown): Promise<void> => {
        if (codeOf(err) === 'Canceled' && !opts.signal?.aborted) return this.fetch(clients, desc, kind, opts);
        throw err;
      });
      const signal = opts.signal;
      if (!signal) return shared;
      // …and a waiter that is canceled stops waiting
      return new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(new BerthError('Canceled', `blob ${desc.digest}: pull canceled`));
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        shared.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    }
    const p = this.download(clients, desc, kind, opts).finally(() => this.inflight.delete(desc.digest));
    this.inflight.set(desc.digest, p);
    return p;
  }

  private async download(
    clients: RegistryClient[],
    desc: Descriptor,
    kind: PullProgress['kind'],
    opts: { signal?: AbortSignal; onProgress?: (p: PullProgress) => void },
  ): Promise<void> {
    if (desc.data !== undefined) {
      await this.store.ingest({ digest: desc.digest, size: desc.size }, Readable.from([Buffer.from(desc.data, 'base64')]));
      return;
    }
    let lastErr: unknown;
    for (const client of clients) {
      try {
        const { stream, length } = await client.openBlob(desc.digest, opts.signal);
        if (length !== undefined && length !== desc.size) {
          stream.destroy();
          throw new BerthError(
            'FailedPrecondition',
            `${client.name}: blob ${desc.digest} is ${length} bytes, the manifest says ${desc.size}`,
          );
        }
        let bytes = 0;
        let lastReport = 0;
        opts.onProgress?.({ kind, digest: desc.digest, size: desc.size, bytes: 0, state: 'downloading' });
        // A stream that stops before the declared size (the connection cut, or a body that
        // ends early) says so, naming the blob: not Node's "aborted" / "Stream was destroyed".
        const endedEarly = (cause?: unknown) =>
          new BerthError(
            'Unavailable',
            `${client.name}: ${kind} ${desc.digest}: the registry's stream ended after ${bytes} of ${desc.size} bytes${cause === undefined ? '' : ` (${whyEnded(cause)})`}`,
            { ...(cause === undefined ? {} : { cause }), details: { digest: desc.digest, expectedSize: desc.size, receivedBytes: bytes } },
          );
        async function* counted(): AsyncGenerator<Buffer> {
          try {
            for await (const chunk of stream as AsyncIterable<Buffer>) {
              bytes += chunk.length;
              const now = Date.now();
              if (now - lastReport > 100) {
                lastReport = now;
                opts.onProgress?.({ kind, digest: desc.digest, size: desc.size, bytes, state: 'downloading' });
              }
              yield chunk;
            }
          } catch (err) {
            if (opts.signal?.aborted || bytes >= desc.size) throw err;
            throw endedEarly(err);
          }
          if (bytes < desc.size) throw endedEarly();
        }
        try {
          await this.store.ingest({ digest: desc.digest, size: desc.size }, counted());
        } catch (err) {
          stream.destroy();
          if (codeOf(err) === 'FailedPrecondition') {
            throw new BerthError('FailedPrecondition', `${client.name}: blob ${desc.digest} refused: ${(err as Error).message}`, {
              cause: err,
            });
          }
          throw err;
        }
        this.downloads++;
        this.bytes += bytes;
        opts.onProgress?.({ kind, digest: desc.digest, size: desc.size, bytes, state: 'done' });
        return;
      } catch (err) {
        if (opts.signal?.aborted) throw new BerthError('Canceled', `blob ${desc.digest}: pull canceled`, { cause: err });
        lastErr = err;
        // a corrupt blob is a verdict on the content, not on the endpoint: do not try elsewhere
        const code = codeOf(err);
        if (code === 'FailedPrecondition' || code === 'Canceled' || code === 'PermissionDenied') throw err;
      }
    }
    throw lastErr instanceof Error ? lastErr : new BerthError('Unavailable', `blob ${desc.digest}: no endpoint could serve it`);
  }
}

export interface RegistryPullContext {
  store: ContentStore;
  blobs: BlobFetcher;
  platform: Platform;
  log?: Logger;
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
  /** called with the top-level manifest (stored, verified) before anything else is fetched */
  checkTopLevel?: (digest: string, body: Buffer) => Promise<void>;
}

export interface RegistryPulled extends PulledImage {
  /** digest of the top-level manifest or index the reference resolved to (what signatures sign) */
  sourceDigest: string;
  /** the endpoint that served the manifest */
  endpoint: string;
}

/** DST-04/06: the body must match the digest asked for and the Docker-Content-Digest header. */
export function verifyManifestDigest(body: Buffer, wanted: string | undefined, headerDigest: string | undefined, what: string): string {
  if (wanted !== undefined) {
    const { algorithm } = parseDigest(wanted);
    const actual = digestOf(body, algorithm);
    if (actual !== wanted)
      throw new BerthError('FailedPrecondition', `${what}: manifest digest mismatch: got ${actual}, asked for ${wanted}`);
  }
  if (headerDigest) {
    let alg;
    try {
      alg = parseDigest(headerDigest).algorithm;
    } catch (err) {
      throw new BerthError('FailedPrecondition', `${what}: invalid Docker-Content-Digest "${headerDigest}"`, { cause: err });
    }
    const actual = digestOf(body, alg);
    if (actual !== headerDigest)
      throw new BerthError('FailedPrecondition', `${what}: Docker-Content-Digest ${headerDigest} does not match the body (${actual})`);
  }
  return wanted ?? digestOf(body);
}

/** IMG-03: a descriptor for a fetched top-level document from its Content-Type, when meaningful. */
function pseudoDescriptor(mediaType: string | undefined, digest: string, size: number): Descriptor | undefined {
  if (!mediaType || !(MANIFEST_TYPES.has(mediaType) || INDEX_TYPES.has(mediaType) || SCHEMA1_TYPES.has(mediaType))) return undefined;
  return { mediaType, digest, size };
}

async function fetchManifest(
  clients: RegistryClient[],
  reference: string,
  ctx: RegistryPullContext,
  what: string,
): Promise<{
  body: Buffer;
  mediaType: string | undefined;
  headerDigest: string | undefined;
  client: RegistryClient;
  rest: RegistryClient[];
}> {
  let lastErr: unknown;
  for (const [i, client] of clients.entries()) {
    try {
      const m = await client.getManifest(reference, ctx.signal);
      return {
        body: m.body,
        mediaType: m.mediaType,
        headerDigest: m.headerDigest,
        client,
        rest: [client, ...clients.filter((_, j) => j !== i)],
      };
    } catch (err) {
      lastErr = err;
      const code = codeOf(err);
      if (code === 'Canceled' || code === 'FailedPrecondition') throw err;
      if (client.endpoint.mirror) ctx.log?.warn({ err, image: what }, 'mirror failed, trying the next endpoint');
    }
  }
  throw lastErr;
}

/** Pull `reference` (a tag or digest) of the repository the clients serve. */
export async function pullFromRegistry(
  clients: RegistryClient[],
  ref: { raw: string; tag?: string; digest?: string },
  ctx: RegistryPullContext,
): Promise<RegistryPulled> {
  if (clients.length === 0) throw new BerthError('Internal', 'no registry endpoint');
  const log = ctx.log ?? silentLogger();
  const what = ref.raw;
  const top = await fetchManifest(clients, ref.digest ?? ref.tag ?? 'latest', ctx, what);
  const order = top.rest;
  const sourceDigest = verifyManifestDigest(top.body, ref.digest, top.headerDigest, `${what} (${top.client.name})`);
  await ctx.store.ingest({ digest: sourceDigest, size: top.body.length }, Readable.from([top.body]));
  ctx.onProgress?.({ kind: 'manifest', digest: sourceDigest, size: top.body.length, bytes: top.body.length, state: 'done' });
  if (ctx.checkTopLevel) await ctx.checkTopLevel(sourceDigest, top.body);

  let body = top.body;
  let desc: Descriptor | undefined = pseudoDescriptor(top.mediaType, sourceDigest, top.body.length);
  let digest = sourceDigest;
  for (let depth = 0; ; depth++) {
    if (depth > MAX_INDEX_DEPTH) throw new BerthError('InvalidArgument', `${what}: indexes nested more than ${MAX_INDEX_DEPTH} deep`);
    const doc = parseJson(body, `${what}: ${digest}`);
    const mt = documentMediaType(desc, doc, `${what}: ${digest}`);
    if (INDEX_TYPES.has(mt) || (!MANIFEST_TYPES.has(mt) && Array.isArray(doc.manifests))) {
      if (!Array.isArray(doc.manifests)) throw new BerthError('InvalidArgument', `${what}: index without manifests`);
      const children = doc.manifests.map((d, i) => checkDescriptor(d, `${what}: ${digest} manifests[${i}]`));
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
      if (chosen.size > MAX_JSON_BODY)
        throw new BerthError('InvalidArgument', `${what}: manifest ${chosen.digest} is over ${MAX_JSON_BODY} bytes`);
      log.debug({ digest: chosen.digest, platform: chosen.platform }, 'index resolved to manifest');
      const child = await fetchManifest(order, chosen.digest, ctx, what);
      verifyManifestDigest(child.body, chosen.digest, child.headerDigest, `${what} (${child.client.name})`);
      if (child.body.length !== chosen.size)
        throw new BerthError(
          'FailedPrecondition',
          `${what}: manifest ${chosen.digest} is ${child.body.length} bytes, the index says ${chosen.size}`,
        );
      await ctx.store.ingest({ digest: chosen.digest, size: chosen.size }, Readable.from([child.body]));
      body = child.body;
      desc = chosen;
      digest = chosen.digest;
      continue;
    }
    const manifest = parseManifest(body, desc ?? { mediaType: mt, digest, size: body.length }, `${what}: ${digest}`);
    if (manifest.config.size > MAX_JSON_BODY) throw new BerthError('InvalidArgument', `${what}: config is over ${MAX_JSON_BODY} bytes`);
    // The config and the layers of one image in parallel (the policy has seen the manifest, and
    // each blob is verified by its digest as it streams in); the first failure fails the pull.
    const results = await Promise.allSettled([
      ctx.blobs.fetch(order, manifest.config, 'config', ctx),
      ...manifest.layers.map((l) => ctx.blobs.fetch(order, l, 'layer', ctx)),
    ]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const config = parseConfig(await ctx.store.readAll(manifest.config.digest, MAX_JSON_BODY), manifest.layers, `${what} config`);
    return {
      reference: ref.raw,
      manifestDigest: digest,
      configDigest: manifest.config.digest,
      config,
      layers: manifest.layers,
      sourceDigest,
      endpoint: top.client.endpoint.host,
    };
  }
}
