/**
 * Tar safety and changeset semantics of the renderer (SEC-01..06, IMG-11..16), ported by name
 * from containerd `pkg/archive/tar_test.go` TestBreakouts and umoci
 * `oci/layer/tar_extract_test.go`. Each case applies generated tars to `<tmp>/root` and
 * asserts the exact resulting tree and that nothing outside the root changed.
 */
import { chmod, link, lstat, mkdir, mkdtemp, readFile, rm, stat, symlink as fsSymlink, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { applyTar } from '../../../src/image/index.js';
import { hasCode } from '../../../src/common/index.js';
import { chunks, dir, file, hardlink, makeTar, snapshot, symlink } from './helpers.js';
import type { TarEntry } from './helpers.js';

const base = await mkdtemp(join(tmpdir(), 'berth-tar-safety-'));
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

let n = 0;
/** A fresh sandbox: `<sandbox>/root` is the tree, siblings are sentinels that must never change. */
async function sandbox(): Promise<{ sb: string; root: string }> {
  const sb = join(base, `case-${++n}`);
  const root = join(sb, 'root');
  await mkdir(root, { recursive: true });
  await mkdir(join(sb, 'etc'));
  await writeFile(join(sb, 'etc', 'passwd'), 'outside');
  await writeFile(join(sb, 'file'), 'host content');
  return { sb, root };
}

async function outside(sb: string): Promise<Record<string, string>> {
  const all = await snapshot(sb);
  return Object.fromEntries(Object.entries(all).filter(([k]) => k !== 'root' && !k.startsWith('root/')));
}

async function apply(root: string, entries: TarEntry[]): Promise<void> {
  await applyTar(root, chunks(await makeTar(entries)));
}

async function ino(p: string): Promise<number> {
  return (await lstat(p)).ino;
}

interface BreakoutCase {
  name: string;
  lower?: (root: string) => Promise<void>;
  entries: TarEntry[];
  tree?: Record<string, string>;
  validate?: (root: string) => Promise<void>;
  error?: boolean;
}

const sameFile = (a: string, b: string) => async (root: string) => {
  expect((await stat(join(root, a))).ino).toBe((await stat(join(root, b))).ino);
};

const breakouts: BreakoutCase[] = [
  {
    name: 'SymlinkAbsolute',
    entries: [dir('etc'), symlink('/etc', 'localetc'), file('/localetc/unbroken', 'unbroken')],
    tree: { etc: 'dir', 'etc/unbroken': 'file:unbroken', localetc: 'symlink:/etc' },
  },
  {
    name: 'SymlinkUpAndOut',
    entries: [dir('etc'), dir('dummy'), symlink('/dummy/../etc', 'localetc'), file('/localetc/unbroken', 'unbroken')],
    tree: { dummy: 'dir', etc: 'dir', 'etc/unbroken': 'file:unbroken', localetc: 'symlink:/dummy/../etc' },
  },
  {
    name: 'SymlinkMultipleAbsolute',
    entries: [
      dir('etc'),
      dir('dummy'),
      symlink('/etc', '/dummy/etc'),
      symlink('/dummy/etc', 'localetc'),
      file('/dummy/etc/unbroken', 'unbroken'),
    ],
    tree: { dummy: 'dir', 'dummy/etc': 'symlink:/etc', etc: 'dir', 'etc/unbroken': 'file:unbroken', localetc: 'symlink:/dummy/etc' },
  },
  {
    name: 'SymlinkMultipleRelative',
    entries: [
      dir('etc'),
      dir('dummy'),
      symlink('/etc', '/dummy/etc'),
      symlink('./dummy/etc', 'localetc'),
      file('/dummy/etc/unbroken', 'unbroken'),
    ],
    tree: { dummy: 'dir', 'dummy/etc': 'symlink:/etc', etc: 'dir', 'etc/unbroken': 'file:unbroken', localetc: 'symlink:./dummy/etc' },
  },
  {
    name: 'SymlinkEmptyFile',
    entries: [dir('etc'), file('etc/emptied', 'notempty'), symlink('/etc', 'localetc'), file('/localetc/emptied', '')],
    tree: { etc: 'dir', 'etc/emptied': 'file:', localetc: 'symlink:/etc' },
  },
  {
    name: 'HardlinkRelative',
    entries: [
      dir('etc', 0o770),
      file('/etc/passwd', 'inside'),
      dir('breakouts'),
      symlink('../../etc', 'breakouts/d1'),
      hardlink('/breakouts/d1/passwd', 'breakouts/mypasswd'),
    ],
    tree: {
      breakouts: 'dir',
      'breakouts/d1': 'symlink:../../etc',
      'breakouts/mypasswd': 'file:inside',
      etc: 'dir',
      'etc/passwd': 'file:inside',
    },
    validate: sameFile('breakouts/mypasswd', 'etc/passwd'),
  },
  {
    name: 'HardlinkDownAndOut',
    entries: [
      dir('etc', 0o770),
      file('/etc/passwd', 'inside'),
      dir('breakouts'),
      dir('downandout'),
      symlink('../downandout/../../etc', 'breakouts/d1'),
      hardlink('/breakouts/d1/passwd', 'breakouts/mypasswd'),
    ],
    tree: {
      breakouts: 'dir',
      'breakouts/d1': 'symlink:../downandout/../../etc',
      'breakouts/mypasswd': 'file:inside',
      downandout: 'dir',
      etc: 'dir',
      'etc/passwd': 'file:inside',
    },
    validate: sameFile('breakouts/mypasswd', 'etc/passwd'),
  },
  {
    name: 'HardlinkAbsolute',
    entries: [dir('etc', 0o770), file('/etc/passwd', 'inside'), symlink('/etc', 'localetc'), hardlink('/localetc/passwd', 'localpasswd')],
    tree: { etc: 'dir', 'etc/passwd': 'file:inside', localetc: 'symlink:/etc', localpasswd: 'file:inside' },
    validate: sameFile('localpasswd', 'etc/passwd'),
  },
  {
    name: 'HardlinkRelativeLong',
    entries: [
      dir('etc', 0o770),
      file('/etc/passwd', 'inside'),
      symlink('../../../../../../../etc', 'localetc'),
      hardlink('/localetc/passwd', 'localpasswd'),
    ],
    validate: sameFile('localpasswd', 'etc/passwd'),
  },
  {
    name: 'HardlinkRelativeUpAndOut',
    entries: [
      dir('etc', 0o770),
      file('/etc/passwd', 'inside'),
      symlink('upandout/../../../etc', 'localetc'),
      hardlink('/localetc/passwd', 'localpasswd'),
    ],
    validate: sameFile('localpasswd', 'etc/passwd'),
  },
  {
    name: 'HardlinkDirectRelative',
    entries: [dir('etc', 0o770), file('/etc/passwd', 'inside'), hardlink('../../../../../etc/passwd', 'localpasswd')],
    tree: { etc: 'dir', 'etc/passwd': 'file:inside', localpasswd: 'file:inside' },
    validate: sameFile('localpasswd', 'etc/passwd'),
  },
  {
    name: 'HardlinkDirectAbsolute',
    entries: [dir('etc', 0o770), file('/etc/passwd', 'inside'), hardlink('/etc/passwd', 'localpasswd')],
    validate: sameFile('localpasswd', 'etc/passwd'),
  },
  {
    // containerd skips it; berth refuses a non-directory entry for the root (SEC-05, as umoci).
    name: 'SymlinkParentDirectory',
    entries: [dir('etc', 0o770), file('/etc/passwd', 'inside'), symlink('/etc/', '..'), hardlink('/etc/passwd', 'localpasswd')],
    error: true,
  },
  {
    name: 'SymlinkEmptyFilename',
    entries: [dir('etc', 0o770), file('/etc/passwd', 'inside'), symlink('/etc/', ''), hardlink('/etc/passwd', 'localpasswd')],
    error: true,
  },
  {
    name: 'SymlinkParentRelative',
    entries: [
      dir('etc', 0o770),
      file('/etc/passwd', 'inside'),
      symlink('/etc/', 'localetc/sub/..'),
      hardlink('/etc/passwd', '/localetc/localpasswd'),
    ],
    tree: { etc: 'dir', 'etc/localpasswd': 'file:inside', 'etc/passwd': 'file:inside', localetc: 'symlink:/etc/' },
    validate: sameFile('etc/localpasswd', 'etc/passwd'),
  },
  {
    name: 'SymlinkSlashEnded',
    entries: [dir('etc', 0o770), file('/etc/passwd', 'inside'), dir('localetc/', 0o770), hardlink('/etc/passwd', '/localetc/localpasswd')],
    validate: sameFile('localetc/localpasswd', 'etc/passwd'),
  },
  {
    name: 'SymlinkOverrideDirectory',
    lower: async (root) => {
      await mkdir(join(root, 'etc'));
      await writeFile(join(root, 'etc/passwd'), 'inside');
      await mkdir(join(root, 'localetc'));
    },
    entries: [symlink('/etc', 'localetc'), hardlink('/etc/passwd', '/localetc/localpasswd')],
    tree: { etc: 'dir', 'etc/localpasswd': 'file:inside', 'etc/passwd': 'file:inside', localetc: 'symlink:/etc' },
    validate: sameFile('etc/localpasswd', 'etc/passwd'),
  },
  {
    name: 'SymlinkOverrideDirectoryRelative',
    lower: async (root) => {
      await mkdir(join(root, 'etc'));
      await writeFile(join(root, 'etc/passwd'), 'inside');
      await mkdir(join(root, 'localetc'));
    },
    entries: [symlink('../../etc', 'localetc'), hardlink('/etc/passwd', '/localetc/localpasswd')],
    tree: { etc: 'dir', 'etc/localpasswd': 'file:inside', 'etc/passwd': 'file:inside', localetc: 'symlink:../../etc' },
  },
  {
    name: 'DirectoryOverrideSymlink',
    lower: async (root) => {
      await mkdir(join(root, 'etc'));
      await writeFile(join(root, 'etc/passwd'), 'inside');
      await fsSymlink('/etc', join(root, 'localetc'));
    },
    entries: [dir('/localetc/'), hardlink('/etc/passwd', '/localetc/localpasswd')],
    tree: { etc: 'dir', 'etc/passwd': 'file:inside', localetc: 'dir', 'localetc/localpasswd': 'file:inside' },
    validate: sameFile('localetc/localpasswd', 'etc/passwd'),
  },
  {
    name: 'DirectoryOverrideSymlinkAndHardlink',
    lower: async (root) => {
      await mkdir(join(root, 'etc'));
      await writeFile(join(root, 'etc/passwd'), 'inside');
      await fsSymlink('etc', join(root, 'localetc'));
      await link(join(root, 'etc/passwd'), join(root, 'etc/localpasswd'));
    },
    entries: [dir('/localetc/'), file('/localetc/localpasswd', 'different')],
    tree: {
      etc: 'dir',
      'etc/localpasswd': 'file:inside',
      'etc/passwd': 'file:inside',
      localetc: 'dir',
      'localetc/localpasswd': 'file:different',
    },
  },
  { name: 'WhiteoutRootParent', lower: etcLower, entries: [file('.wh...')], error: true },
  { name: 'WhiteoutParent', lower: etcLower, entries: [file('etc/.wh...')], error: true },
  { name: 'WhiteoutRoot', lower: etcLower, entries: [file('.wh..')], error: true },
  { name: 'WhiteoutCurrentDirectory', lower: etcLower, entries: [file('etc/.wh..')], error: true },
  {
    name: 'WhiteoutSymlink',
    lower: async (root) => {
      await etcLower(root, 'all users');
      await fsSymlink('/etc', join(root, 'localetc'));
    },
    entries: [file('.wh.localetc')],
    tree: { etc: 'dir', 'etc/passwd': 'file:all users' },
  },
  {
    name: 'WhiteoutSymlinkPath',
    lower: async (root) => {
      await etcLower(root, 'all users');
      await writeFile(join(root, 'etc/whitedout'), 'ahhhh whiteout');
      await fsSymlink('/etc', join(root, 'localetc'));
    },
    entries: [file('localetc/.wh.whitedout')],
    tree: { etc: 'dir', 'etc/passwd': 'file:all users', localetc: 'symlink:/etc' },
  },
  {
    name: 'WhiteoutDirectoryName',
    lower: async (root) => {
      await etcLower(root, 'all users');
      await fsSymlink('/etc', join(root, 'localetc'));
    },
    entries: [file('.wh.etc/somefile', 'non-empty')],
    tree: { '.wh.etc': 'dir', '.wh.etc/somefile': 'file:non-empty', etc: 'dir', 'etc/passwd': 'file:all users', localetc: 'symlink:/etc' },
  },
  {
    name: 'WhiteoutDeadSymlinkParent',
    lower: async (root) => {
      await etcLower(root, 'all users');
      await fsSymlink('/dne', join(root, 'localetc'));
    },
    entries: [file('localetc/.wh.etc')],
    tree: { etc: 'dir', 'etc/passwd': 'file:all users', localetc: 'symlink:/dne' },
  },
  {
    name: 'WhiteoutRelativePath',
    lower: async (root) => {
      await etcLower(root, 'all users');
      await fsSymlink('/dne', join(root, 'localetc'));
    },
    entries: [file('dne/../.wh.etc')],
    tree: { localetc: 'symlink:/dne' },
  },
  {
    name: 'HardlinkSymlinkBeforeCreateTarget',
    entries: [
      dir('etc', 0o770),
      symlink('/etc/passwd', 'localpasswd'),
      hardlink('localpasswd', 'localpasswd-dup'),
      file('/etc/passwd', 'after'),
    ],
    tree: { etc: 'dir', 'etc/passwd': 'file:after', localpasswd: 'symlink:/etc/passwd', 'localpasswd-dup': 'symlink:/etc/passwd' },
    validate: async (root) => expect(await ino(join(root, 'localpasswd-dup'))).toBe(await ino(join(root, 'localpasswd'))),
  },
  {
    name: 'HardlinkSymlinkRelative',
    entries: [
      dir('etc', 0o770),
      file('/etc/passwd', 'inside'),
      symlink('../../../../../etc/passwd', 'passwdlink'),
      hardlink('/passwdlink', 'localpasswd'),
    ],
    tree: {
      etc: 'dir',
      'etc/passwd': 'file:inside',
      localpasswd: 'symlink:../../../../../etc/passwd',
      passwdlink: 'symlink:../../../../../etc/passwd',
    },
    validate: async (root) => expect(await ino(join(root, 'localpasswd'))).toBe(await ino(join(root, 'passwdlink'))),
  },
  {
    name: 'HardlinkSymlinkAbsolute',
    entries: [
      dir('etc', 0o770),
      file('/etc/passwd', 'inside'),
      symlink('/etc/passwd', 'passwdlink'),
      hardlink('/passwdlink', 'localpasswd'),
    ],
    tree: { etc: 'dir', 'etc/passwd': 'file:inside', localpasswd: 'symlink:/etc/passwd', passwdlink: 'symlink:/etc/passwd' },
  },
];

async function etcLower(root: string, content = 'inside'): Promise<void> {
  await mkdir(join(root, 'etc'), { mode: 0o755 });
  await writeFile(join(root, 'etc/passwd'), content);
}

describe('containerd TestBreakouts (SEC-01..05, IMG-11/12/14)', () => {
  it.each(breakouts)('$name', async (c) => {
    const { sb, root } = await sandbox();
    if (c.lower) await c.lower(root);
    const before = await outside(sb);
    const run = apply(root, c.entries);
    if (c.error) {
      const err = await run.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(hasCode(err, 'InvalidArgument')).toBe(true);
    } else {
      await run;
      if (c.tree) expect(await snapshot(root)).toEqual(c.tree);
      if (c.validate) await c.validate(root);
    }
    expect(await outside(sb)).toEqual(before);
    expect(existsSync('/etc/unbroken')).toBe(false);
  });

  it('HardlinkSymlinkChmod: a hardlink to a symlink pointing outside never changes the target', async () => {
    const { sb, root } = await sandbox();
    const p = join(sb, 'perm400');
    await writeFile(p, '...', { mode: 0o400 });
    const ep = join(sb, 'also-exists-outside-root');
    await writeFile(ep, '...', { mode: 0o640 });
    const before = await outside(sb);
    await apply(root, [symlink(p, ep), hardlink(ep, 'sketchylink')]);
    expect(((await lstat(p)).mode & 0o777).toString(8)).toBe('400');
    expect(((await lstat(ep)).mode & 0o777).toString(8)).toBe('640');
    expect(await outside(sb)).toEqual(before);
    expect((await lstat(join(root, 'sketchylink'))).isSymbolicLink()).toBe(true);
  });
});

describe('umoci tar_extract_test', () => {
  it.each([
    ['GarbagePrefix', '/..'],
    ['DotDotPrefix', '..'],
  ])('TestUnpackEntrySanitiseScoping %s', async (_name, prefix) => {
    const { sb, root } = await sandbox();
    await apply(root, [file(`${prefix}/file`, 'container content')]);
    expect(await readFile(join(root, 'file'), 'utf8')).toBe('container content');
    expect(await readFile(join(sb, 'file'), 'utf8')).toBe('host content');
  });

  it.each([
    ['RootPrefix', '/'],
    ['GarbagePrefix1', '/../'],
    ['GarbagePrefix2', '/../../../../../../../../../../../../../../../'],
    ['GarbagePrefix3', '/./.././.././.././.././.././.././.././.././../'],
    ['DotDotPrefix', '..'],
  ])('TestUnpackEntrySymlinkScoping %s', async (_name, prefix) => {
    const { sb, root } = await sandbox();
    await fsSymlink(prefix, join(root, 'link'));
    await apply(root, [file('link/file', 'container content')]);
    expect(await readFile(join(root, 'file'), 'utf8')).toBe('container content');
    expect(await readFile(join(sb, 'file'), 'utf8')).toBe('host content');
  });

  it('TestUnpackEntryParentDir', async () => {
    const { root } = await sandbox();
    await apply(root, [file('a/b/c/file', 'creating parentdirs')]);
    expect(await snapshot(root)).toEqual({ a: 'dir', 'a/b': 'dir', 'a/b/c': 'dir', 'a/b/c/file': 'file:creating parentdirs' });
  });

  it('TestUnpackEntryNonDirParent', async () => {
    const { root } = await sandbox();
    await apply(root, [file('nondir'), file('nondir/foo/bar/baz', 'x')]);
    expect(await snapshot(root)).toEqual({ nondir: 'dir', 'nondir/foo': 'dir', 'nondir/foo/bar': 'dir', 'nondir/foo/bar/baz': 'file:x' });
  });

  it.each([
    ['FileInRoot', 'rootpath', false],
    ['HiddenFileInRoot', '.hiddenroot', false],
    ['FileInSubdir', 'some/path/file', false],
    ['HiddenFileInSubdir', 'another/path/.hiddenfile', false],
    ['DirInRoot', 'rootpath', true],
    ['HiddenDirInRoot', '.hiddenroot', true],
    ['DirInSubdir', 'some/path/dir', true],
    ['HiddenDirInSubdir', 'another/path/.hiddendir', true],
  ] as const)('TestUnpackEntryWhiteout %s', async (_name, path, isDir) => {
    const { root } = await sandbox();
    const slash = path.lastIndexOf('/');
    const rawDir = slash < 0 ? '' : path.slice(0, slash);
    const rawFile = path.slice(slash + 1);
    await mkdir(join(root, rawDir), { recursive: true });
    if (isDir) {
      await mkdir(join(root, path));
      await writeFile(join(root, path, 'file1'), 'some value');
      await mkdir(join(root, path, '.subdir'));
      await writeFile(join(root, path, '.subdir', 'file3'), 'some value');
    } else {
      await writeFile(join(root, path), 'some value');
    }
    await utimes(join(root, rawDir), 789, 123);
    await apply(root, [file(`${rawDir ? `${rawDir}/` : ''}.wh.${rawFile}`)]);
    expect(existsSync(join(root, path))).toBe(false);
    const st = await lstat(join(root, rawDir));
    expect(st.mtimeMs).toBe(123_000); // the parent's metadata is kept
  });

  // TestUnpackOpaqueWhiteout: lower entries in one layer, upper entries plus an opaque
  // whiteout of the directory in the next; upper entries survive wherever the marker sits (IMG-13).
  type D = [path: string, kind: 'f' | 'd' | 'l', upper: boolean, survive: boolean, linkname?: string];
  const opaqueCases: Array<[string, D[]]> = [
    [
      'OnlyLower',
      [
        ['fileA', 'f', false, false],
        ['dir', 'd', false, false],
        ['dir/file', 'f', false, false],
        ['link', 'l', false, false, '../../../etc/shadow'],
      ],
    ],
    [
      'MissingUpperAncestor',
      [
        ['some', 'd', false, true],
        ['some/dir', 'd', false, true],
        ['some/dir/somewhere', 'f', true, true],
        ['another', 'd', false, false],
        ['another/dir', 'd', false, false],
        ['another/dir/somewhere', 'f', false, false],
      ],
    ],
    [
      'UpperWhiteout',
      [
        ['.wh.fileB', 'f', true, true],
        ['fileA', 'f', true, true],
        ['fileB', 'f', true, true],
        ['fileC', 'f', false, false],
        ['.wh.fileA', 'f', true, true],
        ['.wh.fileC', 'f', true, true],
      ],
    ],
    [
      'UpperDirWhiteout',
      [
        ['.wh.dir2', 'f', true, true],
        ['file', 'f', false, false],
        ['dir1', 'd', true, true],
        ['dir1/file', 'f', true, true],
        ['dir1/link', 'l', false, false, '../badlink'],
        ['dir1/verybadlink', 'l', true, true, '../../../../../../../../../../../../etc/shadow'],
        ['dir1/verybadlink2', 'l', false, false, '/../../../../../../../../../../../../etc/shadow'],
        ['.wh.dir1', 'f', true, true],
        ['dir2', 'd', true, true],
        ['dir2/file', 'f', true, true],
        ['dir2/link', 'l', false, false, '../badlink'],
      ],
    ],
  ];
  const toEntry = (sub: string, [path, kind, , , linkname]: D): TarEntry =>
    kind === 'd' ? dir(`${sub}/${path}`) : kind === 'l' ? symlink(linkname ?? '', `${sub}/${path}`) : file(`${sub}/${path}`, path);
  for (const where of ['end', 'start', 'middle'] as const) {
    it.each(opaqueCases)(`TestUnpackOpaqueWhiteout %s (marker at the ${where})`, async (_name, dentries) => {
      const { sb, root } = await sandbox();
      const before = await outside(sb);
      const sub = 'test-subdir';
      await apply(root, [dir(sub), ...dentries.filter((d) => !d[2]).map((d) => toEntry(sub, d))]);
      const upper = dentries.filter((d) => d[2]).map((d) => toEntry(sub, d));
      const marker = file(`${sub}/.wh..wh..opq`);
      const at = where === 'end' ? upper.length : where === 'start' ? 0 : Math.floor(upper.length / 2);
      upper.splice(at, 0, marker);
      await apply(root, upper);
      for (const [path, , , survive] of dentries) {
        if (path.split('/').pop()?.startsWith('.wh.')) continue;
        expect(existsSync(join(root, sub, path)) || (await lstat(join(root, sub, path)).catch(() => undefined)) !== undefined, path).toBe(
          survive,
        );
      }
      expect((await lstat(join(root, sub))).isDirectory()).toBe(true);
      expect(await outside(sb)).toEqual(before);
    });
  }

  it('TestUnpackHardlink: hardlinks to files and to symlinks, owners of hardlinks not applied', async () => {
    const { root } = await sandbox();
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    await apply(root, [
      file('regular', "some content we won't check"),
      { ...hardlink('/regular', 'hard link'), uid: uid + 1337, gid: gid + 2020 },
      symlink('../../../regular', 'link'),
      { ...hardlink('../../../link', 'hard link to symlink'), uid: uid + 1337, gid: gid + 2020 },
    ]);
    const reg = await lstat(join(root, 'regular'));
    const sym = await lstat(join(root, 'link'));
    const a = await lstat(join(root, 'hard link'));
    const b = await lstat(join(root, 'hard link to symlink'));
    expect(a.ino).toBe(reg.ino);
    expect(b.ino).toBe(sym.ino);
    expect(b.ino).not.toBe(reg.ino);
    expect(b.isSymbolicLink()).toBe(true);
    expect([reg.uid, reg.gid, sym.uid, sym.gid]).toEqual([uid, gid, uid, gid]);
  });
});

describe('changeset semantics (IMG-11, IMG-16)', () => {
  let root: string;
  beforeEach(async () => {
    root = (await sandbox()).root;
  });

  it('dir over dir keeps the directory and its lower children; file over dir replaces it', async () => {
    await apply(root, [dir('a'), file('a/lower', 'l'), dir('b'), file('b/x', 'x')]);
    await apply(root, [dir('a', 0o700), file('b', 'now a file')]);
    expect(await snapshot(root, { modes: true })).toEqual({ a: 'dir 700', 'a/lower': 'file:l 644', b: 'file:now a file 644' });
  });

  it('symlink over directory and directory over file are unlink + recreate', async () => {
    await apply(root, [dir('a'), file('a/f', 'f'), file('b', 'b')]);
    await apply(root, [symlink('/x', 'a'), dir('b')]);
    expect(await snapshot(root)).toEqual({ a: 'symlink:/x', b: 'dir' });
  });

  it('duplicate entries: the last one wins', async () => {
    await apply(root, [file('f', 'one'), file('f', 'two'), dir('d'), dir('d')]);
    expect(await snapshot(root)).toEqual({ d: 'dir', f: 'file:two' });
  });

  it('directory mtimes are applied last; file modes and mtimes as in the header', async () => {
    const dirTime = new Date(1_000_000_000_000);
    await apply(root, [
      { ...dir('d'), mtime: dirTime },
      { ...file('d/f', 'x', 0o640), mtime: new Date(1_100_000_000_000) },
    ]);
    expect((await lstat(join(root, 'd'))).mtimeMs).toBe(dirTime.getTime());
    const f = await lstat(join(root, 'd/f'));
    expect(f.mtimeMs).toBe(1_100_000_000_000);
    expect(f.mode & 0o7777).toBe(0o640);
  });

  it.skipIf(process.getuid?.() !== 0)('chown by number, then chmod, so setuid survives (root)', async () => {
    await apply(root, [
      { ...file('suid', 'x', 0o4755), uid: 1234, gid: 5678 },
      { ...symlink('suid', 'ln'), uid: 42, gid: 43 },
    ]);
    const st = await lstat(join(root, 'suid'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1234, 5678, 0o4755]);
    const ln = await lstat(join(root, 'ln'));
    expect([ln.uid, ln.gid]).toEqual([42, 43]);
  });

  it('a root directory entry sets the root attributes; a root file entry is refused (SEC-05)', async () => {
    await apply(root, [dir('./', 0o750)]);
    expect((await stat(root)).mode & 0o777).toBe(process.getuid?.() === 0 ? 0o750 : 0o750 | 0o700);
    await expect(apply(root, [file('./')])).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(apply(root, [symlink('/etc', '/')])).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('refuses more entries than the limit and more bytes than the limit (SEC-06)', async () => {
    const tarBuf = await makeTar([file('a', 'x'.repeat(1000)), file('b'), file('c')]);
    await expect(applyTar(root, chunks(tarBuf), { maxEntries: 2 })).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(applyTar(root, chunks(tarBuf, 512), { maxBytes: 1024 })).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('rejects unknown type flags (IMG-16)', async () => {
    const tarBuf = await makeTar([file('sparse', 'x')]);
    tarBuf[156] = 'S'.charCodeAt(0);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (tarBuf[i] ?? 0);
    tarBuf.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    await expect(applyTar(root, chunks(tarBuf))).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(existsSync(join(root, 'sparse'))).toBe(false);
  });

  it('returns the DiffID of the uncompressed stream', async () => {
    const tarBuf = await makeTar([file('a', 'x')]);
    const { createHash } = await import('node:crypto');
    const r = await applyTar(root, chunks(tarBuf));
    expect(r.diffId).toBe(`sha256:${createHash('sha256').update(tarBuf).digest('hex')}`);
    expect(r.entries).toBe(1);
  });

  it('a symlink loop in a parent is refused, not followed forever', async () => {
    await fsSymlink('loop', join(root, 'loop'));
    await expect(apply(root, [file('loop/x', 'x')])).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('skips devices without privileges (IMG-15) and keeps going', async () => {
    if (process.getuid?.() === 0) return; // covered by the integration tier as root
    await apply(root, [{ name: 'dev/null', type: 'character-device' }, file('after', 'ok')]);
    expect(await snapshot(root)).toEqual({ after: 'file:ok', dev: 'dir' });
  });

  it('chmod of a read-only lower directory does not stop later layers (rootless keeps u+rwx)', async () => {
    await apply(root, [dir('ro', 0o555)]);
    await apply(root, [file('ro/f', 'x')]);
    expect(await readFile(join(root, 'ro/f'), 'utf8')).toBe('x');
    await chmod(join(root, 'ro'), 0o755);
  });
});
