/**
 * ACIs built by hand, as an operator would: a directory with `manifest` and `rootfs/`
 * (static busybox, a user database with nobody/nogroup), `tar` with stable metadata, then
 * none, gzip, bzip2 or xz. Signed with gpg in a temporary GNUPGHOME when asked.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz';

const APPLETS = ['sh', 'echo', 'sleep', 'cat', 'ls', 'id', 'test', 'true', 'env', 'pwd', 'wget', 'nc', 'ip', 'hostname', 'stat'];

export interface AciSpec {
  manifest: Record<string, unknown>;
  /** add static busybox and /etc/passwd, /etc/group (default true) */
  busybox?: boolean;
  /** extra files below rootfs: path → content */
  files?: Record<string, string>;
  /** extra directories below rootfs: path → mode */
  dirs?: Record<string, number>;
  /** symlinks below rootfs: path → target */
  links?: Record<string, string>;
  compression?: Compression;
}

/** Build `out` (an .aci); returns the uncompressed tar's path too (for the image ID). */
export async function buildAci(out: string, spec: AciSpec): Promise<{ aci: string; tar: string }> {
  const work = await mkdtemp(`${out}.work-`);
  try {
    const rootfs = join(work, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    if (spec.busybox !== false) {
      await mkdir(join(rootfs, 'bin'), { recursive: true });
      await mkdir(join(rootfs, 'etc'), { recursive: true });
      await mkdir(join(rootfs, 'tmp'), { recursive: true, mode: 0o1777 });
      await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'));
      for (const a of APPLETS) await symlink('busybox', join(rootfs, 'bin', a));
      await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
      await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\nstaff:x:50:\n');
    }
    for (const [p, mode] of Object.entries(spec.dirs ?? {})) await mkdir(join(rootfs, p), { recursive: true, mode });
    for (const [p, content] of Object.entries(spec.files ?? {})) {
      await mkdir(join(rootfs, p, '..'), { recursive: true });
      await writeFile(join(rootfs, p), content);
    }
    for (const [p, target] of Object.entries(spec.links ?? {})) {
      await mkdir(join(rootfs, p, '..'), { recursive: true });
      await symlink(target, join(rootfs, p));
    }
    await writeFile(join(work, 'manifest'), JSON.stringify(spec.manifest, null, 2));
    const tar = `${out}.tar`;
    await execa('tar', [
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '-C',
      work,
      '-cf',
      tar,
      'manifest',
      'rootfs',
    ]);
    const c = spec.compression ?? 'gzip';
    if (c === 'none') await copyFile(tar, out);
    else {
      const tool = c === 'gzip' ? ['gzip', '-n', '-c'] : c === 'bzip2' ? ['bzip2', '-c'] : ['xz', '-c'];
      await execa(tool[0]!, [...tool.slice(1), tar], { stdout: { file: out } });
    }
    return { aci: out, tar };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function sha512Of(file: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha512')
    .update(await readFile(file))
    .digest('hex');
}

/** A gpg home with one fresh key; sign/export helpers. */
export async function makeGpgKey(
  dir: string,
  uid: string,
): Promise<{ home: string; fingerprint: string; armoredPublic: string; sign: (file: string) => Promise<string> }> {
  const home = join(dir, `gnupg-${uid.replace(/\W/g, '')}`);
  await mkdir(home, { recursive: true, mode: 0o700 });
  const env = { GNUPGHOME: home };
  await execa('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', uid, 'default', 'default', 'never'], { env });
  const list = await execa('gpg', ['--batch', '--with-colons', '--fingerprint', uid], { env });
  const fpr = list.stdout
    .split('\n')
    .find((l) => l.startsWith('fpr:'))!
    .split(':')[9]!
    .toLowerCase();
  const armoredPublic = (await execa('gpg', ['--batch', '--armor', '--export', fpr], { env })).stdout;
  return {
    home,
    fingerprint: fpr,
    armoredPublic,
    async sign(file: string) {
      await rm(`${file}.asc`, { force: true });
      await execa(
        'gpg',
        [
          '--batch',
          '--yes',
          '--pinentry-mode',
          'loopback',
          '--passphrase',
          '',
          '--local-user',
          fpr,
          '--armor',
          '--detach-sign',
          '--output',
          `${file}.asc`,
          file,
        ],
        { env },
      );
      return `${file}.asc`;
    },
  };
}

/** Trust a key for a prefix in rkt's layout (what `berth trust add --transport appc` writes). */
export async function trustKey(configDir: string, prefix: string | undefined, fingerprint: string, armored: string): Promise<void> {
  const dir =
    prefix === undefined ? join(configDir, 'trustedkeys', 'root.d') : join(configDir, 'trustedkeys', 'prefix.d', ...prefix.split('/'));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, fingerprint), `${armored}\n`);
}

export async function allowUnsigned(configDir: string, prefixes: string[]): Promise<void> {
  await mkdir(configDir, { recursive: true });
  const appc = Object.fromEntries(prefixes.map((p) => [p, [{ type: 'insecureAcceptAnything' }]]));
  await writeFile(join(configDir, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }], transports: { appc } }));
}
