/**
 * Agent restarts with fake host interfaces (issue 14 items 4, 5, 9): status is observed,
 * adoption needs no image source, and an interrupted start is not a restart.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../../src/common/errors.js';
import { collectStatus, containerId, listRecords, netnsName, Reconciler, writeRecord, type Layout } from '../../../src/reconciler/index.js';
import { fakeHost } from '../../fakes/host.js';
import { onceToDeadline } from './once-on-clock.js';

const pod = (name: string, apps: string[]) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  containers:
${apps.map((a) => `    - {name: ${a}, image: "oci:/img:latest", command: [sleep, "1000"]}\n`).join('')}`;

describe('agent restarts (fake host)', () => {
  let root: string;
  let layout: Layout;
  let specs: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-adopt-'));
    specs = join(root, 'specs');
    await mkdir(specs);
    layout = {
      configDir: join(root, 'config'),
      stateDir: join(root, 'state'),
      runDir: join(root, 'run'),
      logDir: join(root, 'log'),
      specDirs: [specs],
    };
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const reconciler = (f: ReturnType<typeof fakeHost>) => new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });

  it('adopts running apps without pulling their images (the image source is gone)', async () => {
    const f = fakeHost(layout);
    await writeFile(join(specs, 'web.yaml'), pod('web', ['a', 'b']));
    expect((await reconciler(f).once(5000)).exitCode).toBe(0);
    const pulls = f.images.pulls.length;
    const pids = f.runtime.running();
    f.images.failing.set('oci:/img:latest', new BerthError('NotFound', 'no such layout'));
    const res = await reconciler(f).once(5000);
    expect(res.exitCode).toBe(0);
    expect(f.images.pulls).toHaveLength(pulls);
    expect(f.runtime.starts).toHaveLength(2);
    expect(f.runtime.running()).toEqual(pids);
    expect((await collectStatus(f.host))[0]).toMatchObject({ status: 'Running', ready: '2/2', restarts: 0 });
  });

  it("fetches the image of an app that exited while the agent was away; a missing source is that app's ImagePullBackOff", async () => {
    const f = fakeHost(layout);
    await writeFile(join(specs, 'web.yaml'), pod('web', ['a', 'b']));
    await reconciler(f).once(5000);
    const [rec] = await listRecords(layout);
    f.runtime.exit(containerId(rec!.uid, 'b'), 1);
    f.images.failing.set('oci:/img:latest', new BerthError('NotFound', 'no such layout'));
    const r = reconciler(f);
    const res = await onceToDeadline(r, f.clock, 1500, () => expect(r.rows()[0]).toMatchObject({ status: 'ImagePullBackOff' }));
    expect(res.exitCode).toBe(1);
    expect(f.images.pulls.length).toBeGreaterThan(1);
    const row = (await collectStatus(f.host))[0]!;
    expect(row).toMatchObject({
      status: 'ImagePullBackOff',
      reason: 'ImagePullBackOff',
      ready: '1/2',
      restarts: 1,
      message: 'app b: no such layout',
    });
    expect(row.apps.find((a) => a.name === 'b')).toMatchObject({ reason: 'ImagePullBackOff', restartCount: 1 });
    // the source is back: the app is started again, its restart counted once
    f.images.failing.clear();
    expect((await reconciler(f).once(5000)).exitCode).toBe(0);
    expect((await collectStatus(f.host))[0]).toMatchObject({ status: 'Running', ready: '2/2', restarts: 1 });
  });

  it('redoes a start the agent was killed in (exit 255 before "started") without counting a restart', async () => {
    const f = fakeHost(layout);
    await writeFile(join(specs, 'web.yaml'), pod('web', ['a']));
    await reconciler(f).once(5000);
    const [rec] = await listRecords(layout);
    const id = containerId(rec!.uid, 'a');
    f.runtime.setStatus({ containerId: id, state: 'exited', exitCode: 255, finishedAt: Date.now() });
    const res = await reconciler(f).once(5000);
    expect(res.exitCode).toBe(0);
    expect(f.runtime.starts.map((s) => s.execution)).toEqual([0, 0]);
    expect((await collectStatus(f.host))[0]).toMatchObject({ status: 'Running', restarts: 0 });
    expect((await listRecords(layout))[0]!.apps.a).toMatchObject({ restartCount: 0 });
  });

  it('starts an execution left created but never started (killed between create and start) without counting a restart', async () => {
    const f = fakeHost(layout);
    await writeFile(join(specs, 'web.yaml'), pod('web', ['a']));
    await reconciler(f).once(5000);
    const [rec] = await listRecords(layout);
    f.runtime.setStatus({ containerId: containerId(rec!.uid, 'a'), state: 'created', pid: 4242 });
    expect((await reconciler(f).once(5000)).exitCode).toBe(0);
    expect(f.runtime.starts.map((s) => s.execution)).toEqual([0, 0]);
    expect((await collectStatus(f.host))[0]).toMatchObject({ status: 'Running', restarts: 0 });
  });

  it('status comes from the host: Running whatever phase the record was left in, addresses from the CNI cache', async () => {
    const f = fakeHost(layout);
    await writeFile(join(specs, 'web.yaml'), pod('web', ['a', 'b']));
    await reconciler(f).once(5000);
    const [rec] = await listRecords(layout);
    // an agent killed right after it started adopting left the record in an early phase
    await writeRecord(layout, { ...rec!, phase: 'attaching', attachments: [] });
    const row = (await collectStatus(f.host))[0]!;
    expect(row).toMatchObject({ status: 'Running', ready: '2/2', netns: `/run/netns/${netnsName(rec!.uid)}`, ips: ['10.9.0.2'] });
    expect(row.networks).toEqual([{ name: 'berth', interface: 'eth0', ips: ['10.9.0.2/16'] }]);
    // an app in back-off by the record but running on the host is running
    await writeRecord(layout, { ...rec!, apps: { ...rec!.apps, b: { ...rec!.apps.b!, state: 'backoff', backoffMs: 10_000 } } });
    expect((await collectStatus(f.host))[0]).toMatchObject({ status: 'Running' });
    // the namespace handle is gone: no address is shown, whatever the cache says
    await f.netns.remove(netnsName(rec!.uid));
    expect((await collectStatus(f.host))[0]).toMatchObject({ netns: null, ips: [] });
    // the apps are gone (a reboot): not Running although the record says so
    await writeRecord(layout, rec!);
    for (const c of ['a', 'b']) f.runtime.setStatus({ containerId: containerId(rec!.uid, c), state: 'unknown' });
    expect((await collectStatus(f.host))[0]).toMatchObject({ status: 'ContainerCreating', ready: '0/2' });
  });
});
