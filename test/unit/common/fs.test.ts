import { statSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeDirs, makeDirsSync } from '../../../src/common/fs.js';

describe('makeDirs', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-makedirs-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes the missing parents with the mode and returns the first directory made', async () => {
    expect(await makeDirs(join(dir, 'a/b/c'), 0o700)).toBe(join(dir, 'a'));
    expect((await stat(join(dir, 'a/b/c'))).isDirectory()).toBe(true);
    expect((await stat(join(dir, 'a/b'))).mode & 0o777).toBe(0o700);
    expect(await makeDirs(join(dir, 'a/b/c'))).toBeUndefined();
    expect(await makeDirs(join(dir, 'a/b/d'))).toBe(join(dir, 'a/b/d'));
  });

  it('refuses a path through a file', async () => {
    await writeFile(join(dir, 'f'), '');
    await expect(makeDirs(join(dir, 'f'))).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(makeDirs(join(dir, 'f/x/y'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(() => makeDirsSync(join(dir, 'f/x'))).toThrow(/ENOTDIR/);
  });

  // Node's mkdir({ recursive: true }) spins forever here
  it('fails where the kernel says ENOENT below an existing directory (procfs)', async () => {
    await expect(makeDirs('/proc/1/berth-nope/x')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(() => makeDirsSync('/proc/1/berth-nope')).toThrow(/ENOENT/);
  });

  it('sync: makes the missing parents', () => {
    makeDirsSync(join(dir, 'p/q'), 0o750);
    makeDirsSync(join(dir, 'p/q'));
    expect(statSync(join(dir, 'p/q')).mode & 0o777).toBe(0o750);
  });
});
