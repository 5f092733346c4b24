/** `docker-archive:` (`docker save` / skopeo output): the manifest berth builds from it is what the policy sees. */
import { pullFromDockerArchive } from '../docker-archive.js';
import type { ContentStore, ImageReference } from '../types.js';
import type { RefIndex } from './ref-index.js';
import { refOf, type Fetched, type Transport, type TransportContext } from './types.js';

export class DockerArchiveTransport implements Transport {
  readonly kind = 'docker-archive' as const;

  constructor(
    private readonly store: ContentStore,
    private readonly refs: RefIndex,
  ) {}

  local(ref: ImageReference) {
    return this.refs.load(refOf(ref, this.kind).raw);
  }

  async fetch(ref: ImageReference, ctx: TransportContext): Promise<Fetched> {
    const r = refOf(ref, this.kind);
    // the archive carries no manifest of its own: the one berth writes exists only once the layers are copied
    const image = await pullFromDockerArchive(r.path, r, { store: this.store, ...(ctx.signal ? { signal: ctx.signal } : {}) });
    await ctx.checkSource(r, image.manifestDigest);
    await this.refs.record(image, undefined);
    return { image, sourceDigest: image.manifestDigest };
  }
}
