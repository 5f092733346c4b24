import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadUserDb, parseGroup, parsePasswd, parseQuantity } from '../../../src/runtime/index.js';
import { resolveInRoot } from '../../../src/runtime/users.js';

describe('resolveInRoot keeps symlinks inside the rootfs', () => {
  let root = '';
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-unit-scoped-'));
    await mkdir(join(root, 'real/etc'), { recursive: true });
    await writeFile(join(root, 'real/etc/passwd'), 'inner:x:7:7::/:/bin/sh\n');
    await symlink('/real/etc', join(root, 'etc'));
    await symlink('../../../../../../../../real', join(root, 'up'));
    await symlink('loop2', join(root, 'loop1'));
    await symlink('loop1', join(root, 'loop2'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it.each([
    ['/etc/passwd', 'real/etc/passwd'],
    ['/up/etc', 'real/etc'],
    ['/../../etc/passwd', 'real/etc/passwd'],
    ['/missing/x', 'missing/x'],
  ])('%s → <root>/%s', (p, expected) => expect(resolveInRoot(root, p)).toBe(join(root, expected)));

  it('a symlink loop is an error', () => expect(() => resolveInRoot(root, '/loop1/x')).toThrow(/too many symlinks/));

  it('loadUserDb reads through the scoped symlinks, and missing files are empty', async () => {
    expect(loadUserDb(root).passwd).toEqual([{ name: 'inner', uid: 7, gid: 7, home: '/' }]);
    expect(loadUserDb(join(root, 'nowhere'))).toEqual({ passwd: [], group: [] });
  });
});

describe('passwd and group parsing', () => {
  it('skips comments, blanks and malformed lines', () => {
    expect(parsePasswd('# c\n\nroot:x:0:0:root:/root:/bin/sh\nbad:x:y:0\nshort:x\n')).toEqual([
      { name: 'root', uid: 0, gid: 0, home: '/root' },
    ]);
    expect(parseGroup('wheel:x:10:a, b\nempty:x:11:\nbad:x:z:\n')).toEqual([
      { name: 'wheel', gid: 10, members: ['a', 'b'] },
      { name: 'empty', gid: 11, members: [] },
    ]);
  });
});

describe('parseQuantity', () => {
  it.each([
    ['100m', 0.1],
    ['2', 2],
    ['1.5', 1.5],
    ['64Mi', 64 * 2 ** 20],
    ['1G', 1e9],
    ['1e3', 1000],
    [3, 3],
  ] as const)('%s', (q, n) => expect(parseQuantity(q)).toBeCloseTo(n));
  it('rejects garbage', () => expect(() => parseQuantity('lots')).toThrow(/invalid quantity/));
});
