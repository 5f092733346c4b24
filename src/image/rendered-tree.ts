/**
 * The one rendered-tree publisher of the OCI and the ACI render paths: a tree is built in a
 * temporary directory beside its final place and published by rename, so a crash never
 * leaves a tree that looks complete (`<renderedDir>/<key>/{rootfs,image.json}`).
 */
import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, errnoOf, pathExists, writeJsonAtomic } from '../common/index.js';
import { makeDirs } from '../common/fs.js';

/** Write `image.json` into `tmp` and rename it to `final`; losing the race to an equal tree is success. */
async function publish(tmp: string, final: string, image: unknown): Promise<void> {
  await writeJsonAtomic(join(tmp, 'image.json'), image);
  try {
    await rename(tmp, final);
  } catch (err) {
    const code = errnoOf(err);
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    await rm(tmp, { recursive: true, force: true }); // someone else finished the same tree first
    if (!(await pathExists(join(final, 'rootfs')))) throw new BerthError('Unavailable', `${final} exists but holds no rootfs; retry`);
  }
}

/**
 * The rootfs of `<renderedDir>/<key>`: the published one when it is there; else `build` fills
 * a fresh, empty rootfs in a temporary directory, which is then published with `image.json`.
 * A tree without its rootfs (damaged by hand) is moved aside and removed first; the
 * temporary directory is removed when `build` fails.
 */
export async function renderTree(
  renderedDir: string,
  key: string,
  image: unknown,
  build: (rootfs: string) => Promise<void>,
): Promise<string> {
  const final = join(renderedDir, key);
  const rootfs = join(final, 'rootfs');
  if (await pathExists(rootfs)) return rootfs;
  await makeDirs(renderedDir);
  const tmp = join(renderedDir, `.tmp-${key}-${randomBytes(4).toString('hex')}`);
  if (await pathExists(final)) {
    await rename(final, `${tmp}-rm`);
    await rm(`${tmp}-rm`, { recursive: true, force: true });
  }
  const tmpRoot = join(tmp, 'rootfs');
  await makeDirs(tmpRoot, 0o755);
  try {
    await build(tmpRoot);
    await publish(tmp, final, image);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return rootfs;
}
