/** `oci:` (a layout directory) and `oci-archive:` (a tar of one), IMG-17. */
import { ArchiveLayoutReader, DirLayoutReader } from '../layout.js';
import type { Platform } from '../platform.js';
import { pullFromLayout } from '../pull.js';
import type { ContentStore, ImageReference } from '../types.js';
import type { RefIndex } from './ref-index.js';
import { refOf, type Fetched, type Transport, type TransportContext } from './types.js';

export class OciLayoutTransport implements Transport {
  constructor(
    readonly kind: 'oci' | 'oci-archive',
    private readonly store: ContentStore,
    private readonly platform: Platform,
    private readonly refs: RefIndex,
  ) {}

  local(ref: ImageReference) {
    return this.refs.load(refOf(ref, this.kind).raw);
  }

  async fetch(ref: ImageReference, ctx: TransportContext): Promise<Fetched> {
    const r = refOf(ref, this.kind);
    const reader = this.kind === 'oci' ? new DirLayoutReader(r.path) : new ArchiveLayoutReader(r.path);
    try {
      const { sourceDigest, ...image } = await pullFromLayout(reader, r, {
        store: this.store,
        platform: this.platform,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
        checkTopLevel: (digest) => ctx.checkSource(r, digest),
      });
      await this.refs.record(image, sourceDigest);
      return { image, sourceDigest };
    } finally {
      await reader.close();
    }
  }
}
