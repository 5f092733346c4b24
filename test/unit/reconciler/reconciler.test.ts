import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../../src/common/errors.js';
import { listRecords, Reconciler, type Layout } from '../../../src/reconciler/index.js';
import { fakeHost } from '../../fakes/host.js';
import { onceToDeadline } from './once-on-clock.js';

const pod = (name: string, apps: string[], extra = '') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
${extra}  containers:
${apps.map((a) => `    - {name: ${a}, image: "oci:/img:latest", command: [sleep, "1000"]}\n`).join('')}`;

describe('Reconciler with fake host interfaces', () => {
  let root: string;
  let layout: Layout;
  let specs: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-rec-'));
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

  const reconciler = (f: ReturnType<typeof fakeHost>, minReadyMs = 0) => new Reconciler(f.host, { cniConfDirs: [], minReadyMs });

  it('converges: netns, loopback + default network, every app running; exit 0', async () => {
    const f = fakeHost(layout);
    await writeFile(join(specs, 'web.yaml'), pod('web', ['a', 'b']));
    const res = await reconciler(f).once(5000);
    expect(res.exitCode).toBe(0);
    expect(res.rows).toHaveLength(1);
    expect(res.rows[0]).toMatchObject({ name: 'web', status: 'Running', ready: '2/2', ips: ['10.9.0.2'] });
    expect(f.netns.live.size).toBe(1);
    expect(f.cni.calls.map((c) => `${c.verb} ${c.network} ${c.ifName}`)).toEqual(['ADD berth-loopback lo', 'ADD berth eth0']);
    expect(f.runtime.running()).toHaveLength(2);
    expect((await listRecords(layout))[0]).toMatchObject({ key: 'default/web', phase: 'running' });
  });

  it('adopts running apps on the next run instead of starting them again', async () => {
    const f = fakeHost(layout);
    await writeFile(join(specs, 'web.yaml'), pod('web', ['a']));
    await reconciler(f).once(5000);
    const again = await reconciler(f).once(5000);
    expect(again.exitCode).toBe(0);
    expect(f.runtime.starts).toHaveLength(1);
    expect(f.cni.calls.filter((c) => c.verb === 'ADD')).toHaveLength(2);
  });

  it('replaces a changed pod (DEL in reverse, then the new one) and leaves the other alone', async () => {
    const f = fakeHost(layout);
    await writeFile(join(specs, 'a.yaml'), pod('a', ['main']));
    await writeFile(join(specs, 'b.yaml'), pod('b', ['main']));
    await reconciler(f).once(5000);
    const bStarts = f.runtime.starts.filter((s) => s.podName === 'b').length;
    await writeFile(join(specs, 'a.yaml'), pod('a', ['main', 'side']));
    f.cni.calls = [];
    const res = await reconciler(f).once(5000);
    expect(res.exitCode).toBe(0);
    // the old pod's attachments are gone before the new one's are made; loopback goes beside eth0 (attachments.ts)
    const seq = f.cni.calls.map((c) => `${c.verb} ${c.ifName}`);
    expect(seq.slice(0, 2).sort()).toEqual(['DEL eth0', 'DEL lo']);
    expect(seq.slice(2).sort()).toEqual(['ADD eth0', 'ADD lo']);
    expect(f.runtime.starts.filter((s) => s.podName === 'b')).toHaveLength(bStarts);
    expect(res.rows.find((r) => r.name === 'a')).toMatchObject({ ready: '2/2' });
  });

  it('tears a removed pod down completely', async () => {
    const f = fakeHost(layout);
    await writeFile(join(specs, 'a.yaml'), pod('a', ['main']));
    await reconciler(f).once(5000);
    await rm(join(specs, 'a.yaml'));
    const res = await reconciler(f).once(5000);
    expect(res.exitCode).toBe(0);
    expect(f.netns.live.size).toBe(0);
    expect(f.cni.cache.size).toBe(0);
    expect(f.runtime.running()).toEqual([]);
    expect(await listRecords(layout)).toEqual([]);
    expect(f.bridges.removed).toEqual(['berth0']);
  });

  it('keeps the last good spec running next to an invalid document; exit 2', async () => {
    const f = fakeHost(layout);
    await writeFile(join(specs, 'a.yaml'), pod('a', ['main']));
    await reconciler(f).once(5000);
    await writeFile(join(specs, 'a.yaml'), pod('a', ['main']).replace('command', 'comand'));
    await writeFile(join(specs, 'b.yaml'), pod('b', ['main']));
    const res = await reconciler(f).once(5000);
    expect(res.exitCode).toBe(2);
    expect(res.rows.find((r) => r.name === 'a')).toMatchObject({ status: 'InvalidSpec', ready: '1/1' });
    expect(res.rows.find((r) => r.name === 'b')).toMatchObject({ status: 'Running' });
    expect(f.runtime.running()).toHaveLength(2);
  });

  it('does not count an app that crashes at once as converged (min-ready), and reports CrashLoopBackOff', async () => {
    const f = fakeHost(layout);
    f.runtime.crashing.add('main');
    await writeFile(join(specs, 'a.yaml'), pod('a', ['main']));
    const r = reconciler(f, 200);
    const res = await onceToDeadline(r, f.clock, 1500, () => expect(r.rows()[0]).toMatchObject({ status: 'CrashLoopBackOff' }));
    expect(res.exitCode).toBe(1);
    expect(res.rows[0]).toMatchObject({ status: 'CrashLoopBackOff', restarts: 1 });
  });

  it('reports a pull failure as ErrImagePull and does not converge', async () => {
    const f = fakeHost(layout);
    f.images.failing.set('oci:/img:latest', new BerthError('NotFound', 'no such layout'));
    await writeFile(join(specs, 'a.yaml'), pod('a', ['main']));
    const r = reconciler(f);
    const res = await onceToDeadline(r, f.clock, 800, () => expect(['ErrImagePull', 'ImagePullBackOff']).toContain(r.rows()[0]?.status));
    expect(res.exitCode).toBe(1);
    expect(['ErrImagePull', 'ImagePullBackOff']).toContain(res.rows[0]!.status);
    expect(res.rows[0]!.message).toContain('no such layout');
    expect(f.netns.live.size).toBe(0);
  });

  it('a pod whose policy refuses its image fails for good without touching the network', async () => {
    const f = fakeHost(layout);
    f.images.failing.set('oci:/img:latest', new BerthError('PermissionDenied', 'not signed by a trusted key'));
    await writeFile(join(specs, 'a.yaml'), pod('a', ['main']));
    const res = await reconciler(f).once(3000);
    expect(res.exitCode).toBe(1);
    expect(res.rows[0]).toMatchObject({ status: 'ErrImagePull', message: 'not signed by a trusted key' });
    expect(f.cni.calls).toEqual([]);
  });
});
