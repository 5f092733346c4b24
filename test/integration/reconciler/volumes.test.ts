/**
 * A container's volumes as pinned bind sources (real mounts, root): emptyDir and hostPath,
 * subPath and subPathExpr, hostPath types, appc mountPoints, and release of the pins.
 */
import { createServer, type Server } from 'node:net';
import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  emptyDirPath,
  ensureEmptyDirs,
  pinsDir,
  releaseAppMounts,
  releasePodMounts,
  volumeMounts,
} from '../../../src/reconciler/volumes.js';
import { removePodDir } from '../../../src/reconciler/records.js';
import { mountsAtOrBelow, unmountAtOrBelow } from '../../../src/runtime/volume-paths.js';
import type { Container, Pod } from '../../../src/api/pod.js';

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('volume mounts (real mounts)', () => {
  let dir: string;
  let podDir: string;
  let host: string;
  let server: Server | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-vol-'));
    podDir = join(dir, 'pods', 'uid');
    host = join(dir, 'host');
    await mkdir(podDir, { recursive: true });
    await mkdir(join(host, 'dir', 'sub'), { recursive: true });
    await writeFile(join(host, 'file'), 'host file');
  });

  afterEach(async () => {
    server?.close();
    server = undefined;
    await unmountAtOrBelow(dir);
    await rm(dir, { recursive: true, force: true });
  });

  const pod = (volumes: Pod['spec']['volumes'], containers: Container[]): Pod =>
    ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers, volumes } }) as Pod;
  const app = (volumeMounts: Container['volumeMounts'], env?: Container['env']): Container =>
    ({ name: 'app', image: 'busybox', volumeMounts, ...(env ? { env } : {}) }) as Container;

  it('emptyDirs are 0777 and a subPath in one is pinned to that directory only', async () => {
    const c = app([{ name: 'data', mountPath: '/data', subPath: 'real' }]);
    const p = pod([{ name: 'data', emptyDir: {} }], [c]);
    await ensureEmptyDirs(p, podDir);
    expect((await stat(emptyDirPath(podDir, 'data'))).mode & 0o777).toBe(0o777);
    const mounts = await volumeMounts({ pod: p, container: c, podDir });
    expect(mounts).toEqual([{ destination: '/data', source: join(pinsDir(podDir), 'data', 'app', '0'), readOnly: false }]);
    // the missing subPath was created inside the volume, with the volume's mode
    const created = await stat(join(emptyDirPath(podDir, 'data'), 'real'));
    expect(created.isDirectory()).toBe(true);
    expect(created.mode & 0o777).toBe(0o777);
    expect((await stat(mounts[0]!.source)).ino).toBe(created.ino);
    await releasePodMounts(podDir);
    expect(await mountsAtOrBelow(podDir)).toEqual([]);
  });

  it('a symlink planted in the emptyDir is refused and leaves no pin', async () => {
    const c = app([{ name: 'data', mountPath: '/data', subPath: 'escape' }]);
    const p = pod([{ name: 'data', emptyDir: {} }], [c]);
    await ensureEmptyDirs(p, podDir);
    await symlink('/', join(emptyDirPath(podDir, 'data'), 'escape'));
    await expect(volumeMounts({ pod: p, container: c, podDir })).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: 'subPath "escape" of volume "data" is a symlink: refused (it could point outside the volume)',
    });
    expect(await mountsAtOrBelow(podDir)).toEqual([]);
  });

  it('subPathExpr expands from the container env and is confined like subPath', async () => {
    const vols = [{ name: 'data', emptyDir: {} }];
    const ok = app([{ name: 'data', mountPath: '/data', subPathExpr: 'logs/$(POD)' }]);
    const mounts = await volumeMounts({ pod: pod(vols, [ok]), container: ok, podDir, envOf: () => [['POD', 'web-1']] });
    expect((await stat(mounts[0]!.source)).ino).toBe((await stat(join(emptyDirPath(podDir, 'data'), 'logs', 'web-1'))).ino);
    await expect(volumeMounts({ pod: pod(vols, [ok]), container: ok, podDir, envOf: () => [] })).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: expect.stringContaining('missing value for POD'),
    });
    await expect(volumeMounts({ pod: pod(vols, [ok]), container: ok, podDir, envOf: () => [['POD', '../../etc']] })).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining("must not contain '..'"),
    });
    await releaseAppMounts(podDir, 'app');
    expect(await mountsAtOrBelow(podDir)).toEqual([]);
  });

  it('hostPath types are checked on the pinned fd; OrCreate types create', async () => {
    const sock = join(host, 'sock');
    server = createServer();
    await new Promise<void>((r) => server!.listen(sock, r));
    const cases: Array<[string, string, boolean]> = [
      ['Directory', join(host, 'dir'), true],
      ['File', join(host, 'file'), true],
      ['Socket', sock, true],
      ['CharDevice', '/dev/null', true],
      ['', join(host, 'file'), true],
      ['Directory', join(host, 'file'), false],
      ['File', join(host, 'dir'), false],
      ['BlockDevice', '/dev/null', false],
      ['Socket', join(host, 'file'), false],
    ];
    for (const [type, path, ok] of cases) {
      const c = app([{ name: 'h', mountPath: '/h' }]);
      const p = pod([{ name: 'h', hostPath: { path, type } } as never], [c]);
      const run = volumeMounts({ pod: p, container: c, podDir });
      if (ok) expect((await stat((await run)[0]!.source)).ino, `${type} ${path}`).toBe((await stat(path)).ino);
      else
        await expect(run, `${type} ${path}`).rejects.toMatchObject({
          code: 'Unavailable',
          message: expect.stringContaining('hostPath type check failed'),
        });
    }
    await releasePodMounts(podDir);

    const missing = join(host, 'missing');
    for (const type of ['File', 'Directory', 'Socket']) {
      const c = app([{ name: 'h', mountPath: '/h' }]);
      await expect(
        volumeMounts({ pod: pod([{ name: 'h', hostPath: { path: missing, type } } as never], [c]), container: c, podDir }),
      ).rejects.toMatchObject({
        // retried with back-off, as the kubelet waits for the path
        code: 'Unavailable',
        message: expect.stringContaining(`hostPath ${missing} of volume "h" does not exist (type ${type}`),
      });
    }
    const c = app([
      { name: 'd', mountPath: '/d' },
      { name: 'f', mountPath: '/f' },
    ]);
    const p = pod(
      [
        { name: 'd', hostPath: { path: join(host, 'made', 'dir'), type: 'DirectoryOrCreate' } },
        { name: 'f', hostPath: { path: join(host, 'made-file'), type: 'FileOrCreate' } },
      ],
      [c],
    );
    await volumeMounts({ pod: p, container: c, podDir });
    expect((await stat(join(host, 'made', 'dir'))).isDirectory()).toBe(true);
    const f = await stat(join(host, 'made-file'));
    expect(f.isFile() && f.size === 0 && (f.mode & 0o777) === 0o644).toBe(true);
    await releasePodMounts(podDir);
    expect(await mountsAtOrBelow(podDir)).toEqual([]);
  });

  it('a subPath inside a hostPath is resolved inside it; a link out of it is refused', async () => {
    await symlink('/etc', join(host, 'dir', 'etc'));
    const vols = [{ name: 'h', hostPath: { path: join(host, 'dir'), type: 'Directory' as const } }];
    const good = app([{ name: 'h', mountPath: '/h', subPath: 'sub' }]);
    const m = await volumeMounts({ pod: pod(vols, [good]), container: good, podDir });
    expect((await stat(m[0]!.source)).ino).toBe((await stat(join(host, 'dir', 'sub'))).ino);
    const bad = app([{ name: 'h', mountPath: '/h', subPath: 'etc' }]);
    await expect(volumeMounts({ pod: pod(vols, [bad]), container: bad, podDir })).rejects.toMatchObject({
      message: expect.stringContaining('is a symlink: refused'),
    });
    await releasePodMounts(podDir);
  });

  it('a whole hostPath keeps the host mounts below it, unless it holds the pods dir (no pin copies pins)', async () => {
    const sub = join(host, 'dir', 'sub');
    await execa('mount', ['-t', 'tmpfs', 'berth-vol-test', sub]);
    await writeFile(join(sub, 'on-tmpfs'), 'x');
    const c = app([{ name: 'h', mountPath: '/h' }]);
    const p = pod([{ name: 'h', hostPath: { path: join(host, 'dir'), type: 'Directory' } }], [c]);
    const [m] = await volumeMounts({ pod: p, container: c, podDir });
    expect(await readFile(join(m!.source, 'sub', 'on-tmpfs'), 'utf8')).toBe('x');
    expect(await mountsAtOrBelow(pinsDir(podDir))).toHaveLength(2);
    await releasePodMounts(podDir);
    expect(await mountsAtOrBelow(pinsDir(podDir))).toEqual([]);
    // the host's own mount is untouched
    expect(await readFile(join(sub, 'on-tmpfs'), 'utf8')).toBe('x');

    // a hostPath above the pods dir: plain binds, so pins never nest however many there are
    const wide = pod(
      [{ name: 'h', hostPath: { path: dir, type: 'Directory' } }],
      [
        app([
          { name: 'h', mountPath: '/a' },
          { name: 'h', mountPath: '/b' },
          { name: 'h', mountPath: '/c' },
        ]),
      ],
    );
    await volumeMounts({ pod: wide, container: wide.spec.containers[0]!, podDir });
    expect(await mountsAtOrBelow(pinsDir(podDir))).toHaveLength(3);
    await releasePodMounts(podDir);
    expect(await mountsAtOrBelow(podDir)).toEqual([]);
  });

  it('removing a pod dir that a crash left with pins unmounts them first and deletes nothing through them', async () => {
    const c = app([
      { name: 'h', mountPath: '/h' },
      { name: 'e', mountPath: '/e', subPath: 'x' },
    ]);
    const p = pod(
      [
        { name: 'h', hostPath: { path: join(host, 'dir'), type: 'Directory' } },
        { name: 'e', emptyDir: {} },
      ],
      [c],
    );
    await ensureEmptyDirs(p, podDir);
    await volumeMounts({ pod: p, container: c, podDir });
    await writeFile(join(host, 'dir', 'precious'), 'keep me');
    // no release: the agent died here; the pod is removed later
    const layout = { configDir: dir, stateDir: dir, runDir: dir, logDir: dir, specDirs: [] };
    await removePodDir(layout, 'uid');
    await expect(stat(podDir)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await mountsAtOrBelow(dir)).toEqual([]);
    expect(await readFile(join(host, 'dir', 'precious'), 'utf8')).toBe('keep me');
    expect((await stat(join(host, 'dir', 'sub'))).isDirectory()).toBe(true);
  });

  it('appc mountPoints go through the same pinning; release leaves the volume intact', async () => {
    const c = app([]);
    const p = pod([{ name: 'work', emptyDir: {} }], [c]);
    await ensureEmptyDirs(p, podDir);
    await writeFile(join(emptyDirPath(podDir, 'work'), 'keep'), 'kept');
    await chmod(join(emptyDirPath(podDir, 'work'), 'keep'), 0o600);
    const mounts = await volumeMounts({
      pod: p,
      container: c,
      podDir,
      mountPoints: [
        { name: 'work', path: '/work', readOnly: true },
        { name: 'nope', path: '/x' },
      ],
    });
    expect(mounts).toEqual([{ destination: '/work', source: join(pinsDir(podDir), 'work', 'app', '0'), readOnly: true }]);
    expect(await readFile(join(mounts[0]!.source, 'keep'), 'utf8')).toBe('kept');
    // a restart pins again without stacking
    await volumeMounts({ pod: p, container: c, podDir, mountPoints: [{ name: 'work', path: '/work' }] });
    expect(await mountsAtOrBelow(podDir)).toHaveLength(1);
    await releasePodMounts(podDir);
    await releasePodMounts(podDir);
    expect(await mountsAtOrBelow(podDir)).toEqual([]);
    expect(await readFile(join(emptyDirPath(podDir, 'work'), 'keep'), 'utf8')).toBe('kept');
  });
});
