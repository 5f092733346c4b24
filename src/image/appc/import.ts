/**
 * Importing one ACI file: store it (its sha512 is the image ID), check layout and manifest,
 * the identity expected of it (when found by name) and its trust; only then is it indexed.
 * Anything refused leaves no new blob.
 */
import { BerthError, codeOf } from '../../common/index.js';
import type { Logger } from '../../common/index.js';
import type { ContentStore } from '../types.js';
import { ingestAci, validateAci } from './archive.js';
import type { FetchedAci } from './fetch.js';
import type { AppcIndex, AppcRecord } from './index-store.js';
import { labelMap, labelsMatch } from './manifest.js';
import { allTrustedKeys, checkAciTrust, verifyDetached } from './trust.js';

export interface ImportContext {
  configDir: string;
  store: ContentStore;
  index: AppcIndex;
  log: Logger;
  signal?: AbortSignal;
}

/** What discovery promised: the image must carry this name and these labels. */
export interface Expected {
  name?: string;
  labels?: Record<string, string>;
}

export async function importAci(aci: FetchedAci, ctx: ImportContext, expect: Expected = {}): Promise<AppcRecord> {
  const { file, signature, source } = aci;
  const trustOf = (name: string) =>
    checkAciTrust({
      configDir: ctx.configDir,
      name,
      aciPath: file,
      signature,
      source,
      warn: (msg) => ctx.log.warn({ image: source }, msg),
    });
  // When the name is known (discovery), the signature is checked before anything is unpacked.
  const early = expect.name !== undefined ? await trustOf(expect.name) : undefined;
  let ing;
  try {
    ing = await ingestAci(ctx.store, file, ctx.signal);
  } catch (err) {
    // A file that does not even decompress: if it carries a signature that no longer
    // matches, that is the clearer reason (it was changed after signing).
    if (signature !== undefined && early === undefined && codeOf(err) === 'InvalidArgument') {
      const keys = await allTrustedKeys(ctx.configDir);
      const sigErr = await verifyDetached(file, signature, keys, source).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (sigErr instanceof BerthError && sigErr.details?.reason === 'badSignature') {
        throw new BerthError(
          'PermissionDenied',
          `${sigErr.message} (the file was changed after it was signed; it does not decompress either: ${(err as Error).message})`,
          { cause: err },
        );
      }
    }
    throw err;
  }
  try {
    const { manifest } = await validateAci(await ctx.store.reader(ing.digest), source);
    const labels = labelMap(manifest.labels);
    if (expect.name !== undefined && manifest.name !== expect.name) {
      throw new BerthError('FailedPrecondition', `${source}: the image is named ${manifest.name}, not ${expect.name} as discovered`);
    }
    if (expect.labels && !labelsMatch(expect.labels, labels)) {
      throw new BerthError(
        'FailedPrecondition',
        `${source}: labels ${JSON.stringify(labels)} do not match the requested ${JSON.stringify(expect.labels)}`,
      );
    }
    const trust = early ?? (await trustOf(manifest.name));
    if (trust.mode === 'insecure') ctx.log.warn({ image: source, reason: trust.reason }, 'appc image accepted without a valid signature');
    const rec: AppcRecord = {
      imageId: ing.imageId,
      name: manifest.name,
      labels,
      manifest,
      size: ing.size,
      importedAt: new Date().toISOString(),
      source,
      trust,
    };
    await ctx.index.add(rec);
    ctx.log.info(
      {
        image: source,
        digest: ing.digest,
        name: manifest.name,
        compression: ing.compression,
        trust: trust.mode,
        signer: trust.fingerprint,
      },
      'appc image imported',
    );
    return rec;
  } catch (err) {
    if (!ing.existed) await ctx.store.delete(ing.digest);
    throw err;
  }
}
