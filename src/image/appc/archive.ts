/**
 * ACI archives (appc `spec/aci.md`, `aci/file.go`, `aci/layout.go`): compression detected by
 * magic bytes (gzip, bzip2, xz or zstd: `../tar/decompress.ts`), the uncompressed tar stored
 * in the content store under its sha512 (the image ID is `sha512-<hex>` of exactly those
 * bytes), and the layout checked through the tar entry stream: exactly `manifest` (a file)
 * and `rootfs/`, no duplicate entries.
 */
import { posix } from 'node:path';
import { BerthError } from '../../common/index.js';
import { openDecompressed, type Compression } from '../tar/decompress.js';
import { tarEntries } from '../tar/entries.js';
import type { ContentStore } from '../types.js';
import { parseImageManifest, type ImageManifest } from './manifest.js';

/** Maximum size of the `manifest` entry. */
export const MAX_MANIFEST = 1024 * 1024;
/** Maximum uncompressed ACI size (SEC-06 in spirit): 64 GiB. */
export const MAX_ACI_BYTES = 64 * 1024 ** 3;

/** Copy an ACI file's uncompressed tar into the store; returns the image ID and blob digest. */
export async function ingestAci(
  store: ContentStore,
  path: string,
  signal?: AbortSignal,
): Promise<{ imageId: string; digest: string; size: number; existed: boolean; compression: Compression }> {
  const { compression, stream } = await openDecompressed(path, signal);
  let r;
  try {
    r = await store.ingest({ algorithm: 'sha512', maxBytes: MAX_ACI_BYTES }, stream);
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new BerthError('InvalidArgument', `${path}: cannot decompress (${compression}): ${(err as Error).message}`, { cause: err });
  }
  return { imageId: digestToImageId(r.digest), digest: r.digest, size: r.size, existed: r.existed, compression };
}

export const digestToImageId = (digest: string): string => `sha512-${digest.slice('sha512:'.length)}`;
export const imageIdToDigest = (id: string): string => `sha512:${id.slice('sha512-'.length)}`;

/** Entry name as appc compares it: filepath.Clean, relative. */
export function cleanName(name: string): string {
  const c = posix.normalize(name).replace(/\/+$/, '');
  return c.replace(/^(\.\/)+/, '').replace(/^\/+/, '') || '.';
}

/**
 * Check an uncompressed ACI tar (`aci/layout.go`): only `manifest` and `rootfs[/…]`, no
 * duplicates, a manifest that validates; entries named like OCI whiteouts are refused, since
 * ACIs have none and berth's applier would honour them. Returns the manifest.
 */
export async function validateAci(
  source: AsyncIterable<Uint8Array> | NodeJS.ReadableStream,
  where: string,
): Promise<{ manifest: ImageManifest; manifestText: string }> {
  const seen = new Set<string>();
  let manifestText: string | undefined;
  let rootfs = false;
  const bad = (why: string) => new BerthError('InvalidArgument', `${where}: invalid ACI: ${why}`);
  try {
    for await (const { header: h, body } of tarEntries(source)) {
      const name = cleanName(h.name);
      if (name === '.') continue;
      if (seen.has(name)) throw bad(`duplicate entry "${name}"`);
      seen.add(name);
      if (name === 'manifest') {
        if (h.type !== 'file' && h.type !== 'contiguous-file') throw bad('"manifest" is not a regular file');
        if ((h.size ?? 0) > MAX_MANIFEST) throw bad(`manifest larger than ${MAX_MANIFEST} bytes`);
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(c);
        manifestText = Buffer.concat(chunks).toString('utf8');
        continue;
      }
      if (name === 'rootfs') {
        if (h.type !== 'directory') throw bad('"rootfs" is not a directory');
        rootfs = true;
      } else if (name.startsWith('rootfs/')) {
        rootfs = true;
        if (posix.basename(name).startsWith('.wh.'))
          throw bad(`entry "${name}" is named like an OCI whiteout; ACIs have no whiteouts and berth refuses such names`);
      } else {
        throw bad(`unrecognized file path in layout: "${name}" (only manifest and rootfs/ are allowed)`);
      }
    }
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw bad((err as Error).message);
  }
  if (manifestText === undefined) throw bad('no manifest');
  if (!rootfs) throw bad('no rootfs');
  return { manifest: parseImageManifest(manifestText, `${where}: manifest`), manifestText };
}
