/**
 * The verify step, between pull and render (the pod machine's `verifying` state, DESIGN §5):
 * nothing of an image is rendered before it has passed here.
 *   digest: the manifest and config are read back from the store and re-hashed (IMG-08);
 *     every layer (or ACI) is present with the size its descriptor gives, as committed after
 *     a digest check while it streamed in;
 *   signature policy: policy.json (containers-policy.json(5)) for the reference and its
 *     top-level digest; for appc images, the trust each ACI was imported under must still hold.
 * A refusal is PermissionDenied (policy) or FailedPrecondition/NotFound (content): permanent
 * for the pod that asked.
 */
import { BerthError } from '../../common/index.js';
import { imageIdToDigest } from '../appc/archive.js';
import { DEFAULT_POLICY } from '../config/policy.js';
import { MAX_JSON_BODY } from '../media-types.js';
import { checkPolicy, loadPolicyContext } from '../signature/policy-check.js';
import type { PolicyVerdict } from '../signature/policy-check.js';
import type { AppcImageInfo, ContentStore, ImageReference, PulledImage, VerifiedImage, Verification } from '../types.js';

export interface VerifyDeps {
  store: ContentStore;
  /** where policy.json and registries.d live; undefined: the built-in default (accept anything) */
  configDir: string | undefined;
  /** the appc part (appc/service.ts `checkTrust`) */
  appcTrust: (info: AppcImageInfo) => Promise<NonNullable<Verification['appc']>>;
}

/** The signature policy for a reference and the top-level digest it resolved to; PermissionDenied when refused. */
export async function checkSignaturePolicy(
  deps: Pick<VerifyDeps, 'configDir'>,
  ref: ImageReference,
  sourceDigest: string,
  signal?: AbortSignal,
): Promise<PolicyVerdict> {
  const ctx = deps.configDir ? await loadPolicyContext(deps.configDir) : { policy: DEFAULT_POLICY, registriesD: { docker: {} } };
  return checkPolicy(ctx, { ref, manifestDigest: sourceDigest, ...(signal ? { signal } : {}) });
}

async function checkContent(store: ContentStore, image: PulledImage): Promise<void> {
  const what = image.reference;
  if (image.appc) {
    for (const i of image.appc.images) {
      if (!(await store.has(imageIdToDigest(i.imageId))))
        throw new BerthError('NotFound', `${what}: ACI ${i.imageId} (${i.name}) is not in the content store; pull again`);
    }
    return;
  }
  // readAll re-hashes: a manifest or config changed on disk is refused (FailedPrecondition)
  await store.readAll(image.manifestDigest, MAX_JSON_BODY);
  await store.readAll(image.configDigest, MAX_JSON_BODY);
  for (const l of image.layers) {
    const info = await store.info(l.digest);
    if (!info) throw new BerthError('NotFound', `${what}: layer ${l.digest} is not in the content store; pull again`);
    if (info.size !== l.size)
      throw new BerthError(
        'FailedPrecondition',
        `${what}: layer ${l.digest} is ${info.size} bytes in the store, the manifest says ${l.size}`,
      );
  }
}

/** Verify a pulled image (see the module comment); `sourceDigest`: what signatures sign, when it is not the manifest. */
export async function verifyImage(
  deps: VerifyDeps,
  ref: ImageReference,
  image: PulledImage,
  sourceDigest: string | undefined,
  signal?: AbortSignal,
): Promise<VerifiedImage> {
  await checkContent(deps.store, image);
  if (image.appc) {
    return { ...image, verified: { sourceDigest: image.manifestDigest, appc: await deps.appcTrust(image.appc) } };
  }
  const digest = sourceDigest ?? image.manifestDigest;
  const policy = await checkSignaturePolicy(deps, ref, digest, signal);
  return { ...image, verified: { sourceDigest: digest, policy } };
}
