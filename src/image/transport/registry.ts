/** `docker://` (and bare names): a registry, through registry/source.ts (mirrors, credentials, shared downloads). */
import { formatImageReference } from '../reference.js';
import { isUnqualified, type RegistrySource } from '../registry/source.js';
import type { RefIndex } from './ref-index.js';
import { refOf, type Fetched, type Transport, type TransportContext } from './types.js';
import type { ImageReference } from '../types.js';

export class RegistryTransport implements Transport {
  readonly kind = 'docker' as const;

  constructor(
    private readonly source: RegistrySource,
    private readonly refs: RefIndex,
  ) {}

  local(ref: ImageReference) {
    return this.refs.load(refOf(ref, this.kind).raw);
  }

  async fetch(ref: ImageReference, ctx: TransportContext): Promise<Fetched> {
    const pulled = await this.source.pull(refOf(ref, this.kind), {
      signal: ctx.signal,
      onProgress: ctx.onProgress,
      // the policy sees the top-level manifest of the name it was found under before any config or layer is downloaded
      checkTopLevel: (resolved, digest) => ctx.checkSource(resolved, digest),
    });
    const { sourceDigest, endpoint: _e, resolved, ...image } = pulled;
    await this.refs.record(image, sourceDigest, isUnqualified(ref.raw) ? formatImageReference(resolved) : undefined);
    return { image, sourceDigest };
  }
}
