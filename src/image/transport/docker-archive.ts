/** `docker-archive:` (`docker save` / skopeo output): the manifest berth builds from its index is what the policy sees, before any layer is copied. */
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
    // the manifest berth writes for the archive is known from its index; the policy sees it before any layer is copied
    const image = await pullFromDockerArchive(r.path, r, {
      store: this.store,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      checkTopLevel: (digest) => ctx.checkSource(r, digest),
    });
    await this.refs.record(image, undefined);
    return { image, sourceDigest: image.manifestDigest };
  }
}
