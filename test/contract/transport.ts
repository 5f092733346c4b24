/**
 * The Transport contract (src/image/transport/types.ts): what every reference kind's
 * transport does, whatever its source. Runs against the in-memory fake
 * (test/unit/contract/transport.test.ts) and each real transport on real sources: a
 * docker-registry on 127.0.0.1, OCI layouts and archives, docker-archive, ACI files
 * (test/integration/contract/transport.test.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError, codeOf } from '../../src/common/errors.js';
import { isValidDigest } from '../../src/image/digest.js';
import type { Transport, TransportContext } from '../../src/image/transport/types.js';
import type { ContentStore, ImageReference, PulledImage } from '../../src/image/types.js';

export interface TransportHarness {
  transport: Transport;
  /** the store the transport writes into */
  store: ContentStore;
  /** an image the source has */
  present: ImageReference;
  /** a reference of the same kind whose source does not exist */
  absent: ImageReference;
  /**
   * when the signature policy sees the image: `before-layers` (the top-level manifest, before
   * any config or layer is copied; for docker-archive the manifest berth writes from the
   * archive's index), `on-import` (appc: trust is checked on the ACI itself, not through checkSource)
   */
  sourceCheck: 'before-layers' | 'on-import';
  cleanup(): Promise<void>;
}

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: unknown) => codeOf(e),
  );

/** The blobs an image consists of: ACIs for appc images, else config and layers (and the manifest). */
function blobsOf(image: PulledImage): Array<{ digest: string; size?: number }> {
  if (image.appc) return image.appc.images.map((i) => ({ digest: `sha512:${i.imageId.slice('sha512-'.length)}` }));
  return [
    { digest: image.manifestDigest },
    { digest: image.configDigest },
    ...image.layers.map((l) => ({ digest: l.digest, size: l.size })),
  ];
}

export function transportContract(name: string, open: () => Promise<TransportHarness>): void {
  describe(`Transport contract: ${name}`, () => {
    let h: TransportHarness;
    let checked: Array<{ ref: ImageReference; digest: string }>;
    let ctx: TransportContext;
    beforeEach(async () => {
      h = await open();
      checked = [];
      ctx = {
        checkSource: async (ref, digest) => {
          checked.push({ ref, digest });
        },
      };
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('serves its own kind, and a fresh store holds nothing of the reference', async () => {
      expect(h.transport.kind).toBe(h.present.transport);
      expect(h.absent.transport).toBe(h.present.transport);
      expect(await h.transport.local(h.present)).toBeUndefined();
    });

    it('fetch: every blob of the image is in the store, with the sizes its descriptors give', async () => {
      const { image, sourceDigest } = await h.transport.fetch(h.present, ctx);
      expect(image.reference).toBe(h.present.raw);
      expect(isValidDigest(image.manifestDigest)).toBe(true);
      expect(isValidDigest(sourceDigest)).toBe(true);
      for (const b of blobsOf(image)) {
        const info = await h.store.info(b.digest);
        expect(info, b.digest).toBeDefined();
        if (b.size !== undefined) expect(info?.size).toBe(b.size);
      }
      if (!image.appc) expect(image.config.rootfs?.diff_ids.length).toBe(image.layers.length);
    });

    it('the signature policy is asked about the top-level digest it returns', async () => {
      const { sourceDigest } = await h.transport.fetch(h.present, ctx);
      if (h.sourceCheck === 'on-import') return expect(checked).toEqual([]);
      expect(checked.map((c) => c.digest)).toContain(sourceDigest);
    });

    it('a refusal by the policy fails the fetch with its error and leaves nothing `local` returns', async () => {
      if (h.sourceCheck === 'on-import') return;
      const refusing: TransportContext = {
        checkSource: async () => {
          throw new BerthError('PermissionDenied', 'refused by the test policy');
        },
      };
      expect(await rejection(h.transport.fetch(h.present, refusing))).toBe('PermissionDenied');
      expect(await h.transport.local(h.present)).toBeUndefined();
    });

    it('before-layers: when the policy is asked, the store holds the top-level document alone', async () => {
      if (h.sourceCheck !== 'before-layers') return;
      const seen: Array<{ digest: string; stored: string[] }> = [];
      await h.transport.fetch(h.present, {
        checkSource: async (_ref, digest) => {
          const stored: string[] = [];
          await h.store.walk((i) => void stored.push(i.digest));
          seen.push({ digest, stored });
        },
      });
      expect(seen).toHaveLength(1);
      expect(seen[0]?.stored).toEqual([seen[0]?.digest]);
    });

    it('local returns what fetch resolved, without reading the source again', async () => {
      const { image } = await h.transport.fetch(h.present, ctx);
      const local = await h.transport.local(h.present);
      expect(local?.manifestDigest).toBe(image.manifestDigest);
      expect(local?.layers).toEqual(image.layers);
      expect(local?.appc?.images).toEqual(image.appc?.images);
    });

    it('fetching again, and twice at once, resolves to the same image', async () => {
      const first = await h.transport.fetch(h.present, ctx);
      const [a, b] = await Promise.all([h.transport.fetch(h.present, ctx), h.transport.fetch(h.present, ctx)]);
      expect(a.image.manifestDigest).toBe(first.image.manifestDigest);
      expect(b.image.manifestDigest).toBe(first.image.manifestDigest);
    });

    it('a source that does not exist is NotFound, and nothing is recorded', async () => {
      expect(await rejection(h.transport.fetch(h.absent, ctx))).toBe('NotFound');
      expect(await h.transport.local(h.absent)).toBeUndefined();
    });

    it("a reference of another kind is refused (selection is select.ts's job, not guessed here)", async () => {
      const other: ImageReference =
        h.present.transport === 'oci'
          ? { transport: 'oci-archive', path: '/nonexistent.tar', raw: 'oci-archive:/nonexistent.tar' }
          : { transport: 'oci', path: '/nonexistent', raw: 'oci:/nonexistent' };
      await expect(h.transport.fetch(other, ctx)).rejects.toThrow(/given a/);
    });
  });
}
