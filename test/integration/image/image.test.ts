/**
 * The image module against real images (root): built by scripts/build-busybox-image.sh, by
 * umoci (init/new/unpack/repack, with a whiteout layer), and re-written by skopeo into
 * oci-archive and oci layouts (OCI and Docker schema2 media types). Each is pulled and
 * rendered; a corrupted blob is refused and never rendered; rendered trees are cached.
 */
import { cp, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyTar } from '../../../src/image/index.js';
import { testImageService } from '../../helpers/image-service.js';
import type { BerthImageService, PulledImage } from '../../../src/image/index.js';
import { chunks, makeTar } from '../../unit/image/helpers.js';

const isRoot = process.getuid?.() === 0;
const script = fileURLToPath(new URL('../../../scripts/build-busybox-image.sh', import.meta.url));

/** The tree with types, modes, owners and content digests; symlinks not followed. */
async function manifestOf(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const { createHash } = await import('node:crypto');
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(root, r);
      const st = await lstat(p);
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) out[r] = `symlink ${await readlink(p)} ${st.uid}:${st.gid}`;
      else if (st.isDirectory()) {
        out[r] = `dir ${meta}`;
        await walk(r);
      } else if (st.isFile())
        out[r] = `file ${meta} ${createHash('sha256')
          .update(await readFile(p))
          .digest('hex')}`;
      else out[r] = `special ${meta} ${st.rdev}`;
    }
  };
  await walk('');
  return out;
}

describe.skipIf(!isRoot)('image module with real images (root)', () => {
  let base: string;
  let svc: BerthImageService;
  let busybox: string;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'berth-image-it-'));
    busybox = join(base, 'busybox');
    await execa(script, [busybox]);
    svc = testImageService({ stateDir: join(base, 'state') });
  });
  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  describe('scripts/build-busybox-image.sh', () => {
    it('is reproducible and idempotent (overwrites OUT)', async () => {
      const first = (await execa(script, [busybox])).stdout.trim();
      const second = (await execa(script, [busybox, 'latest'])).stdout.trim();
      expect(first).toMatch(/^sha256:[a-f0-9]{64}$/);
      expect(second).toBe(first);
      const index = JSON.parse(await readFile(join(busybox, 'index.json'), 'utf8'));
      expect(index.manifests).toHaveLength(1);
      expect(index.manifests[0].digest).toBe(first);
      expect(index.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe('latest');
      expect(JSON.parse(await readFile(join(busybox, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
      expect((await readdir(base)).filter((n) => n.startsWith('.build-busybox'))).toEqual([]);
      const other = join(base, 'busybox-v1');
      await execa(script, [other, 'v1']);
      const idx = JSON.parse(await readFile(join(other, 'index.json'), 'utf8'));
      expect(idx.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe('v1');
      await expect(execa(script, [])).rejects.toMatchObject({ exitCode: 2 });
    });

    it('pulls and renders into a working root filesystem', async () => {
      const img = await svc.pull(`oci:${busybox}:latest`);
      expect(img.config.config?.Cmd).toEqual(['/bin/sh']);
      expect(img.config.config?.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
      const { stdout: arch } = await execa('dpkg', ['--print-architecture']);
      expect(img.config.architecture).toBe(arch.trim());
      const r = await svc.render(img);
      expect(r.rootfs).toBe(join(base, 'state', 'rendered', img.manifestDigest.slice(7), 'rootfs'));
      for (const applet of [
        'sh',
        'ls',
        'cat',
        'echo',
        'sleep',
        'ip',
        'wget',
        'nc',
        'httpd',
        'hostname',
        'id',
        'env',
        'ps',
        'grep',
        'seq',
      ]) {
        expect(await readlink(join(r.rootfs, 'bin', applet)), applet).toBe('busybox');
      }
      expect((await stat(join(r.rootfs, 'tmp'))).mode & 0o7777).toBe(0o1777);
      expect(await readFile(join(r.rootfs, 'etc/passwd'), 'utf8')).toMatch(/^root:x:0:0:.*\nnobody:x:65534:65534:/);
      expect(await readFile(join(r.rootfs, 'etc/group'), 'utf8')).toMatch(/^root:x:0:/);
      const bb = await stat(join(r.rootfs, 'bin/busybox'));
      expect([bb.mode & 0o777, bb.uid, bb.gid]).toEqual([0o755, 0, 0]);
      const { stdout } = await execa('chroot', [r.rootfs, '/bin/sh', '-c', 'echo hello from $(id -u) && ls /bin | grep -c .']);
      expect(stdout.split('\n')[0]).toBe('hello from 0');
    });

    it('a second render is a cached no-op', async () => {
      const img = await svc.pull(`oci:${busybox}`);
      const r1 = await svc.render(img);
      const marker = join(r1.rootfs, '..', 'image.json');
      const before = (await stat(marker)).mtimeMs;
      const r2 = await svc.render(img);
      expect(r2.rootfs).toBe(r1.rootfs);
      expect((await stat(marker)).mtimeMs).toBe(before);
      expect(await svc.listRendered()).toContain(img.manifestDigest.slice(7));
      expect((await readdir(join(base, 'state', 'rendered'))).filter((x) => x.startsWith('.tmp-'))).toEqual([]);
    });

    it('a corrupted blob is refused and never rendered', async () => {
      const bad = join(base, 'busybox-corrupt');
      await cp(busybox, bad, { recursive: true });
      const img = await svc.pull(`oci:${busybox}`);
      const layerFile = join(bad, 'blobs', 'sha256', img.layers[0]?.digest.slice(7) ?? '');
      const bytes = await readFile(layerFile);
      bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 0x55;
      await writeFile(layerFile, bytes);
      const fresh = testImageService({ stateDir: join(base, 'state-corrupt') });
      await expect(fresh.pull(`oci:${bad}`)).rejects.toMatchObject({ code: 'FailedPrecondition' });
      expect(await fresh.content.has(img.layers[0]?.digest ?? '')).toBe(false);
      expect(await fresh.listRendered()).toEqual([]);
      expect(await fresh.get(`oci:${bad}`)).toBeUndefined();
    });
  });

  describe('umoci-built image with a whiteout layer', () => {
    let layout: string;
    let umociTree: string;
    let img: PulledImage;

    beforeAll(async () => {
      layout = join(base, 'umoci');
      const bundle = join(base, 'umoci-bundle');
      await execa('umoci', ['init', '--layout', layout]);
      await execa('umoci', ['new', '--image', `${layout}:img`]);
      await execa('umoci', ['unpack', '--image', `${layout}:img`, bundle]);
      const rootfs = join(bundle, 'rootfs');
      await mkdir(join(rootfs, 'bin'), { recursive: true });
      await cp('/bin/busybox', join(rootfs, 'bin/busybox'));
      await execa('ln', ['-s', 'busybox', join(rootfs, 'bin/sh')]);
      await mkdir(join(rootfs, 'etc'));
      await writeFile(join(rootfs, 'etc/removed'), 'lower');
      await writeFile(join(rootfs, 'etc/kept'), 'kept');
      await mkdir(join(rootfs, 'opaque/sub'), { recursive: true });
      await writeFile(join(rootfs, 'opaque/sub/lower'), 'lower');
      await writeFile(join(rootfs, 'suid'), 'x');
      await execa('chown', ['1234:5678', join(rootfs, 'suid')]);
      await execa('chmod', ['4755', join(rootfs, 'suid')]);
      await execa('ln', [join(rootfs, 'etc/kept'), join(rootfs, 'etc/kept-hardlink')]);
      await execa('mknod', [join(rootfs, 'null'), 'c', '1', '3']);
      await execa('umoci', ['repack', '--image', `${layout}:img`, bundle]);
      // second layer, from a fresh unpack: delete a file (whiteout), replace a directory
      const bundle2 = join(base, 'umoci-bundle2');
      await execa('umoci', ['unpack', '--image', `${layout}:img`, bundle2]);
      const rootfs2 = join(bundle2, 'rootfs');
      await rm(join(rootfs2, 'etc/removed'));
      await rm(join(rootfs2, 'opaque'), { recursive: true });
      await mkdir(join(rootfs2, 'opaque'));
      await writeFile(join(rootfs2, 'opaque/new'), 'upper');
      await execa('umoci', ['repack', '--image', `${layout}:img`, bundle2]);
      await execa('umoci', ['config', '--image', `${layout}:img`, '--config.cmd', '/bin/sh']);
      await execa('umoci', ['gc', '--layout', layout]);
      umociTree = join(base, 'umoci-unpacked');
      await execa('umoci', ['unpack', '--image', `${layout}:img`, umociTree]);
      img = await svc.pull(`oci:${layout}:img`);
    });

    it('renders the same tree umoci unpacks (whiteouts, setuid, owners, hardlinks, devices)', async () => {
      expect(img.layers.length).toBeGreaterThanOrEqual(2);
      const r = await svc.render(img);
      const ours = await manifestOf(r.rootfs);
      expect(ours['etc/removed']).toBeUndefined();
      expect(ours['etc/kept']).toBeDefined();
      expect(ours['opaque/sub']).toBeUndefined();
      expect(ours['opaque/new']).toMatch(/^file /);
      expect(ours.suid).toMatch(/^file 4755 1234:5678 /);
      expect(ours.null).toMatch(/^special /);
      expect((await stat(join(r.rootfs, 'etc/kept'))).ino).toBe((await stat(join(r.rootfs, 'etc/kept-hardlink'))).ino);
      const theirs = await manifestOf(join(umociTree, 'rootfs'));
      expect(ours).toEqual(theirs);
    });

    it('skopeo copy oci: → oci-archive: (tag with "/" and ":") pulls to the same manifest', async () => {
      const archive = join(base, 'umoci.tar');
      await execa('skopeo', ['copy', `oci:${layout}:img`, `oci-archive:${archive}:localhost/busybox:latest`]);
      const fresh = testImageService({ stateDir: join(base, 'state-archive') });
      const fromArchive = await fresh.pull(`oci-archive:${archive}:localhost/busybox:latest`);
      const untagged = await fresh.pull(`oci-archive:${archive}`);
      expect(untagged.manifestDigest).toBe(fromArchive.manifestDigest);
      const r = await fresh.render(fromArchive);
      expect(await manifestOf(r.rootfs)).toEqual(await manifestOf(join(umociTree, 'rootfs')));
    });

    it('a layout re-written by skopeo, as OCI and as Docker schema2', async () => {
      const fresh = testImageService({ stateDir: join(base, 'state-skopeo') });
      const oci = join(base, 'skopeo-oci');
      await execa('skopeo', ['copy', `oci:${layout}:img`, `oci:${oci}:copied`]);
      const a = await fresh.pull(`oci:${oci}:copied`);
      const v2s2 = join(base, 'skopeo-v2s2');
      await execa('skopeo', ['copy', '--format', 'v2s2', `oci:${layout}:img`, `oci:${v2s2}:v2s2`]);
      const b = await fresh.pull(`oci:${v2s2}:v2s2`);
      expect(JSON.parse(await readFile(join(v2s2, 'index.json'), 'utf8')).manifests[0].mediaType).toBe(
        'application/vnd.docker.distribution.manifest.v2+json',
      );
      expect(b.layers.every((l) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip')).toBe(true);
      const want = await manifestOf(join(umociTree, 'rootfs'));
      expect(await manifestOf((await fresh.render(a)).rootfs)).toEqual(want);
      expect(await manifestOf((await fresh.render(b)).rootfs)).toEqual(want);
      expect((await fresh.listRendered()).sort()).toEqual([a.manifestDigest.slice(7), b.manifestDigest.slice(7)].sort());
    });

    it('the busybox image pulled via skopeo oci-archive runs /bin/sh', async () => {
      const archive = join(base, 'busybox.tar');
      await execa('skopeo', ['copy', `oci:${busybox}:latest`, `oci-archive:${archive}`]);
      const fresh = testImageService({ stateDir: join(base, 'state-bb-archive') });
      const r = await fresh.render(await fresh.pull(`oci-archive:${archive}`));
      const { stdout } = await execa('chroot', [r.rootfs, '/bin/sh', '-c', 'echo ok']);
      expect(stdout).toBe('ok');
    });
  });

  it('mknod of devices and fifos as root (IMG-15)', async () => {
    const root = join(base, 'devices');
    await mkdir(root);
    await applyTar(
      root,
      chunks(
        await makeTar([
          { name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 },
          { name: 'dev/loop9', type: 'block-device', mode: 0o660, devmajor: 7, devminor: 9 },
          { name: 'fifo', type: 'fifo', mode: 0o644 },
        ]),
      ),
    );
    const nul = await lstat(join(root, 'dev/null'));
    expect(nul.isCharacterDevice()).toBe(true);
    expect(nul.mode & 0o777).toBe(0o666);
    expect((await lstat(join(root, 'dev/loop9'))).isBlockDevice()).toBe(true);
    expect((await lstat(join(root, 'fifo'))).isFIFO()).toBe(true);
  });
});
