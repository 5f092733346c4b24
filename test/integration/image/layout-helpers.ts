/**
 * Images built with the real tools, as an operator would: a directory tree packed by GNU tar
 * (stable metadata, sorted names, so the entry named last sits last in the stream),
 * compressed by gzip or zstd, and written into an OCI image layout; ACIs the same way.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

const TAR_STABLE = ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner'];

/** `count` files of `size` bytes below `dir/good/` (sorted before anything named "zz…"). */
export async function goodFiles(dir: string, count: number, size: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const d = join(dir, 'good', `d${i % 20}`);
    await mkdir(d, { recursive: true });
    await writeFile(
      join(d, `f${i}`),
      createHash('sha256')
        .update(String(i))
        .digest('hex')
        .repeat(Math.ceil(size / 64))
        .slice(0, size),
    );
  }
}

/** GNU tar of `dir`'s contents (`./…` names), `extra` arguments first (e.g. `--transform`). */
export async function tarDir(dir: string, out: string, extra: string[] = []): Promise<string> {
  await execa('tar', [...TAR_STABLE, ...extra, '-C', dir, '-cf', out, '.']);
  return out;
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function putBlob(layout: string, body: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(body);
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layout, 'blobs', 'sha256', digest.slice(7)), body);
  return { digest, size: body.length };
}

/** (Re)write `layout` as an OCI layout of one image whose layers are the given tars, compressed with `compression`. */
export async function writeLayout(layout: string, tars: string[], compression: 'gzip' | 'zstd' | 'none' = 'gzip'): Promise<void> {
  await rm(layout, { recursive: true, force: true });
  await mkdir(layout, { recursive: true });
  const layers = [];
  const diffIds = [];
  for (const t of tars) {
    const plain = await readFile(t);
    diffIds.push(sha256(plain));
    const body =
      compression === 'none'
        ? plain
        : (await execa(compression, compression === 'gzip' ? ['-n', '-c', t] : ['-q', '-c', t], { encoding: 'buffer' })).stdout;
    const mediaType = `application/vnd.oci.image.layer.v1.tar${compression === 'none' ? '' : `+${compression}`}`;
    layers.push({ mediaType, ...(await putBlob(layout, Buffer.from(body))) });
  }
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...(await putBlob(layout, config)) },
      layers,
    }),
  );
  const m = await putBlob(layout, manifest);
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const ref = { 'org.opencontainers.image.ref.name': 'latest' };
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: ref }] }),
  );
}

/** An ACI at `out` (gzip): `manifest` and `rootfs/` of `work`, packed by GNU tar with `extra` arguments. */
export async function packAci(work: string, name: string, out: string, extra: string[] = []): Promise<void> {
  await writeFile(
    join(work, 'manifest'),
    JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name, app: { exec: ['/bin/sh'], user: '0', group: '0' } }),
  );
  const tar = `${out}.tar`;
  await execa('tar', [...TAR_STABLE, ...extra, '-C', work, '-cf', tar, 'manifest', 'rootfs']);
  await execa('gzip', ['-n', '-c', tar], { stdout: { file: out } });
  await rm(tar, { force: true });
}
