/**
 * `<state>/images/refs.json`: reference → the manifest digest it was last pulled as (and the
 * top-level digest signatures sign, when it differs). Updates are serialized in-process and
 * written atomically.
 */
import { join } from 'node:path';
import { codeOf, readJsonIfExists, writeJsonAtomic } from '../../common/index.js';
import { loadFromStore } from '../pull.js';
import type { ContentStore, PulledImage } from '../types.js';

/** One entry of `<state>/images/refs.json`. */
export interface ImageRecord {
  reference: string;
  manifestDigest: string;
  configDigest: string;
  pulledAt: string;
  /** the top-level manifest or index the reference resolved to, when it differs (what signatures sign) */
  sourceDigest?: string;
  /** the registry reference a short name was found under (unqualified-search-registries): what the policy judged */
  resolved?: string;
}

interface RefsFile {
  version: 1;
  images: Record<string, ImageRecord>;
}

export class RefIndex {
  private readonly path: string;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    stateDir: string,
    private readonly store: ContentStore,
  ) {
    this.path = join(stateDir, 'images', 'refs.json');
  }

  private withRefs<T>(fn: (refs: RefsFile) => Promise<T>): Promise<T> {
    const run = this.lock.then(async () => fn((await readJsonIfExists<RefsFile>(this.path)) ?? { version: 1, images: {} }));
    this.lock = run.catch(() => undefined); // the next update starts from the file, whatever this one did
    return run;
  }

  record(image: PulledImage, sourceDigest: string | undefined, resolved?: string): Promise<void> {
    return this.withRefs(async (refs) => {
      refs.images[image.reference] = {
        reference: image.reference,
        manifestDigest: image.manifestDigest,
        configDigest: image.configDigest,
        pulledAt: new Date().toISOString(),
        ...(sourceDigest !== undefined && sourceDigest !== image.manifestDigest ? { sourceDigest } : {}),
        ...(resolved !== undefined && resolved !== image.reference ? { resolved } : {}),
      };
      await writeJsonAtomic(this.path, refs);
    });
  }

  async list(): Promise<ImageRecord[]> {
    const refs = await this.withRefs(async (r) => r);
    return Object.values(refs.images).sort((a, b) => a.reference.localeCompare(b.reference));
  }

  async find(reference: string): Promise<ImageRecord | undefined> {
    const { images } = await this.withRefs(async (r) => r);
    return Object.hasOwn(images, reference) ? images[reference] : undefined;
  }

  remove(reference: string): Promise<void> {
    return this.withRefs(async (refs) => {
      if (!(reference in refs.images)) return;
      delete refs.images[reference];
      await writeJsonAtomic(this.path, refs);
    });
  }

  /** The image recorded for `reference`, rebuilt from the store; undefined if never pulled or its blobs are gone. */
  async load(reference: string): Promise<PulledImage | undefined> {
    const rec = await this.find(reference);
    if (!rec) return undefined;
    try {
      return await loadFromStore(this.store, reference, rec.manifestDigest);
    } catch (err) {
      const code = codeOf(err);
      if (code === 'NotFound' || code === 'FailedPrecondition') return undefined;
      throw err;
    }
  }
}
