/**
 * The volume path resolver and pinning on the real kernel (root): symlinks are refused
 * wherever they are, `..` and absolute paths never resolve, missing directories are made
 * inside the volume, and a pinned mount keeps the inode it was given even when the path is
 * swapped for a link to `/` between the check and the mount.
 */
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  mountsAtOrBelow,
  openPath,
  pinMount,
  removePinTree,
  resolveBeneath,
  unmountAtOrBelow,
  unpinMount,
  type PinnedNode,
} from '../../../src/runtime/volume-paths.js';

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('volume paths (real mounts)', () => {
  let dir: string;
  let vol: string;
  let root: PinnedNode;
  const open: PinnedNode[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-vp-'));
    vol = join(dir, 'vol');
    await mkdir(join(vol, 'real', 'inner'), { recursive: true });
    await writeFile(join(vol, 'real', 'marker'), 'inside the volume');
    await writeFile(join(vol, 'file'), 'a file');
    root = (await openPath(vol, { follow: false }))!;
  });

  afterEach(async () => {
    for (const n of open.splice(0)) await n.close();
    await root.close();
    // never remove through a mount
    await unmountAtOrBelow(dir);
    expect(await mountsAtOrBelow(dir)).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });

  const resolve = async (rel: string, createMode?: number) => {
    const n = await resolveBeneath(root, rel, {
      what: `subPath "${rel}" of volume "data"`,
      ...(createMode !== undefined ? { createMode } : {}),
    });
    open.push(n);
    return n;
  };

  it('refuses a symlink to / with the reason', async () => {
    await symlink('/', join(vol, 'escape'));
    await expect(resolve('escape')).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: 'subPath "escape" of volume "data" is a symlink: refused (it could point outside the volume)',
    });
  });

  it('refuses .. and absolute paths before touching the volume', async () => {
    await expect(resolve('../../../etc')).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining("must not contain '..'"),
    });
    await expect(resolve('real/../..')).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(resolve('/etc')).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining('must be a relative path'),
    });
  });

  it('refuses a symlink in the middle, absolute or relative, and names the component', async () => {
    await symlink('/etc', join(vol, 'real', 'abs'));
    await symlink('inner', join(vol, 'real', 'rel'));
    await expect(resolve('real/abs/passwd')).rejects.toMatchObject({
      message: expect.stringContaining('"real/abs" is a symlink: refused'),
    });
    // a link that stays inside is refused too (the strict choice)
    await expect(resolve('real/rel')).rejects.toMatchObject({ message: expect.stringContaining('"real/rel" is a symlink: refused') });
    // a dangling link is not created through
    await symlink('/nonexistent-berth-vp', join(vol, 'dangling'));
    await expect(resolve('dangling/x', 0o755)).rejects.toMatchObject({ message: expect.stringContaining('"dangling" is a symlink') });
    await expect(stat('/nonexistent-berth-vp')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('resolves a file and a directory, and refuses a file in the middle', async () => {
    expect((await resolve('file')).kind).toBe('File');
    expect((await resolve('./real//inner/')).kind).toBe('Directory');
    await expect(resolve('file/x')).rejects.toMatchObject({ message: expect.stringContaining('"file" is not a directory') });
  });

  it('creates missing components inside the volume with the given mode', async () => {
    const n = await resolve('new/deeper/leaf', 0o777);
    expect(n.kind).toBe('Directory');
    const st = await stat(join(vol, 'new', 'deeper', 'leaf'));
    expect(st.ino).toBe(Number(n.ino));
    expect(st.mode & 0o777).toBe(0o777);
    await expect(resolve('absent')).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: expect.stringContaining('does not exist'),
    });
  });

  it('pins a directory and a file: the target shows the same inode and contents', async () => {
    const d = await resolve('real');
    const f = await resolve('file');
    const td = join(dir, 'pins', 'data', 'app', '0');
    const tf = join(dir, 'pins', 'data', 'app', '1');
    await pinMount(d, td, 'real');
    await pinMount(f, tf, 'file');
    expect(await readFile(join(td, 'marker'), 'utf8')).toBe('inside the volume');
    expect(await readFile(tf, 'utf8')).toBe('a file');
    expect(await mountsAtOrBelow(join(dir, 'pins'))).toHaveLength(2);
    // pinning again replaces the old pin (no stacking)
    await pinMount(d, td, 'real');
    expect(await mountsAtOrBelow(join(dir, 'pins'))).toHaveLength(2);
    await unpinMount(tf);
    await expect(stat(tf)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a link swapped in after resolution cannot redirect the pin', async () => {
    const n = await resolve('real');
    const original = await stat(join(vol, 'real'));
    // the attacker replaces the checked directory with a link to / before the mount
    await rename(join(vol, 'real'), join(vol, 'real.old'));
    await symlink('/', join(vol, 'real'));
    const target = join(dir, 'pins', 'data', 'app', '0');
    await pinMount(n, target, 'real');
    const st = await stat(target);
    expect(st.ino).toBe(original.ino);
    expect(st.dev).toBe(original.dev);
    expect((await readdir(target)).sort()).toEqual(['inner', 'marker']);
    expect(await readdir(target)).not.toContain('etc');
  });

  it('removing a pin tree unmounts first and never deletes through a mount', async () => {
    const pins = join(dir, 'pins');
    await pinMount(await resolve('real'), join(pins, 'data', 'app', '0'), 'real');
    await pinMount(await resolve('file'), join(pins, 'data', 'other', '0'), 'file');
    await removePinTree(pins, 2);
    await expect(stat(pins)).rejects.toMatchObject({ code: 'ENOENT' });
    // the volume's files are all still there
    expect(await readFile(join(vol, 'real', 'marker'), 'utf8')).toBe('inside the volume');
    expect(await readFile(join(vol, 'file'), 'utf8')).toBe('a file');
    await removePinTree(pins, 2); // idempotent
  });

  it('mountsAtOrBelow matches whole path components only', async () => {
    const a = join(dir, 'a');
    const ab = join(dir, 'ab');
    await pinMount(await resolve('real'), ab, 'real');
    expect(await mountsAtOrBelow(a)).toEqual([]);
    expect(await mountsAtOrBelow(ab)).toEqual([ab]);
    await unmountAtOrBelow(ab);
    expect(await mountsAtOrBelow(dir)).toEqual([]);
  });
});
