/**
 * imagePullPolicy, decided in one place for every transport: Always reads the source again;
 * IfNotPresent uses what the store holds, else reads the source; Never uses the store or fails
 * with ErrImageNeverPull (a permanent error: nothing will change without the operator).
 */
import { BerthError } from '../../common/index.js';
import type { ImagePullPolicy, ImageReference, PulledImage } from '../types.js';

/**
 * The Kubernetes default imagePullPolicy: Always for `:latest` or no tag, IfNotPresent
 * otherwise (digests included). Files and URLs (oci, oci-archive, docker-archive, aci,
 * aci+https) default to Always: the file is the source of truth, reading it is cheap, and
 * blobs already in the store are not copied again. An appc name found by discovery defaults
 * to IfNotPresent: the newest imported image with that name and labels is used.
 */
export function defaultPullPolicy(ref: ImageReference): ImagePullPolicy {
  if (ref.transport === 'appc') return 'IfNotPresent';
  if (ref.transport !== 'docker') return 'Always';
  if (ref.digest !== undefined) return 'IfNotPresent';
  return ref.tag === undefined || ref.tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** Apply the policy: `local` looks in the store only, `fetch` reads the source. */
export async function withPullPolicy(
  ref: ImageReference,
  policy: ImagePullPolicy | undefined,
  local: () => Promise<PulledImage | undefined>,
  fetch: () => Promise<PulledImage>,
): Promise<{ image: PulledImage; fetched: boolean }> {
  const p = policy ?? defaultPullPolicy(ref);
  if (p !== 'Always') {
    const have = await local();
    if (have) return { image: have, fetched: false };
    if (p === 'Never')
      throw new BerthError('FailedPrecondition', `ErrImageNeverPull: image ${ref.raw} is not in the store and imagePullPolicy is Never`);
  }
  return { image: await fetch(), fetched: true };
}
