/**
 * A CNI cache temporary file too young to remove at the agent's first pass (found by
 * scripts/chaos.mjs: the agent killed within 10 s of a cache write, restarted at once; issue
 * 14 item 10). It must go at a later pass once it is old enough, not wait for the next pod
 * deletion or agent restart.
 */
import { mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ResultCache } from '../../../src/cni/index.js';
import { Reconciler, type Layout } from '../../../src/reconciler/index.js';
import { fakeHost, tempLayout, WEB_POD } from '../../fakes/host.js';

describe('CNI cache temporary files left by a kill just before the agent started', () => {
  let root: string;
  let layout: Layout;

  beforeEach(async () => {
    ({ root, layout } = await tempLayout('berth-ctl-', { 'web.yaml': WEB_POD }));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('are removed by a later pass once old enough, with nothing else changing', async () => {
    const f = fakeHost(layout);
    const cache = new ResultCache(join(layout.stateDir, 'cni'));
    Object.assign(f.cni, { removeStaleCacheFiles: (minAgeMs?: number) => cache.removeStaleTempFiles(minAgeMs) });
    expect((await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000)).exitCode).toBe(0);

    const results = join(layout.stateDir, 'cni', 'results');
    await mkdir(results, { recursive: true });
    const tmp = 'berth-berth-0123456789ab-eth0.0badf00d.tmp';
    await writeFile(join(results, tmp), '{"kind":"cniCa'); // written a moment before the kill

    const r = new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });
    await r.sync(); // the new agent's first pass: too young to tell from a live write
    await r.whenIdle();
    expect(await readdir(results)).toContain(tmp);

    const past = new Date(Date.now() - 60_000); // time passes
    await utimes(join(results, tmp), past, past);
    await r.sync(); // a resync: no pod changed
    await r.whenIdle();
    expect(await readdir(results)).not.toContain(tmp);
    await r.stop();
  });
});
