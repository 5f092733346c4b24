/**
 * Rendered trees are built in a temporary directory beside their final place and published by
 * rename, so a crash never leaves a tree that looks complete (`<state>/rendered/<key>/`).
 */
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, errnoOf, pathExists, writeJsonAtomic } from '../common/index.js';

/** Write `image.json` into `tmp` and rename it to `final`; losing the race to an equal tree is success. */
export async function publishRenderedTree(tmp: string, final: string, image: unknown): Promise<void> {
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
