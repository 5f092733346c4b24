/** Events derived from the pod worker's machine, with the fake host (recording sink). */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../../src/common/errors.js';
import { issueEvents, listRecords, Reconciler, type Layout } from '../../../src/reconciler/index.js';
import { fakeHost, tempLayout, WEB_POD } from '../../fakes/host.js';

const waitFor = async (cond: () => boolean, ms = 3000) => {
  for (const end = Date.now() + ms; !cond() && Date.now() < end;) await new Promise((r) => setTimeout(r, 10));
  return cond();
};

describe('pod events from machine transitions', () => {
  let root: string;
  let layout: Layout;
  beforeEach(async () => {
    ({ root, layout } = await tempLayout('berth-ev-pod-', { 'web.yaml': WEB_POD }));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('a pod that starts: Pulling, Pulled, Created, Started; adoption by a second agent: none; delete: Killing', async () => {
    const f = fakeHost(layout);
    expect((await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000)).exitCode).toBe(0);
    const uid = (await listRecords(layout))[0]!.uid;
    expect(f.events.events.map((e) => `${e.reason} ${e.app ?? '-'} ${e.message}`)).toEqual([
      'Pulling a Pulling image "oci:/img:latest"',
      expect.stringMatching(/^Pulled a Successfully pulled image "oci:\/img:latest" in [\d.]+s \(including waiting\)$/),
      'Created a Created container a',
      'Started a Started container a',
    ]);
    expect(f.events.events.every((e) => e.uid === uid && e.podName === 'default/web')).toBe(true);

    f.events.events = [];
    await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000);
    expect(f.events.reasons()).toEqual([]);

    await rm(join(root, 'specs', 'web.yaml'));
    await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000);
    expect(f.events.events.map((e) => `${e.type} ${e.reason} ${e.message}`)).toEqual(['Normal Killing Stopping container a']);
  });

  it('an app that keeps crashing: Warning BackOff "Back-off restarting failed container a" (once the restart is delayed)', async () => {
    const f = fakeHost(layout);
    f.runtime.crashing.add('a');
    const r = new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });
    await r.sync();
    expect(await waitFor(() => f.events.reasons().includes('BackOff'), 10_000), JSON.stringify(f.events.events)).toBe(true);
    await r.once(0); // detach
    const back = f.events.events.find((e) => e.reason === 'BackOff')!;
    expect(back).toMatchObject({ type: 'Warning', app: 'a', message: 'Back-off restarting failed container a' });
    // the first restart is immediate (no back-off): two starts before the BackOff
    expect(f.events.reasons().filter((x) => x === 'Started').length).toBeGreaterThanOrEqual(2);
    await rm(join(root, 'specs', 'web.yaml'));
    await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000);
  });

  it('a failing pull: Warning Failed (the message, then Error: ErrImagePull), Normal BackOff "Back-off pulling image"', async () => {
    const f = fakeHost(layout);
    f.images.failing.set('oci:/img:latest', new BerthError('Unavailable', 'oci:/img:latest: connection refused'));
    const r = new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });
    await r.sync();
    expect(await waitFor(() => f.events.reasons().includes('BackOff'), 10_000)).toBe(true);
    await r.once(0); // detach
    expect(f.events.events.map((e) => `${e.type} ${e.reason} ${e.message}`)).toEqual([
      'Normal Pulling Pulling image "oci:/img:latest"',
      'Warning Failed Failed to pull image: oci:/img:latest: connection refused',
      'Warning Failed Error: ErrImagePull',
      'Normal BackOff Back-off pulling image',
    ]);
    await rm(join(root, 'specs', 'web.yaml'));
    await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000);
  });

  it('a sandbox that cannot be made: Warning FailedCreatePodSandBox', async () => {
    const f = fakeHost(layout);
    f.netns.ensure = async () => {
      throw new BerthError('Unavailable', 'ip netns add: Permission denied');
    };
    const r = new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });
    await r.sync();
    expect(await waitFor(() => f.events.reasons().includes('FailedCreatePodSandBox'), 10_000)).toBe(true);
    await r.once(0); // detach
    expect(f.events.events.find((e) => e.reason === 'FailedCreatePodSandBox')).toMatchObject({
      type: 'Warning',
      message: 'Failed to create pod sandbox: ip netns add: Permission denied',
    });
    await rm(join(root, 'specs', 'web.yaml'));
    await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000);
  });

  it('a broken file of a running pod: one InvalidSpec event while it lasts, again when it comes back', async () => {
    const f = fakeHost(layout);
    const r = new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });
    await r.sync();
    expect(await waitFor(() => r.rows()[0]?.status === 'Running')).toBe(true);
    await writeFile(join(root, 'specs', 'web.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: web\n');
    await r.sync();
    await r.sync();
    const invalid = () => f.events.events.filter((e) => e.reason === 'InvalidSpec');
    expect(invalid()).toEqual([
      expect.objectContaining({
        type: 'Warning',
        podName: 'default/web',
        message: expect.stringMatching(/web\.yaml:\d+:\d+: .*\(the last good spec keeps running\)$/),
      }),
    ]);
    await writeFile(join(root, 'specs', 'web.yaml'), WEB_POD);
    await r.sync();
    await writeFile(join(root, 'specs', 'web.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: web\n');
    await r.sync();
    expect(invalid()).toHaveLength(2);
    await r.once(0); // detach
    await rm(join(root, 'specs', 'web.yaml'));
    await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000);
  });

  it('issueEvents: SourceError for pods of an unreadable source', () => {
    const rec = { uid: 'u', key: 'default/web', hash: 'h', source: { file: '/etc/podspecs/web.yaml', line: 1 } } as never;
    expect(
      issueEvents(
        [{ severity: 'error', file: '/etc/podspecs', path: '', message: 'cannot read /etc/podspecs: EACCES', reason: 'SourceError' }],
        [rec],
      ),
    ).toEqual([
      {
        uid: 'u',
        podName: 'default/web',
        type: 'Warning',
        reason: 'SourceError',
        message: 'cannot read /etc/podspecs: EACCES (the pod is kept as it is)',
      },
    ]);
  });
});
