/**
 * An agent killed while it tore a pod down (found by scripts/chaos.mjs; issue 14 item 9, issue 13
 * items 1 and 7): the pod's file is removed, the agent stops the app and is killed before the
 * record is gone; the file is put back. Termination is one-way: the next agent finishes the
 * teardown and creates the pod afresh. The app's exit was the agent's own stop, never a restart.
 */
import { rm } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectStatus, containerId, listRecords, Reconciler, writeRecord, type Layout } from '../../../src/reconciler/index.js';
import { fakeHost, tempLayout, WEB_POD } from '../../fakes/host.js';

describe('a teardown interrupted by a kill, the pod file put back', () => {
  let root: string;
  let layout: Layout;

  beforeEach(async () => {
    ({ root, layout } = await tempLayout('berth-itd-', { 'web.yaml': WEB_POD }));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const reconciler = (f: ReturnType<typeof fakeHost>) => new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });

  for (const exitCode of [0, 143]) {
    it(`finishes the teardown and starts the pod afresh, restart count 0 (app stopped with exit ${exitCode})`, async () => {
      const f = fakeHost(layout);
      expect((await reconciler(f).once(5000)).exitCode).toBe(0);
      const [rec] = await listRecords(layout);
      // what the killed agent left: the record says terminating, the app is stopped
      await writeRecord(layout, { ...rec!, phase: 'terminating' });
      f.runtime.exit(containerId(rec!.uid, 'a'), exitCode);

      const res = await reconciler(f).once(5000);
      expect(res.exitCode).toBe(0);
      expect(f.runtime.starts).toHaveLength(2);
      expect(f.runtime.running()).toEqual([containerId(rec!.uid, 'a')]);
      expect((await collectStatus(f.host))[0]).toMatchObject({ status: 'Running', ready: '1/1', restarts: 0 });
      const [after] = await listRecords(layout);
      expect(after!.apps.a).toMatchObject({ restartCount: 0 });
      expect(after!.phase).not.toBe('terminating');
    });
  }
});
