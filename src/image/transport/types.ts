/**
 * A transport brings an image of one reference kind (containers-transports(5): `docker://`,
 * `oci:`, `oci-archive:`, `docker-archive:`; appc: `aci:`, `aci+https:`, `appc:`) into the
 * content store, every blob verified by size and digest. The image service chooses one per
 * reference (select.ts), decides with the pull policy whether to use what the store has
 * (pull-policy.ts), and runs the verify step (verify.ts) before any layer is read.
 * The contract suite is test/contract/transport.ts.
 */
import { BerthError } from '../../common/index.js';
import type { ImageReference, PulledImage, PullProgress } from '../types.js';

export type TransportKind = ImageReference['transport'];

export interface TransportContext {
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
  /**
   * The verify step's signature policy on the top-level manifest (what signatures sign), for
   * the reference it was found under; a transport calls it as soon as that digest is known and
   * stored, before any config or layer is copied. PermissionDenied when refused.
   */
  checkSource(ref: ImageReference, sourceDigest: string): Promise<void>;
}

export interface Fetched {
  image: PulledImage;
  /** digest of the top-level manifest or index the reference resolved to (what signatures sign) */
  sourceDigest: string;
}

export interface Transport {
  readonly kind: TransportKind;
  /** The image the store already holds for this reference, without reading the source; undefined when none. */
  local(ref: ImageReference): Promise<PulledImage | undefined>;
  /** Read the source: resolve the reference, copy every blob into the store verified, and remember what the reference resolved to (for `local`). */
  fetch(ref: ImageReference, ctx: TransportContext): Promise<Fetched>;
}

/** The reference a transport was given, narrowed to its kind (Internal when selection went wrong). */
export function refOf<K extends TransportKind>(ref: ImageReference, kind: K): Extract<ImageReference, { transport: K }> {
  if (ref.transport !== kind) throw new BerthError('Internal', `transport ${kind} given a ${ref.transport} reference (${ref.raw})`);
  return ref as Extract<ImageReference, { transport: K }>;
}
