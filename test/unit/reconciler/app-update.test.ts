/**
 * Issue 13 item 2, smallest change: a change of one container's own fields restarts only
 * that app (stop before start, the Killing event of the kubelet), the pod and its other apps
 * keep running (same uid, same PIDs); the same content again changes nothing; a pod-level
 * change is a new pod; an agent killed after the record took the new spec replaces the app
 * at its next start.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listRecords, Reconciler, type Layout } from '../../../src/reconciler/index.js';
import { fakeHost, tempLayout } from '../../fakes/host.js';

const pod = (opts: { webArg?: string; sideImage?: string; label?: string; policy?: string } = {}) => `apiVersion: v1
kind: Pod
metadata: {name: two, labels: {l: "${opts.label ?? 'a'}"}}
spec:
  restartPolicy: ${opts.policy ?? 'Always'}
  terminationGracePeriodSeconds: 7
  containers:
    - {name: web, image: "oci:/img:latest", command: [sleep, "${opts.webArg ?? '1000'}"]}
    - {name: side, image: "${opts.sideImage ?? 'oci:/img:latest'}", command: [sleep, "2000"]}
`;

async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('smallest change: one container changed restarts only that app', () => {
  let root: string;
  let layout: Layout;
  let file: string;
  beforeEach(async () => {
    ({ root, layout } = await tempLayout('berth-appupd-'));
    file = join(layout.specDirs[0]!, 'two.yaml');
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  function setup() {
    const f = fakeHost(layout);
    const r = new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });
    const pidOf = async (app: string) => {
      const rec = (await listRecords(layout))[0]!;
      const st = await f.runtime.status(rec.apps[app]!.containerId);
      return st.state === 'running' ? st.pid : undefined;
    };
    const row = () => r.rows().find((x) => x.name === 'two');
    return { f, r, pidOf, row };
  }

  it('replaces the changed app, keeps the pod and the other app, counts the restart', async () => {
    const { f, r, pidOf } = setup();
    await writeFile(file, pod());
    await r.sync();
    await until('both running', () => f.runtime.running().length === 2);
    const [before] = await listRecords(layout);
    const sidePid = await pidOf('side');
    const webPid = await pidOf('web');

    await writeFile(file, pod({ webArg: '1001' }));
    await r.sync();
    await until('web replaced', async () => (await pidOf('web')) !== undefined && (await pidOf('web')) !== webPid);
    await r.whenIdle();

    const [after] = await listRecords(layout);
    expect(after!.uid).toBe(before!.uid); // the same pod
    expect(await pidOf('side')).toBe(sidePid); // the other app was not touched
    expect(f.runtime.stops.map((s) => s.containerId)).toEqual([before!.apps.web!.containerId]);
    expect(f.runtime.stops[0]!.graceMs).toBeGreaterThan(6000); // the pod's grace period (7 s)
    expect(f.runtime.starts.filter((s) => s.appName === 'web').map((s) => s.container.command)).toEqual([
      ['sleep', '1000'],
      ['sleep', '1001'],
    ]);
    expect(f.runtime.starts.filter((s) => s.appName === 'web').map((s) => s.execution)).toEqual([0, 1]);
    expect(f.events.events.filter((e) => e.reason === 'Killing').map((e) => e.message)).toEqual([
      'Container web definition changed, will be restarted',
    ]);
    await until('record shows the restart', async () => (await listRecords(layout))[0]!.apps.web!.restartCount === 1);
    expect(after!.pod.spec.containers[0]!.command).toEqual(['sleep', '1001']);

    // the same content again: nothing happens
    await writeFile(file, pod({ webArg: '1001' }));
    await r.sync();
    await r.whenIdle();
    expect(f.runtime.starts).toHaveLength(3);
    await r.stop();
  });

  it('a new image for one app pulls it and restarts only that app', async () => {
    const { f, r, pidOf } = setup();
    await writeFile(file, pod());
    await r.sync();
    await until('both running', () => f.runtime.running().length === 2);
    const webPid = await pidOf('web');
    await writeFile(file, pod({ sideImage: 'oci:/img2:latest' }));
    await r.sync();
    await until(
      'side on the new image',
      () =>
        f.runtime.starts.some((s) => s.appName === 'side' && s.container.image === 'oci:/img2:latest') && f.runtime.running().length === 2,
    );
    expect(await pidOf('web')).toBe(webPid);
    const rec = (await listRecords(layout))[0]!;
    expect(rec.apps.side!.image).toBe('oci:/img2:latest');
    await r.stop();
  });

  it('a pod-level change (a label) is a new pod', async () => {
    const { f, r } = setup();
    await writeFile(file, pod());
    await r.sync();
    await until('both running', () => f.runtime.running().length === 2);
    const [before] = await listRecords(layout);
    await writeFile(file, pod({ label: 'b' }));
    await r.sync();
    await r.whenIdle();
    await until(
      'new pod running',
      async () => f.runtime.running().length === 2 && (await listRecords(layout)).every((x) => x.uid !== before!.uid),
    );
    expect(f.runtime.stops).toHaveLength(2);
    await r.stop();
  });

  it('an app that completed under Never is not started again for a new spec, as the kubelet does', async () => {
    const { f, r } = setup();
    await writeFile(file, pod({ policy: 'Never' }));
    await r.sync();
    await until('both running', () => f.runtime.running().length === 2);
    const rec = (await listRecords(layout))[0]!;
    f.runtime.exit(rec.apps.web!.containerId, 0);
    await until(
      'web completed',
      () =>
        r
          .rows()
          .find((x) => x.name === 'two')
          ?.apps.find((a) => a.name === 'web')?.state === 'terminated',
    );
    await writeFile(file, pod({ policy: 'Never', webArg: '5' }));
    await r.sync();
    await r.whenIdle();
    await f.clock.advance(60_000); // past any back-off: still not started again
    expect(f.runtime.starts.filter((s) => s.appName === 'web')).toHaveLength(1);
    expect((await listRecords(layout))[0]!.pod.spec.containers[0]!.command).toEqual(['sleep', '5']);
    await r.stop();
  });

  it('an agent stopped after the record took the new spec replaces the app when it starts again', async () => {
    const first = setup();
    await writeFile(file, pod());
    await first.r.sync();
    await until('both running', () => first.f.runtime.running().length === 2);
    await first.r.whenIdle();
    await first.r.stop(); // the apps keep running
    const sidePid = await first.pidOf('side');

    // the record has the new spec, the running web was started from the old one (killed in between)
    const [rec] = await listRecords(layout);
    const { writeRecord } = await import('../../../src/reconciler/records.js');
    rec!.pod.spec.containers[0]!.command = ['sleep', '1002'];
    await writeRecord(layout, rec!);
    await writeFile(file, pod({ webArg: '1002' }));

    const f2 = fakeHost(layout);
    f2.host.runtime = first.f.runtime; // the same host
    const r2 = new Reconciler(f2.host, { cniConfDirs: [], minReadyMs: 0 });
    await r2.sync();
    await until(
      'web replaced',
      () => first.f.runtime.starts.filter((s) => s.appName === 'web').length === 2 && first.f.runtime.running().length === 2,
    );
    expect(first.f.runtime.starts.filter((s) => s.appName === 'web').at(-1)!.container.command).toEqual(['sleep', '1002']);
    expect(await first.pidOf('side')).toBe(sidePid);
    await r2.stop();
  });
});
