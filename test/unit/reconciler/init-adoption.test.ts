/**
 * Agent restarts with init containers and sidecars (fake host): a completed init container
 * is not run again, a running sidecar is adopted (not restarted), one still running is
 * waited for; a pod past its activeDeadlineSeconds or failed in init under Never stays failed.
 */
import { rm } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectStatus, containerId, listRecords, Reconciler, writeRecord, type Layout } from '../../../src/reconciler/index.js';
import { fakeHost, tempLayout } from '../../fakes/host.js';
import { onceToDeadline } from './once-on-clock.js';

const spec = (extra = '') => `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  hostNetwork: true
${extra}  initContainers:
    - {name: proxy, image: "oci:/img:latest", command: [sleep, "1000"], restartPolicy: Always}
    - {name: setup, image: "oci:/img:latest", command: [sleep, "1"]}
  containers:
    - {name: a, image: "oci:/img:latest", command: [sleep, "1000"]}
`;

describe('agent restarts with init containers and sidecars (fake host)', () => {
  let root: string;
  let layout: Layout;
  afterEach(() => rm(root, { recursive: true, force: true }));
  const reconciler = (f: ReturnType<typeof fakeHost>) => new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });

  beforeEach(async () => {
    ({ root, layout } = await tempLayout('berth-initadopt-', { 'web.yaml': spec() }));
  });

  it('resumes init where it was: the running sidecar adopted, the running init container waited for, then the app', async () => {
    const f = fakeHost(layout);
    const first = reconciler(f);
    const started = () => expect(f.runtime.starts.map((s) => s.appName)).toEqual(['proxy', 'setup']);
    expect((await onceToDeadline(first, f.clock, 2000, started)).exitCode).toBe(1); // setup still running
    const [rec] = await listRecords(layout);
    expect(f.runtime.starts.map((s) => s.appName)).toEqual(['proxy', 'setup']);
    expect((await collectStatus(f.host))[0]).toMatchObject({ status: 'Init:1/2' });
    f.runtime.exit(containerId(rec!.uid, 'setup'), 0); // while no agent watched
    const res = await reconciler(f).once(2000);
    expect(res.exitCode).toBe(0);
    expect(f.runtime.starts.map((s) => s.appName)).toEqual(['proxy', 'setup', 'a']);
    expect((await collectStatus(f.host))[0]).toMatchObject({ status: 'Running', ready: '2/2', restarts: 0 });
    // once more: nothing is started again, init is not rerun
    expect((await reconciler(f).once(2000)).exitCode).toBe(0);
    expect(f.runtime.starts).toHaveLength(3);
  });

  it('keeps a pod that ended at its deadline failed across an agent restart', async () => {
    ({ root, layout } = await tempLayout('berth-initadopt-', { 'web.yaml': spec('  activeDeadlineSeconds: 1\n') }));
    const f = fakeHost(layout);
    const first = reconciler(f);
    await onceToDeadline(first, f.clock, 500, () => expect(f.runtime.starts.map((s) => s.appName)).toEqual(['proxy', 'setup']));
    const [rec] = await listRecords(layout);
    // as if it were created long ago: the deadline is past at the next start
    await writeRecord(layout, { ...rec!, createdAt: rec!.createdAt - 10_000 });
    const res = await reconciler(f).once(3000);
    expect(res.exitCode).toBe(1);
    expect(f.runtime.running()).toEqual([]);
    expect((await collectStatus(f.host))[0]).toMatchObject({ status: 'DeadlineExceeded', reason: 'DeadlineExceeded' });
    expect(f.events.reasons()).toContain('DeadlineExceeded');
    const starts = f.runtime.starts.length;
    await reconciler(f).once(500);
    expect(f.runtime.starts).toHaveLength(starts);
    expect((await collectStatus(f.host))[0]).toMatchObject({ status: 'DeadlineExceeded' });
  });
});
