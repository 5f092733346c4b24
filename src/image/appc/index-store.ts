/**
 * The local index of imported ACIs: `<state>/appc/images/<hex>.json`, one record per image ID,
 * written only after the ACI's layout, manifest and trust were checked (appc/import.ts). A
 * record whose blob is gone from the content store is not an image.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, readdirIfExists, readJsonIfExists, writeJsonAtomic } from '../../common/index.js';
import type { ContentStore } from '../types.js';
import { imageIdToDigest } from './archive.js';
import { labelsMatch, type ImageManifest } from './manifest.js';
import type { TrustVerdict } from './trust.js';

export interface AppcRecord {
  imageId: string;
  name: string;
  labels: Record<string, string>;
  manifest: ImageManifest;
  /** bytes of the uncompressed ACI */
  size: number;
  importedAt: string;
  source: string;
  trust: TrustVerdict;
}

const newestFirst = (a: AppcRecord, b: AppcRecord) => b.importedAt.localeCompare(a.importedAt);

export class AppcIndex {
  private readonly dir: string;

  constructor(
    stateDir: string,
    private readonly store: ContentStore,
  ) {
    this.dir = join(stateDir, 'appc', 'images');
  }

  async list(): Promise<AppcRecord[]> {
    const out: AppcRecord[] = [];
    for (const n of (await readdirIfExists(this.dir)).filter((x) => /^[a-f0-9]{128}\.json$/.test(x))) {
      // a record that cannot be read is not an image (it is rewritten by the next import)
      const r = await readJsonIfExists<AppcRecord>(join(this.dir, n)).catch(() => undefined);
      if (r && (await this.store.has(imageIdToDigest(r.imageId)))) out.push(r);
    }
    return out;
  }

  async byId(imageId: string): Promise<AppcRecord | undefined> {
    const hex = imageId.replace(/^sha512-/, '');
    if (/^[a-f0-9]{128}$/.test(hex)) {
      const r = await readJsonIfExists<AppcRecord>(join(this.dir, `${hex}.json`));
      return r && (await this.store.has(imageIdToDigest(r.imageId))) ? r : undefined;
    }
    const matches = (await this.list()).filter((r) => r.imageId.startsWith(`sha512-${hex}`));
    if (matches.length > 1) throw new BerthError('InvalidArgument', `ambiguous image ID ${imageId}`);
    return matches[0];
  }

  /**
   * The newest imported image with this name whose labels match the requested ones; with
   * `platform`, an image's os/arch labels (when it has them) must also be the host's.
   */
  async find(name: string, labels: Record<string, string>, platform?: { os: string; arch: string }): Promise<AppcRecord | undefined> {
    const fits = (r: AppcRecord) =>
      !platform ||
      ((r.labels.os === undefined || r.labels.os === platform.os) && (r.labels.arch === undefined || r.labels.arch === platform.arch));
    return (await this.list()).filter((r) => r.name === name && labelsMatch(labels, r.labels) && fits(r)).sort(newestFirst)[0];
  }

  /** The newest image imported from this file path or URL. */
  async bySource(source: string): Promise<AppcRecord | undefined> {
    return (await this.list()).filter((r) => r.source === source).sort(newestFirst)[0];
  }

  async add(rec: AppcRecord): Promise<void> {
    await writeJsonAtomic(join(this.dir, `${rec.imageId.slice('sha512-'.length)}.json`), rec);
  }

  async remove(imageId: string): Promise<void> {
    await rm(join(this.dir, `${imageId.replace(/^sha512-/, '')}.json`), { force: true });
  }
}
