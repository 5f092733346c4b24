/**
 * An in-memory transport (test/contract/transport.ts holds it to the same contract as the
 * real ones): images are manifest, config and layers given as bytes; `fetch` stores the
 * manifest, asks the policy, then copies config and layers, as a registry pull does.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { BerthError } from '../../src/common/errors.js';
import type { Fetched, Transport, TransportContext, TransportKind } from '../../src/image/transport/types.js';
import type { ContentStore, Descriptor, ImageReference, PulledImage } from '../../src/image/types.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface FakeImage {
  layers: Buffer[];
}

export class FakeTransport implements Transport {
  /** what `local` finds: reference → image */
  private readonly resolved = new Map<string, PulledImage>();
  fetches = 0;

  constructor(
    readonly kind: TransportKind,
    private readonly store: ContentStore,
    /** the source: reference text → image */
    readonly images = new Map<string, FakeImage>(),
  ) {}

  private check(ref: ImageReference): void {
    if (ref.transport !== this.kind)
      throw new BerthError('Internal', `transport ${this.kind} given a ${ref.transport} reference (${ref.raw})`);
  }

  async local(ref: ImageReference): Promise<PulledImage | undefined> {
    this.check(ref);
    return this.resolved.get(ref.raw);
  }

  async fetch(ref: ImageReference, ctx: TransportContext): Promise<Fetched> {
    this.check(ref);
    this.fetches++;
    const src = this.images.get(ref.raw);
    if (!src) throw new BerthError('NotFound', `${ref.raw}: no such image in the fake source`);
    const layers: Descriptor[] = src.layers.map((b) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: sha(b),
      size: b.length,
    }));
    const configDoc = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } };
    const config = Buffer.from(JSON.stringify(configDoc));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
        layers,
      }),
    );
    const manifestDigest = sha(manifest);
    await this.store.ingest({ digest: manifestDigest, size: manifest.length }, Readable.from([manifest]));
    await ctx.checkSource(ref, manifestDigest);
    await this.store.ingest({ digest: sha(config), size: config.length }, Readable.from([config]));
    for (const b of src.layers) await this.store.ingest({ digest: sha(b), size: b.length }, Readable.from([b]));
    const image: PulledImage = { reference: ref.raw, manifestDigest, configDigest: sha(config), config: configDoc, layers };
    this.resolved.set(ref.raw, image);
    return { image, sourceDigest: manifestDigest };
  }
}
