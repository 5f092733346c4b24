/**
 * Issue 13 item 1: pod workers as the kubelet has them. The sync loop hands work out and
 * never waits for a pod: a pod in a long grace period delays no other pod; one key's work
 * stays in order (the old pod is gone before its replacement starts); requests made while a
 * key is busy are one sync afterwards, of the newest input (latest wins); many sync triggers
 * while a sync runs are one more sync.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listRecords, Reconciler, type Layout } from '../../../src/reconciler/index.js';
import type { DesiredSet } from '../../../src/api/types.js';
import { FakeRuntime, fakeHost, tempLayout } from '../../fakes/host.js';

// the label makes each edit a pod-level change (a new pod), the command alone would restart only the app
const pod = (name: string, arg = '1000') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {rev: "${arg}"}}
spec:
  terminationGracePeriodSeconds: 30
  containers:
    - {name: a, image: "oci:/img:latest", command: [sleep, "${arg}"]}
`;

/** Stopping an app of a pod named in `slow` takes until release() (a 30 s grace period, held open). */
class SlowStopRuntime extends FakeRuntime {
  slow = new Set<string>();
  stopping: string[] = [];
  private gate?: Promise<void>;
  private open?: () => void;
  hold() {
    this.gate = new Promise((r) => (this.open = r));
  }
  release() {
    this.open?.();
  }
  override async stop(id: string, graceMs = 0, signal?: AbortSignal, opts: { stopSignal?: string } = {}): Promise<void> {
    const podName = this.starts.find((s) => s.containerId === id)?.podName;
    if (podName && this.slow.has(podName)) {
      this.stopping.push(podName);
      await this.gate;
    }
    return super.stop(id, graceMs, signal, opts);
  }
}

async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('pod workers: the sync loop never waits for a pod', () => {
  let root: string;
  let layout: Layout;
  let specs: string;
  beforeEach(async () => {
    ({ root, layout } = await tempLayout('berth-pq-'));
    specs = layout.specDirs[0]!;
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  function setup() {
    const f = fakeHost(layout);
    const runtime = new SlowStopRuntime();
    f.host.runtime = runtime;
    const r = new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });
    const running = (name: string) =>
      runtime.running().some((id) => runtime.starts.some((s) => s.containerId === id && s.podName === name));
    const status = (name: string) => r.rows().find((x) => x.name === name)?.status;
    return { f, runtime, r, running, status };
  }

  it('a new pod starts while another pod waits out its grace period', async () => {
    const { runtime, r, running, status } = setup();
    await writeFile(join(specs, 'slow.yaml'), pod('slow'));
    await r.sync();
    await until('slow running', () => running('slow'));

    runtime.slow.add('slow');
    runtime.hold();
    await rm(join(specs, 'slow.yaml'));
    await writeFile(join(specs, 'fast.yaml'), pod('fast'));
    await r.sync(); // returns although the slow pod's teardown is held open
    await until('fast running', () => running('fast'));
    expect(status('fast')).toBe('Running');
    expect(runtime.stopping).toEqual(['slow']);
    expect(running('slow')).toBe(true); // still in its grace period
    expect(status('slow')).toBe('Terminating');

    runtime.release();
    await r.whenIdle();
    expect(running('slow')).toBe(false);
    expect((await listRecords(layout)).map((x) => x.name)).toEqual(['fast']);
    await r.stop();
  });

  it('one key stays in order, and a change made while its old pod is torn down is applied once, newest first', async () => {
    const { runtime, r, running } = setup();
    await writeFile(join(specs, 'web.yaml'), pod('web', '1001'));
    await r.sync();
    await until('web running', () => running('web'));

    runtime.slow.add('web');
    runtime.hold();
    await writeFile(join(specs, 'web.yaml'), pod('web', '1002'));
    await r.sync();
    await until('old web stopping', () => runtime.stopping.length === 1);
    // two more edits while the old pod is in its grace period: only the newest is applied
    await writeFile(join(specs, 'web.yaml'), pod('web', '1003'));
    await r.sync();
    await writeFile(join(specs, 'web.yaml'), pod('web', '1004'));
    await r.sync();
    expect(runtime.starts.map((s) => s.container.command?.[1])).toEqual(['1001']); // nothing new before the old pod is gone

    runtime.slow.clear();
    runtime.release();
    await r.whenIdle();
    await until('new web running', () => running('web'));
    expect(runtime.starts.map((s) => s.container.command?.[1])).toEqual(['1001', '1004']);
    const recs = await listRecords(layout);
    expect(recs).toHaveLength(1);
    expect(recs[0]!.pod.spec.containers[0]!.command).toEqual(['sleep', '1004']);
    await r.stop();
  });

  it('sync triggers made while a sync runs are coalesced into one more sync', async () => {
    const f = fakeHost(layout);
    let reads = 0;
    let open!: () => void;
    const gate = new Promise<void>((res) => (open = res));
    class Counting extends Reconciler {
      override async loadDesired(): Promise<DesiredSet> {
        reads++;
        if (reads === 1) await gate;
        return super.loadDesired();
      }
    }
    const r = new Counting(f.host, { cniConfDirs: [], minReadyMs: 0 });
    await writeFile(join(specs, 'web.yaml'), pod('web'));
    const first = r.sync();
    await until('the first sync reading its input', () => reads === 1);
    const more = Array.from({ length: 20 }, () => r.sync());
    open();
    await Promise.all([first, ...more]);
    expect(reads).toBe(2);
    await r.whenIdle();
    await r.stop();
  });
});
