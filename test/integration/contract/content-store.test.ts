/** The ContentStore contract against FsContentStore on a real directory. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsContentStore } from '../../../src/image/index.js';
import { contentStoreContract } from '../../contract/content-store.js';

contentStoreContract('FsContentStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-house-store-'));
  return { store: new FsContentStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});
