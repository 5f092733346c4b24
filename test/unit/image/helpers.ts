/** Test helpers for the image module: tar fixtures built with tar-stream, tree snapshots, OCI layouts. */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device' | 'block-device';
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  pax?: Record<string, string>;
  devmajor?: number;
  devminor?: number;
}

// Shorthands in the style of containerd's tartest.TarContext.
export const dir = (name: string, mode = 0o755): TarEntry => ({ name, type: 'directory', mode });
export const file = (name: string, content: string | Buffer = '', mode = 0o644): TarEntry => ({ name, type: 'file', content, mode });
export const symlink = (target: string, name: string): TarEntry => ({ name, type: 'symlink', linkname: target, mode: 0o777 });
export const hardlink = (target: string, name: string): TarEntry => ({ name, type: 'link', linkname: target });

/** A tar stream (uncompressed) of `entries`, in order, exactly as given (names are not sanitised). */
export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    const body = e.content === undefined ? undefined : Buffer.from(e.content);
    const header = {
      name: e.name,
      type: e.type ?? 'file',
      mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? process.getuid?.() ?? 0,
      gid: e.gid ?? process.getgid?.() ?? 0,
      mtime: e.mtime ?? new Date(1_600_000_000_000),
      linkname: e.linkname,
      size: body?.length ?? 0,
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
      ...(e.pax ? { pax: e.pax } : {}),
    } as tar.Header;
    await new Promise<void>((resolve, reject) => {
      if (body) pack.entry(header, body, (err) => (err ? reject(err) : resolve()));
      else pack.entry(header, (err) => (err ? reject(err) : resolve())).end(undefined);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export async function* chunks(buf: Buffer, size = 4096): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

/**
 * The tree under `root` as a flat map: `dir`, `file:<content>`, `symlink:<target>`, `other`.
 * Symlinks are not followed.
 */
export async function snapshot(root: string, opts: { modes?: boolean } = {}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(root, r);
      const st = await lstat(p);
      const mode = opts.modes ? ` ${(st.mode & 0o7777).toString(8)}` : '';
      if (st.isDirectory()) {
        out[r] = `dir${mode}`;
        await walk(r);
      } else if (st.isSymbolicLink()) out[r] = `symlink:${await readlink(p)}`;
      else if (st.isFile()) out[r] = `file:${(await readFile(p)).toString()}${mode}`;
      else out[r] = 'other';
    }
  };
  await walk('');
  return out;
}

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface LayoutImage {
  layers: Buffer[]; // uncompressed tars
  gzip?: boolean;
  layerMediaType?: string;
  manifestMediaType?: string;
  configMediaType?: string;
  config?: Record<string, unknown>;
  rootfsType?: string;
  platform?: { os: string; architecture: string; variant?: string };
  omitManifestMediaType?: boolean;
}

export interface BuiltImage {
  manifestDigest: string;
  manifest: Buffer;
  configDigest: string;
  layerDigests: string[];
  diffIds: string[];
}

/** Write blobs for one image into `layout/blobs` and return its digests (no index entry). */
export async function writeImage(layout: string, img: LayoutImage): Promise<BuiltImage> {
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Buffer): Promise<string> => {
    const d = sha256(b);
    await writeFile(join(layout, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const docker = img.manifestMediaType === 'application/vnd.docker.distribution.manifest.v2+json';
  const diffIds = img.layers.map((l) => sha256(l));
  const blobs = img.layers.map((l) => (img.gzip === false ? l : gzipSync(l)));
  const layerDigests: string[] = [];
  for (const b of blobs) layerDigests.push(await put(b));
  const config = Buffer.from(
    JSON.stringify({
      architecture: img.platform?.architecture ?? 'amd64',
      os: img.platform?.os ?? 'linux',
      config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
      rootfs: { type: img.rootfsType ?? 'layers', diff_ids: diffIds },
      ...img.config,
    }),
  );
  const configDigest = await put(config);
  const layerMt =
    img.layerMediaType ??
    (docker
      ? 'application/vnd.docker.image.rootfs.diff.tar.gzip'
      : img.gzip === false
        ? 'application/vnd.oci.image.layer.v1.tar'
        : 'application/vnd.oci.image.layer.v1.tar+gzip');
  const manifestObj: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: img.manifestMediaType ?? 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType:
        img.configMediaType ?? (docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json'),
      digest: configDigest,
      size: config.length,
    },
    layers: blobs.map((b, i) => ({ mediaType: layerMt, digest: layerDigests[i], size: b.length })),
  };
  if (img.omitManifestMediaType) delete manifestObj.mediaType;
  const manifest = Buffer.from(JSON.stringify(manifestObj));
  const manifestDigest = await put(manifest);
  return { manifestDigest, manifest, configDigest, layerDigests, diffIds };
}

export async function putBlob(layout: string, b: Buffer): Promise<string> {
  const d = sha256(b);
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layout, 'blobs', 'sha256', d.slice(7)), b);
  return d;
}

export async function writeIndex(layout: string, manifests: unknown[]): Promise<void> {
  await mkdir(layout, { recursive: true });
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
  );
}

/** A tar of a layout directory's files (what `oci-archive:` reads), built with tar-stream. */
export async function tarDirectory(dirPath: string): Promise<Buffer> {
  const entries: TarEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dirPath, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(dirPath, r));
      if (st.isDirectory()) {
        entries.push(dir(`${r}/`));
        await walk(r);
      } else entries.push(file(r, await readFile(join(dirPath, r))));
    }
  };
  await walk('');
  return makeTar(entries);
}
