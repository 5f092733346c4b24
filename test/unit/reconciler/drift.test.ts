/**
 * repairAppDrift (issue 13 item 8) over the fakes: a lost monitor stops the app (its exit is
 * the app machine's to restart), a removed tree is rendered again once per tree, a removed
 * bundle config is restored; each with a Warning event; an app without drift is untouched.
 */
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { repairAppDrift, runningApps } from '../../../src/reconciler/drift.js';
import type { PodRecord } from '../../../src/reconciler/records.js';
import type { AppDrift } from '../../../src/runtime/types.js';
import { fakeHost, tempLayout } from '../../fakes/host.js';

const rec = {
  uid: '11111111-2222-3333-4444-555555555555',
  key: 'default/web',
  attachments: [],
  pod: {
    spec: {
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 1,
      containers: [
        { name: 'a', image: 'oci:/img:latest' },
        { name: 'b', image: 'oci:/img:latest' },
        { name: 'c', image: 'oci:/img:latest' },
      ],
    },
  },
} as unknown as PodRecord;

describe('repairAppDrift', () => {
  let root = '';
  afterEach(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('stops an app whose monitor is gone, renders a removed tree again once, restores a removed bundle config; one Warning event each', async () => {
    const t = await tempLayout('berth-drift-');
    root = t.root;
    const { host, runtime, images, events } = fakeHost(t.layout);
    const lower = '/rendered/sha256:' + 'a'.repeat(64);
    const drift: Record<string, AppDrift> = {
      a: { monitorLost: true, lowerGone: false, bundleGone: false },
      b: { monitorLost: false, lowerGone: true, lowerDir: lower, bundleGone: true },
      c: { monitorLost: false, lowerGone: true, lowerDir: lower, bundleGone: false },
    };
    const restored: string[] = [];
    const renders: string[] = [];
    const render = images.render.bind(images);
    images.render = async (img) => {
      renders.push(img.reference);
      return render(img);
    };
    Object.assign(runtime, {
      drift: async (id: string) => drift[id.split('-').pop()!],
      restoreBundle: async (id: string) => (restored.push(id), true),
    });
    for (const n of ['a', 'b', 'c']) await runtime.start({ containerId: `berth-111111112222-${n}`, appName: n } as never);

    const out = await repairAppDrift(host, rec, ['a', 'b', 'c'], host.log);
    expect(out).toEqual(
      [
        { app: 'b', reason: 'RenderedTreeRemoved', repaired: true },
        { app: 'b', reason: 'BundleRemoved', repaired: true },
        { app: 'c', reason: 'RenderedTreeRemoved', repaired: true },
        { app: 'a', reason: 'MonitorLost', repaired: true },
      ].sort((x, y) => ['a', 'b', 'c'].indexOf(x.app) - ['a', 'b', 'c'].indexOf(y.app)),
    );
    expect(runtime.stops.map((s) => s.containerId)).toEqual(['berth-111111112222-a']);
    expect(renders).toEqual(['oci:/img:latest']); // one render for the two apps on the tree
    expect(restored).toEqual(['berth-111111112222-b']);
    expect(events.events.map((e) => [e.app, e.type, e.reason])).toEqual([
      ['a', 'Warning', 'MonitorLost'],
      ['b', 'Warning', 'RenderedTreeRemoved'],
      ['b', 'Warning', 'BundleRemoved'],
      ['c', 'Warning', 'RenderedTreeRemoved'],
    ]);
  });

  it('does nothing for apps without drift, and without a runtime that can tell', async () => {
    const t = await tempLayout('berth-drift-');
    root = t.root;
    const { host, runtime, events } = fakeHost(t.layout);
    expect(await repairAppDrift(host, rec, ['a'], host.log)).toEqual([]);
    Object.assign(runtime, { drift: async () => ({ monitorLost: false, lowerGone: false, bundleGone: false }) });
    expect(await repairAppDrift(host, rec, ['a', 'b'], host.log)).toEqual([]);
    expect(runtime.stops).toEqual([]);
    expect(events.events).toEqual([]);
  });

  it('runningApps lists the apps the machine has running', () => {
    expect(runningApps({ a: { state: 'running' }, b: { state: 'backoff' }, c: { state: 'running' } })).toEqual(['a', 'c']);
    expect(runningApps(undefined)).toEqual([]);
  });
});
