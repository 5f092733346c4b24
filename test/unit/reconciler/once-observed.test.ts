/**
 * `reconcile --once` counts an app converged on what the host shows, not on a fixed wait
 * (issue 11 item 1): the monitor reported the start, and when the result is taken the
 * runtime still shows the app running. An app whose exit the host shows but whose machine has
 * not heard of it yet is not converged.
 */
import { rm } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Reconciler, type Layout } from '../../../src/reconciler/index.js';
import type { AppStatus } from '../../../src/runtime/index.js';
import { fakeHost, tempLayout, WEB_POD } from '../../fakes/host.js';
import { onceToDeadline } from './once-on-clock.js';

describe('reconcile --once: converged is observed', () => {
  let root: string;
  let layout: Layout;

  beforeEach(async () => {
    ({ root, layout } = await tempLayout('berth-once-obs-', { 'web.yaml': WEB_POD }));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('converges as soon as the app runs, with no minimum window', async () => {
    const f = fakeHost(layout);
    const r = await new Reconciler(f.host, { cniConfDirs: [] }).once(5000);
    expect(r.exitCode).toBe(0);
    expect(r.rows.map((x) => x.status)).toEqual(['Running']);
  });

  it('is not converged while the host shows an exit the app machine has not seen', async () => {
    const f = fakeHost(layout);
    const status = f.runtime.status.bind(f.runtime);
    // the exit file is there, the monitor's report of it has not arrived
    f.runtime.status = async (id: string): Promise<AppStatus> => {
      const st = await status(id);
      return st.state === 'running' ? { containerId: id, state: 'exited', exitCode: 1, finishedAt: Date.now() } : st;
    };
    const rec = new Reconciler(f.host, { cniConfDirs: [] });
    const r = await onceToDeadline(rec, f.clock, 600, () => expect(f.runtime.running()).toHaveLength(1));
    expect(r.exitCode).toBe(1);
  });
});
