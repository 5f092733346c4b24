/** appc images: `aci:` (a file), `aci+https:` (a URL), `appc:` (a name found by meta discovery), with their dependencies. */
import type { AppcImages } from '../appc/service.js';
import type { AppcReference, ImageReference } from '../types.js';
import type { RefIndex } from './ref-index.js';
import { refOf, type Fetched, type Transport, type TransportContext } from './types.js';

export class AppcTransport implements Transport {
  constructor(
    readonly kind: AppcReference['transport'],
    private readonly appc: AppcImages,
    private readonly refs: RefIndex,
  ) {}

  local(ref: ImageReference) {
    return this.appc.local(refOf(ref, this.kind));
  }

  /** appc trust (trustedkeys/, transports.appc in policy.json) is checked on import, before the ACI is unpacked. */
  async fetch(ref: ImageReference, ctx: TransportContext): Promise<Fetched> {
    const image = await this.appc.fetch(refOf(ref, this.kind), ctx.signal ? { signal: ctx.signal } : {});
    // listed beside the OCI images (`berth image ls`); what it resolves to is the appc index's
    await this.refs.record(image, undefined);
    return { image, sourceDigest: image.manifestDigest };
  }
}
