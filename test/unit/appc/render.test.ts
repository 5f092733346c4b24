/**
 * Rendering order and path whitelists, ported from appc/spec `pkg/acirenderer/acirenderer_test.go`
 * (same images, same expected file maps; the ACIs are generated here with tar-stream), plus
 * the diamond of SPECS.md §5 and a real extraction of it.
 */
import { lstat, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flattenDependencies } from '../../../src/image/appc/dependencies.js';
import { parseImageManifest, type ImageManifest } from '../../../src/image/appc/manifest.js';
import { renderAciTree, upperWhitelist, type RenderImage } from '../../../src/image/appc/render.js';
import { imageIdOf, makeAci, manifest, type Entry } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-taci-render-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Img {
  imageId: string;
  manifest: ImageManifest;
}

/** Write an ACI; deps name earlier images by ID, as the Go tests do. */
async function img(name: string, entries: Entry[], extra: { pathWhitelist?: string[]; deps?: Img[] } = {}): Promise<Img> {
  const m = manifest(name, {
    ...(extra.pathWhitelist ? { pathWhitelist: extra.pathWhitelist } : {}),
    ...(extra.deps ? { dependencies: extra.deps.map((d) => ({ imageName: d.manifest.name, imageID: d.imageId })) } : {}),
  });
  const aci = await makeAci(m, entries);
  const imageId = imageIdOf(aci);
  await writeFile(join(dir, imageId), aci);
  return { imageId, manifest: parseImageManifest(JSON.stringify(m)) };
}

async function list(top: Img, all: Img[]): Promise<RenderImage[]> {
  const flat = await flattenDependencies(top, async (d) => all.find((i) => i.imageId === d.imageID)!);
  return flat.map(({ image, level }) => ({ imageId: image.imageId, level, pathWhitelist: image.manifest.pathWhitelist }));
}

/** The file map of a render (selection only), as acirenderer's tests compare it. */
async function fileMap(top: Img, all: Img[]): Promise<string[]> {
  const r = await renderAciTree(join(dir, 'unused'), await list(top, all), (id) => join(dir, id), { dryRun: true });
  return r.selected.flat().sort();
}

const f = (name: string, content = 'hello', mode?: number): Entry => ({ name, content, ...(mode ? { mode } : {}) });
const d = (name: string, mode?: number): Entry => ({ name, type: 'directory', ...(mode ? { mode } : {}) });

describe('acirenderer cases', () => {
  it('getUpperPWLM: the whitelist of the highest whitelisting ancestor on the branch', () => {
    const A = { imageId: 'a', level: 0, pathWhitelist: ['/a/path/white/list/level0/1'] };
    const B = { imageId: 'b', level: 1, pathWhitelist: ['/a/path/white/list/level1/1'] };
    const C = { imageId: 'c', level: 2 };
    expect(upperWhitelist([A], 0)).toBeUndefined();
    expect(upperWhitelist([A, B, C], 2)).toEqual(new Set(['rootfs/a/path/white/list/level0/1']));
    // A ---- B --- D, A --- C (pwl): D's branch has no whitelist above it
    const A2 = { imageId: 'a', level: 0 };
    const C2 = { imageId: 'c', level: 1, pathWhitelist: ['/x'] };
    const B2 = { imageId: 'b', level: 1 };
    const D2 = { imageId: 'd', level: 2 };
    expect(upperWhitelist([A2, C2, B2, D2], 3)).toBeUndefined();
  });

  it('TestDirFromParent / TestNewDir: a directory from either image', async () => {
    const p = await img('example.com/test01', [d('rootfs/a')]);
    const a = await img('example.com/test02', [], { deps: [p] });
    expect(await fileMap(a, [p])).toEqual(['rootfs', 'rootfs/a']);
    const p2 = await img('example.com/test01', []);
    const a2 = await img('example.com/test02', [d('rootfs/a')], { deps: [p2] });
    expect(await fileMap(a2, [p2])).toEqual(['rootfs', 'rootfs/a']);
  });

  it('TestDirOverride / TestFileOverride: the upper image wins', async () => {
    const p = await img('example.com/test01', [d('rootfs/a'), f('rootfs/a/file01.txt')]);
    const a = await img('example.com/test02', [d('rootfs/a', 0o700), f('rootfs/a/file01.txt', 'hellohello')], { deps: [p] });
    const r = await renderAciTree(join(dir, 'unused'), await list(a, [p]), (id) => join(dir, id), { dryRun: true });
    expect(r.selected[0]).toEqual(['rootfs', 'rootfs/a', 'rootfs/a/file01.txt']);
    expect(r.selected[1]).toEqual([]);
  });

  it('TestFileOvverideDir: a file over a directory hides what the parent had below it', async () => {
    const p = await img('example.com/test01', [d('rootfs/a/b', 0o700), d('rootfs/a/b/c', 0o700), f('rootfs/a/b/c/file01')]);
    const a = await img('example.com/test02', [f('rootfs/a/b', 'hellohello')], { deps: [p] });
    expect(await fileMap(a, [p])).toEqual(['rootfs', 'rootfs/a/b']);
  });

  it('a symlink to a directory in the upper image is kept; the lower directory and its files are not followed', async () => {
    const p = await img('example.com/test01', [d('rootfs/etc'), f('rootfs/etc/passwd')]);
    const a = await img('example.com/test02', [{ name: 'rootfs/etc', type: 'symlink', linkname: '/usr/etc' }], { deps: [p] });
    expect(await fileMap(a, [p])).toEqual(['rootfs', 'rootfs/etc']);
    // and the other way round: the lower symlink is replaced by the upper directory
    const p2 = await img('example.com/test01', [{ name: 'rootfs/lib', type: 'symlink', linkname: '/elsewhere' }]);
    const a2 = await img('example.com/test02', [f('rootfs/lib/libc.so')], { deps: [p2] });
    expect(await fileMap(a2, [p2])).toEqual(['rootfs', 'rootfs/lib/libc.so']);
  });

  const parentEntries = (): Entry[] => [
    f('rootfs/a/file01.txt'),
    f('rootfs/a/file02.txt'),
    f('rootfs/a/file03.txt'),
    { name: 'rootfs/b/link01.txt', type: 'symlink', linkname: 'file01.txt' },
    d('rootfs/c', 0o700),
    f('rootfs/c/file01.txt', 'hello', 0o700),
    d('rootfs/d', 0o700),
    f('rootfs/d/file01.txt', 'hello', 0o700),
    f('rootfs/e/file01.txt', 'hello', 0o700),
  ];

  it('TestPWLOnlyParent', async () => {
    const p = await img('example.com/test01', parentEntries(), {
      pathWhitelist: ['/a/file01.txt', '/a/file02.txt', '/b/link01.txt', '/c/', '/d/'],
    });
    const a = await img('example.com/test02', [f('rootfs/b/file01.txt', 'hellohello'), f('rootfs/c/file02.txt')], { deps: [p] });
    expect(await fileMap(a, [p])).toEqual(
      [
        'rootfs',
        'rootfs/a/file01.txt',
        'rootfs/a/file02.txt',
        'rootfs/b/link01.txt',
        'rootfs/b/file01.txt',
        'rootfs/c',
        'rootfs/c/file02.txt',
        'rootfs/d',
      ].sort(),
    );
  });

  it('TestPWLOnlyImage', async () => {
    const p = await img('example.com/test01', parentEntries());
    const a = await img('example.com/test02', [f('rootfs/a/file01.txt', 'hellohello'), f('rootfs/c/file02.txt')], {
      deps: [p],
      pathWhitelist: ['/a/file01.txt', '/a/file02.txt', '/b/link01.txt', '/b/file01.txt', '/c/file02.txt', '/d/'],
    });
    // rootfs/d (a directory) survives the upper whitelist because "/d/" is listed; rootfs/c does not
    expect(await fileMap(a, [p])).toEqual(
      ['rootfs', 'rootfs/a/file01.txt', 'rootfs/a/file02.txt', 'rootfs/b/link01.txt', 'rootfs/c/file02.txt', 'rootfs/d'].sort(),
    );
  });

  const twoDeps = async (secondPwl: boolean) => {
    const b = await img(
      'example.com/test01',
      [
        f('rootfs/a/file01.txt'),
        f('rootfs/a/file02.txt'),
        f('rootfs/a/file03.txt'),
        f('rootfs/a/file04.txt'),
        { name: 'rootfs/b/link01.txt', type: 'symlink', linkname: 'file01.txt' },
      ],
      secondPwl
        ? {}
        : { pathWhitelist: ['/a/file01.txt', '/a/file02.txt', '/a/file03.txt', '/a/file04.txt', '/b/link01.txt', '/b/file01.txt'] },
    );
    const c = await img(
      'example.com/test02',
      [f('rootfs/a/file01.txt', 'hellohello'), f('rootfs/a/file02.txt', 'hellohello'), f('rootfs/b/file01.txt')],
      secondPwl ? { pathWhitelist: ['/a/file01.txt', '/a/file02.txt', '/b/file01.txt'] } : {},
    );
    const a = await img(
      'example.com/test03',
      [f('rootfs/a/file01.txt', 'hellohellohello'), f('rootfs/b/file02.txt'), f('rootfs/c/file01.txt')],
      {
        deps: [b, c],
        pathWhitelist: [
          '/a/file01.txt',
          '/a/file02.txt',
          '/a/file03.txt',
          '/b/link01.txt',
          '/b/file01.txt',
          '/b/file02.txt',
          '/c/file01.txt',
        ],
      },
    );
    return { a, b, c };
  };
  const expected2 = [
    'rootfs',
    'rootfs/a/file01.txt',
    'rootfs/a/file02.txt',
    'rootfs/a/file03.txt',
    'rootfs/b/link01.txt',
    'rootfs/b/file01.txt',
    'rootfs/b/file02.txt',
    'rootfs/c/file01.txt',
  ].sort();

  it('Test2Deps1 and Test2Deps2: who provides each file', async () => {
    for (const secondPwl of [false, true]) {
      const { a, b, c } = await twoDeps(secondPwl);
      const imgs = await list(a, [b, c]);
      expect(imgs.map((i) => i.imageId)).toEqual([a.imageId, c.imageId, b.imageId]);
      const r = await renderAciTree(join(dir, 'unused'), imgs, (id) => join(dir, id), { dryRun: true });
      expect(r.selected.flat().sort()).toEqual(expected2);
      expect(r.selected[1]).toEqual(['rootfs/a/file02.txt', 'rootfs/b/file01.txt']); // from C (10-byte file02)
      expect(r.selected[2]).toEqual(['rootfs/a/file03.txt', 'rootfs/b/link01.txt']); // from B
    }
  });

  it('Test3Deps: A (pwl) → B, C → D', async () => {
    const b = await img('example.com/test01', [
      f('rootfs/a/file01.txt'),
      f('rootfs/a/file02.txt'),
      f('rootfs/a/file03.txt'),
      f('rootfs/a/file04.txt'),
      { name: 'rootfs/b/link01.txt', type: 'symlink', linkname: 'file01.txt' },
    ]);
    const dd = await img('example.com/test03', [
      f('rootfs/a/file02.txt'),
      f('rootfs/b/file01.txt'),
      d('rootfs/d', 0o700),
      f('rootfs/d/file01.txt', 'hello', 0o700),
    ]);
    const c = await img(
      'example.com/test02',
      [f('rootfs/a/file01.txt', 'hellohello'), f('rootfs/a/file02.txt', 'hellohello'), f('rootfs/b/file01.txt')],
      { deps: [dd] },
    );
    const a = await img(
      'example.com/test04',
      [f('rootfs/a/file01.txt', 'hellohellohello'), f('rootfs/b/file02.txt'), f('rootfs/c/file01.txt')],
      {
        deps: [b, c],
        pathWhitelist: [
          '/a/file01.txt',
          '/a/file02.txt',
          '/a/file03.txt',
          '/b/link01.txt',
          '/b/file01.txt',
          '/b/file02.txt',
          '/c/file01.txt',
        ],
      },
    );
    expect(await fileMap(a, [b, c, dd])).toEqual(expected2);
  });

  it('TestEmptyRootFsDir: an empty rootfs, with and without a whitelist', async () => {
    const a = await img('example.com/test-empty-rootfs', [d('rootfs', 0o700)]);
    expect(await fileMap(a, [])).toEqual(['rootfs']);
    const b = await img('example.com/test-empty-rootfs-pwl', [d('rootfs', 0o700)], { pathWhitelist: ['/foo'] });
    expect(await fileMap(b, [])).toEqual(['rootfs']);
  });
});

describe('the diamond A→[B,C], B,C→[D] with a whitelist', () => {
  it('lists D,B,D,C,A bottom-up and renders exactly the whitelisted winners', async () => {
    const D = await img('example.com/d', [
      d('rootfs/etc'),
      f('rootfs/etc/os', 'from-d'),
      f('rootfs/etc/d-only', 'd'),
      f('rootfs/junk', 'junk'),
      d('rootfs/lib'),
      f('rootfs/lib/x', 'd'),
    ]);
    const B = await img('example.com/b', [f('rootfs/etc/os', 'from-b'), f('rootfs/b', 'b')], { deps: [D] });
    const C = await img('example.com/c', [f('rootfs/etc/os', 'from-c'), { name: 'rootfs/lib', type: 'symlink', linkname: '/usr/lib' }], {
      deps: [D],
    });
    const A = await img('example.com/a', [f('rootfs/a', 'a')], {
      deps: [B, C],
      pathWhitelist: ['/a', '/b', '/etc/os', '/etc/d-only', '/lib', '/lib/x', '/etc'],
    });
    const imgs = await list(A, [B, C, D]);
    const byId = new Map([A, B, C, D].map((i) => [i.imageId, i.manifest.name]));
    expect(imgs.map((i) => byId.get(i.imageId)).reverse()).toEqual([
      'example.com/d',
      'example.com/b',
      'example.com/d',
      'example.com/c',
      'example.com/a',
    ]);
    const root = join(dir, 'diamond');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(root);
    await renderAciTree(root, imgs, (id) => join(dir, id), { privileged: false });
    expect(await readFile(join(root, 'etc/os'), 'utf8')).toBe('from-c'); // C is rendered after B
    expect(await readFile(join(root, 'etc/d-only'), 'utf8')).toBe('d');
    expect(await readFile(join(root, 'a'), 'utf8')).toBe('a');
    expect(await readFile(join(root, 'b'), 'utf8')).toBe('b');
    expect(await readlink(join(root, 'lib'))).toBe('/usr/lib'); // C's symlink replaces D's directory
    await expect(lstat(join(root, 'junk'))).rejects.toThrow(/ENOENT/); // not whitelisted
  });

  it('keeps long (pax) names below the rootfs when re-packing', async () => {
    const long = `rootfs/${'deep-directory-name/'.repeat(8)}file-with-a-long-name.txt`;
    const x = await img('example.com/long', [
      f(long, 'long'),
      { name: `rootfs/${'l'.repeat(120)}`, type: 'symlink', linkname: `/${'t'.repeat(120)}` },
    ]);
    const root = join(dir, 'long');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(root);
    await renderAciTree(root, [{ imageId: x.imageId, level: 0 }], (id) => join(dir, id), { privileged: false });
    expect(await readFile(join(root, long.slice('rootfs/'.length)), 'utf8')).toBe('long');
    expect(await readlink(join(root, 'l'.repeat(120)))).toBe(`/${'t'.repeat(120)}`);
  });

  it('refuses an image whose stored bytes do not match its ID', async () => {
    const x = await img('example.com/x', [f('rootfs/x')]);
    const aci = await readFile(join(dir, x.imageId));
    aci[aci.length - 2000]! ^= 1;
    const bad = 'sha512-' + '0'.repeat(128);
    await writeFile(join(dir, bad), aci);
    await expect(renderAciTree(join(dir, 'unused'), [{ imageId: bad, level: 0 }], (id) => join(dir, id), { dryRun: true })).rejects.toThrow(
      /corrupt/,
    );
  });
});
