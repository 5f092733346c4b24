/**
 * Temporary files of interrupted cache writes (issue 14 item 10): only berth's own temporary
 * names, only regular files, only when old enough that no live writer can still hold them.
 */
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCni, ResultCache } from '../../../src/cni/index.js';
import { FakeCniExec } from './fake-cni-exec.js';

describe('CNI cache temporary files', () => {
  let dir: string;
  let results: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tcni-tmp-'));
    results = join(dir, 'cni', 'results');
    await mkdir(results, { recursive: true });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const old = async (name: string) => {
    await writeFile(join(results, name), '{"kind":"cniCacheV1"');
    const t = new Date(Date.now() - 60_000);
    await utimes(join(results, name), t, t);
  };

  it('removes stale temp files of the atomic-write pattern and nothing else', async () => {
    await old('net-berth-aaaaaaaaaaaa-eth0.0123abcd.tmp'); // interrupted write: removed
    await writeFile(join(results, 'net-berth-bbbbbbbbbbbb-eth0.89abcdef.tmp'), '{'); // being written now: kept
    await old('notes.tmp'); // not berth's pattern: kept
    await old('net-berth-cccccccccccc-eth0'); // an entry: kept
    await mkdir(join(results, 'x.0123abcd.tmp')); // a directory: kept
    const cache = new ResultCache(join(dir, 'cni'));
    expect(await cache.removeStaleTempFiles()).toEqual(['net-berth-aaaaaaaaaaaa-eth0.0123abcd.tmp']);
    expect((await readdir(results)).sort()).toEqual([
      'net-berth-bbbbbbbbbbbb-eth0.89abcdef.tmp',
      'net-berth-cccccccccccc-eth0',
      'notes.tmp',
      'x.0123abcd.tmp',
    ]);
    expect(await cache.removeStaleTempFiles()).toEqual([]);
  });

  it('the runtime removes them on request; a missing cache dir is nothing to do', async () => {
    await old('net-berth-aaaaaaaaaaaa-eth0.0123abcd.tmp');
    const cni = createCni({ cacheDir: join(dir, 'cni'), pluginPaths: ['/opt/cni/bin'], exec: new FakeCniExec() });
    expect(await cni.removeStaleCacheFiles()).toEqual(['net-berth-aaaaaaaaaaaa-eth0.0123abcd.tmp']);
    const none = createCni({ cacheDir: join(dir, 'none'), pluginPaths: ['/opt/cni/bin'], exec: new FakeCniExec() });
    expect(await none.removeStaleCacheFiles()).toEqual([]);
  });
});
