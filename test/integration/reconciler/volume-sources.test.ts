/**
 * Volume sources with real mounts (root): a tmpfs for emptyDir medium Memory, a size-limited
 * filesystem for an on-disk sizeLimit (writes over it refused), fsGroup ownership, downwardAPI
 * files written atomically and rewritten on change, image volumes read-only and noexec, and
 * every mount gone after releasePodMounts.
 */
import { execa } from 'execa';
import { lstat, mkdir, mkdtemp, readFile, readlink, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diskImagePath, readyMarker } from '../../../src/reconciler/emptydir.js';
import { emptyDirPath, ensureEmptyDirs, releasePodMounts, volumeMounts, type VolumeContext } from '../../../src/reconciler/volumes.js';
import { mountsAtOrBelow, unmountAtOrBelow } from '../../../src/runtime/volume-paths.js';
import type { Container, Pod } from '../../../src/api/pod.js';

const isRoot = process.getuid?.() === 0;

/** The mountinfo line fields of the mount at `p`: fs type and super options. */
async function mountOf(p: string): Promise<{ type: string; options: string; superOptions: string } | undefined> {
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const f = line.split(' ');
    if (f[4] !== p) continue;
    const sep = f.indexOf('-');
    return { type: f[sep + 1]!, options: f[5]!, superOptions: f[sep + 3]! };
  }
  return undefined;
}

describe.skipIf(!isRoot)('volume sources (real mounts)', () => {
  let dir: string;
  let podDir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-volsrc-'));
    podDir = join(dir, 'pods', 'uid-1');
    await mkdir(podDir, { recursive: true, mode: 0o700 });
  });

  afterEach(async () => {
    try {
      await releasePodMounts(podDir).catch(() => undefined);
    } finally {
      await unmountAtOrBelow(dir);
      if ((await mountsAtOrBelow(dir)).length === 0) await rm(dir, { recursive: true, force: true });
    }
  });

  const pod = (spec: Partial<Pod['spec']>, metadata: Partial<Pod['metadata']> = {}): Pod =>
    ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default', ...metadata },
      spec: { containers: [app([])], ...spec },
    }) as Pod;
  const app = (volumeMounts: Container['volumeMounts'], resources?: Container['resources']): Container =>
    ({ name: 'app', image: 'busybox', volumeMounts, ...(resources ? { resources } : {}) }) as Container;

  it('medium Memory is a tmpfs of the pod limit or sizeLimit, nosuid,nodev, mode 0777; released at teardown', async () => {
    const c = app(
      [
        { name: 'm', mountPath: '/m' },
        { name: 's', mountPath: '/s' },
      ],
      { limits: { memory: '48Mi' } },
    );
    const p = pod({
      containers: [c],
      volumes: [
        { name: 'm', emptyDir: { medium: 'Memory' } },
        { name: 's', emptyDir: { medium: 'Memory', sizeLimit: '4Mi' } },
      ],
    });
    await ensureEmptyDirs(p, podDir);
    await ensureEmptyDirs(p, podDir); // idempotent: one mount each
    for (const [name, size] of [
      ['m', 48],
      ['s', 4],
    ] as const) {
      const path = emptyDirPath(podDir, name);
      expect((await mountsAtOrBelow(path)).length).toBe(1);
      const m = await mountOf(path);
      expect(m?.type).toBe('tmpfs');
      expect(m?.options).toMatch(/nosuid/);
      expect(m?.options).toMatch(/nodev/);
      expect(m?.superOptions).toContain(`size=${size * 1024}k`);
      expect((await stat(path)).mode & 0o7777).toBe(0o777);
    }
    const mounts = await volumeMounts({ pod: p, container: c, podDir });
    expect(await mountOf(mounts[0]!.source)).toMatchObject({ type: 'tmpfs' });
    // writes over the size are refused by the tmpfs
    const big = await execa('dd', ['if=/dev/zero', `of=${join(emptyDirPath(podDir, 's'), 'big')}`, 'bs=1M', 'count=8'], { reject: false });
    expect(big.stderr).toMatch(/No space left on device/);
    await releasePodMounts(podDir);
    expect(await mountsAtOrBelow(podDir)).toEqual([]);
  });

  it('an on-disk sizeLimit is a loop filesystem that refuses writes beyond the limit, kept across a remount', async () => {
    const c = app([{ name: 'd', mountPath: '/d' }]);
    const p = pod({ containers: [c], volumes: [{ name: 'd', emptyDir: { sizeLimit: '8Mi' } }] });
    await ensureEmptyDirs(p, podDir);
    const path = emptyDirPath(podDir, 'd');
    expect((await mountOf(path))?.type).toBe('ext4');
    expect((await mountOf(path))?.options).toMatch(/nosuid,nodev/);
    expect((await stat(path)).mode & 0o7777).toBe(0o777);
    expect(await readdir(path)).toEqual([]); // no lost+found
    // at least the limit fits
    const fits = await execa('dd', ['if=/dev/zero', `of=${join(path, 'a')}`, 'bs=1M', 'count=8'], { reject: false });
    expect(fits.exitCode, fits.stderr).toBe(0);
    const over = await execa('dd', ['if=/dev/zero', `of=${join(path, 'b')}`, 'bs=1M', 'count=16'], { reject: false });
    expect(over.exitCode).not.toBe(0);
    expect(over.stderr).toMatch(/No space left on device/);
    // a reboot loses the mount, not the files: set up again, the file is there
    await writeFile(join(path, 'keep'), 'kept');
    await unmountAtOrBelow(path);
    await ensureEmptyDirs(p, podDir);
    expect(await readFile(join(path, 'keep'), 'utf8')).toBe('kept');
    await releasePodMounts(podDir);
    expect(await mountsAtOrBelow(podDir)).toEqual([]);
    await expect(stat(diskImagePath(podDir, 'd'))).rejects.toThrow(/ENOENT/);
    // the loop device went with the mount (autoclear)
    const loops = await execa('losetup', ['-a'], { reject: false });
    expect(loops.stdout).not.toContain(podDir);
  });

  it('fsGroup: group and setgid on emptyDir contents, never through a symlink; OnRootMismatch skips a matching root', async () => {
    const outside = join(dir, 'outside');
    await writeFile(outside, 'host');
    const c = app([{ name: 'e', mountPath: '/e' }]);
    const spec = (policy?: 'OnRootMismatch') => ({
      containers: [c],
      volumes: [{ name: 'e', emptyDir: {} }],
      securityContext: { fsGroup: 4321, ...(policy ? { fsGroupChangePolicy: policy } : {}) },
    });
    const e = emptyDirPath(podDir, 'e');
    await mkdir(join(e, 'sub'), { recursive: true });
    await writeFile(join(e, 'sub', 'f'), 'x', { mode: 0o600 });
    await symlink(outside, join(e, 'link'));
    await ensureEmptyDirs(pod(spec()), podDir);
    const root = await stat(e);
    expect(root.gid).toBe(4321);
    expect((root.mode & 0o7777).toString(8)).toBe('2777');
    const sub = await stat(join(e, 'sub'));
    expect([sub.gid, (sub.mode & 0o7777).toString(8)]).toEqual([4321, '2775']);
    const f = await stat(join(e, 'sub', 'f'));
    expect([f.gid, (f.mode & 0o7777).toString(8)]).toEqual([4321, '660']);
    expect((await lstat(join(e, 'link'))).gid).toBe(4321);
    const host = await stat(outside);
    expect([host.gid, (host.mode & 0o777).toString(8)]).toEqual([0, '644']); // the link's target untouched
    // set up once, as the kubelet: an agent restart (set-up called again) changes nothing
    await writeFile(join(e, 'late'), 'y', { mode: 0o600 });
    await execa('chgrp', ['0', join(e, 'late')]);
    await ensureEmptyDirs(pod(spec()), podDir);
    expect((await stat(join(e, 'late'))).gid).toBe(0);
    // a new set-up: OnRootMismatch sees a matching root and skips the walk, Always walks
    await rm(readyMarker(podDir, 'e'));
    await ensureEmptyDirs(pod(spec('OnRootMismatch')), podDir);
    expect((await stat(join(e, 'late'))).gid).toBe(0);
    await rm(readyMarker(podDir, 'e'));
    await ensureEmptyDirs(pod(spec()), podDir);
    expect((await stat(join(e, 'late'))).gid).toBe(4321);
  });

  it('downwardAPI: files behind ..data, modes, fsGroup, read-only mounts; rewritten atomically on change; subPath works', async () => {
    const c = app([
      { name: 'info', mountPath: '/info', readOnly: false },
      { name: 'info', mountPath: '/name', subPath: 'meta/name' },
    ]);
    const vol = {
      name: 'info',
      downwardAPI: {
        defaultMode: 0o640,
        items: [
          { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
          { path: 'meta/name', fieldRef: { fieldPath: 'metadata.name' }, mode: 0o400 },
        ],
      },
    };
    const ctx: VolumeContext = { identity: { name: 'web', namespace: 'default', uid: 'uid-1' } };
    const p1 = pod({ containers: [c], volumes: [vol], securityContext: { fsGroup: 777 } }, { labels: { a: '1' } });
    await ensureEmptyDirs(p1, podDir, ctx);
    const d = emptyDirPath(podDir, 'info');
    const data1 = await readlink(join(d, '..data'));
    expect(data1).toMatch(/^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\./);
    expect(await readlink(join(d, 'labels'))).toBe('..data/labels');
    expect(await readFile(join(d, 'labels'), 'utf8')).toBe('a="1"');
    expect(await readFile(join(d, 'meta', 'name'), 'utf8')).toBe('web');
    const lf = await stat(join(d, 'labels'));
    expect([lf.gid, (lf.mode & 0o7777).toString(8)]).toEqual([777, '640']);
    expect(((await stat(join(d, 'meta', 'name'))).mode & 0o7777).toString(8)).toBe('440'); // 0400 + fsGroup's group read
    const mounts = await volumeMounts({ pod: p1, container: c, podDir, context: ctx });
    expect(mounts.map((m) => [m.destination, m.readOnly])).toEqual([
      ['/info', true],
      ['/name', true],
    ]);
    expect(await readFile(mounts[1]!.source, 'utf8')).toBe('web');
    // unchanged: nothing rewritten
    await ensureEmptyDirs(p1, podDir, ctx);
    expect(await readlink(join(d, '..data'))).toBe(data1);
    // changed labels: a new data dir, the old one gone
    const p2 = pod({ containers: [c], volumes: [vol], securityContext: { fsGroup: 777 } }, { labels: { a: '2', b: 'x' } });
    await volumeMounts({ pod: p2, container: c, podDir, context: ctx });
    const data2 = await readlink(join(d, '..data'));
    expect(data2).not.toBe(data1);
    expect(await readFile(join(d, 'labels'), 'utf8')).toBe('a="2"\nb="x"');
    expect((await readdir(d)).filter((n) => n.startsWith('..')).sort()).toEqual([data2, '..data'].sort());
    await releasePodMounts(podDir);
    expect(await mountsAtOrBelow(podDir)).toEqual([]);
  });

  it('hostPath DirectoryOrCreate and FileOrCreate make 0755 directories and a 0644 file whatever the umask; an existing file is kept', async () => {
    const host = join(dir, 'host');
    await mkdir(host);
    await writeFile(join(host, 'kept'), 'data', { mode: 0o600 });
    const c = app([
      { name: 'd', mountPath: '/d' },
      { name: 'f', mountPath: '/f' },
      { name: 'k', mountPath: '/k' },
    ]);
    const p = pod({
      containers: [c],
      volumes: [
        { name: 'd', hostPath: { path: join(host, 'a', 'b'), type: 'DirectoryOrCreate' } },
        { name: 'f', hostPath: { path: join(host, 'new-file'), type: 'FileOrCreate' } },
        { name: 'k', hostPath: { path: join(host, 'kept'), type: 'FileOrCreate' } },
      ],
    });
    const old = process.umask(0o077);
    try {
      await volumeMounts({ pod: p, container: c, podDir });
    } finally {
      process.umask(old);
    }
    expect(((await stat(join(host, 'a'))).mode & 0o7777).toString(8)).toBe('755');
    expect(((await stat(join(host, 'a', 'b'))).mode & 0o7777).toString(8)).toBe('755');
    const f = await stat(join(host, 'new-file'));
    expect([f.isFile(), f.size, (f.mode & 0o7777).toString(8)]).toEqual([true, 0, '644']);
    const k = await stat(join(host, 'kept'));
    expect([k.size, (k.mode & 0o7777).toString(8)]).toEqual([4, '600']);
    // hostPath is never given fsGroup's group (the kubelet's rule)
    const withGroup = pod({ ...p.spec, securityContext: { fsGroup: 4321 } });
    await volumeMounts({ pod: withGroup, container: c, podDir });
    expect((await stat(join(host, 'kept'))).gid).toBe(0);
    await releasePodMounts(podDir);
  });

  it('image volumes: the rendered tree, read-only and noexec, a subPath inside it; missing tree is Unavailable', async () => {
    const tree = join(dir, 'rendered', 'rootfs');
    await mkdir(join(tree, 'etc'), { recursive: true });
    await writeFile(join(tree, 'etc', 'hello'), 'from the image');
    const c = app([
      { name: 'img', mountPath: '/img' },
      { name: 'img', mountPath: '/etc-only', subPath: 'etc' },
    ]);
    const p = pod({ containers: [c], volumes: [{ name: 'img', image: { reference: 'example/img:1' } }] });
    await expect(volumeMounts({ pod: p, container: c, podDir })).rejects.toMatchObject({ code: 'Unavailable' });
    const mounts = await volumeMounts({
      pod: p,
      container: c,
      podDir,
      context: { imageRoot: (ref) => (ref === 'example/img:1' ? tree : undefined) },
    });
    expect(mounts.map((m) => [m.destination, m.readOnly, m.noexec])).toEqual([
      ['/img', true, true],
      ['/etc-only', true, true],
    ]);
    expect(await readFile(join(mounts[1]!.source, 'hello'), 'utf8')).toBe('from the image');
    // a subPath missing in the image is not created there
    const bad = app([{ name: 'img', mountPath: '/x', subPath: 'nope' }]);
    await expect(volumeMounts({ pod: p, container: bad, podDir, context: { imageRoot: () => tree } })).rejects.toThrow(
      /"nope" does not exist/,
    );
    await expect(stat(join(tree, 'nope'))).rejects.toThrow(/ENOENT/);
    await releasePodMounts(podDir);
    expect(await mountsAtOrBelow(podDir)).toEqual([]);
  });
});
