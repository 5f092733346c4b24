import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEntryPath, secureJoin } from '../../../src/image/index.js';

describe('cleanEntryPath (SEC-01)', () => {
  it.each([
    ['etc/passwd', 'etc/passwd'],
    ['./etc/passwd', 'etc/passwd'],
    ['/etc/passwd', 'etc/passwd'],
    ['../../etc/passwd', 'etc/passwd'],
    ['/../etc/./x/../passwd', 'etc/passwd'],
    ['dir/', 'dir'],
    ['./', ''],
    ['', ''],
    ['..', ''],
    ['a//b', 'a/b'],
  ])('%j → %j', (name, want) => expect(cleanEntryPath(name)).toBe(want));
});

describe('secureJoin (SEC-02)', () => {
  let root: string;
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'berth-securejoin-'));
    root = join(base, 'root');
    await mkdir(join(root, 'etc'), { recursive: true });
    await mkdir(join(root, 'a/b'), { recursive: true });
    await writeFile(join(root, 'file'), 'x');
    await symlink('/etc', join(root, 'abs'));
    await symlink('../../../../etc', join(root, 'a/up'));
    await symlink('b/../../abs', join(root, 'a/rel'));
    await symlink('loop2', join(root, 'loop1'));
    await symlink('loop1', join(root, 'loop2'));
    await symlink('/dne/x', join(root, 'dangling'));
    await symlink(base, join(root, 'host'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it.each([
    ['', ''],
    ['etc', 'etc'],
    ['abs', 'etc'],
    ['abs/passwd', 'etc/passwd'],
    ['a/up/passwd', 'etc/passwd'],
    ['a/rel/shadow', 'etc/shadow'],
    ['../../../../etc', 'etc'],
    ['a/b/../../..', ''],
    ['dangling/y', 'dne/x/y'],
    ['file/x', 'file/x'],
    ['missing/../etc', 'etc'],
  ])('%j resolves to <root>/%s', async (p, want) => {
    expect(await secureJoin(root, p)).toBe(want ? join(root, want) : root);
  });

  it('an absolute symlink to a host path is re-rooted inside the tree', async () => {
    expect(await secureJoin(root, 'host/root')).toBe(join(root, base.slice(1), 'root'));
  });

  it('a symlink loop is an InvalidArgument error', async () => {
    await expect(secureJoin(root, 'loop1/x')).rejects.toMatchObject({ code: 'InvalidArgument' });
  });
});
