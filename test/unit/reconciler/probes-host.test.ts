/**
 * Probes and hooks through the reconciler on the fake host (issue 9 items 1, 2): exec probes
 * and hooks go to runtime.exec, a failed liveness probe is an Unhealthy event, then Killing,
 * preStop, and a stop with the probe's terminationGracePeriodSeconds and lifecycle.stopSignal;
 * the app restarts. A failing readiness probe keeps `--once` from converging.
 */
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { listRecords, Reconciler } from '../../../src/reconciler/index.js';
import { fakeHost, tempLayout } from '../../fakes/host.js';
import { onceToDeadline } from './once-on-clock.js';

const LIVE = `apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 30
  os: {name: linux}
  containers:
    - name: main
      image: "oci:/img:latest"
      command: [sleep, "1000"]
      livenessProbe: {exec: {command: [check-live]}, periodSeconds: 1, failureThreshold: 1, terminationGracePeriodSeconds: 7}
      lifecycle:
        postStart: {exec: {command: [post-start]}}
        preStop: {exec: {command: [pre-stop]}}
        stopSignal: SIGUSR1
`;

const READY = `apiVersion: v1
kind: Pod
metadata: {name: ready}
spec:
  containers:
    - name: main
      image: "oci:/img:latest"
      command: [sleep, "1000"]
      readinessProbe: {exec: {command: [check-ready]}, periodSeconds: 1}
`;

async function until(test: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('probes and hooks through the reconciler (fake host)', () => {
  let root = '';
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('a failing liveness probe: Unhealthy, Killing, preStop, stop with the probe grace, restart', async () => {
    const t = await tempLayout('berth-probehost-', { 'live.yaml': LIVE });
    root = t.root;
    const f = fakeHost(t.layout);
    f.runtime.execHandler = (_id, argv) => ({
      exitCode: argv[0] === 'check-live' ? 1 : 0,
      stdout: argv[0] === 'check-live' ? 'not alive' : '',
      stderr: '',
      timedOut: false,
    });
    const rec = new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });
    const ac = new AbortController();
    const running = rec.run(ac.signal);
    await until(() => f.runtime.starts.length >= 2);
    ac.abort();
    await running;
    const argv = f.runtime.execs.map((e) => e.argv[0]);
    // postStart before the first probe; preStop before the stop
    expect(argv.indexOf('post-start')).toBeLessThan(argv.indexOf('check-live'));
    expect(argv).toContain('pre-stop');
    // the probe's 7 s (less what preStop took), not the pod's 30 s
    expect(f.runtime.stops[0]!.graceMs).toBeGreaterThan(5000);
    expect(f.runtime.stops[0]!.graceMs).toBeLessThanOrEqual(7000);
    expect(f.runtime.stops[0]!.stopSignal).toBe('SIGUSR1');
    const reasons = f.events.events.filter((e) => e.app === 'main').map((e) => e.reason);
    expect(reasons).toContain('Unhealthy');
    expect(reasons.indexOf('Unhealthy')).toBeLessThan(reasons.indexOf('Killing'));
    expect(f.events.events.find((e) => e.reason === 'Unhealthy')?.message).toContain('Liveness probe failed: not alive');
    expect(f.events.events.find((e) => e.reason === 'Killing' && e.app === 'main')?.message).toBe(
      'Container main failed liveness probe, will be restarted',
    );
    const [r] = await listRecords(t.layout);
    expect(r!.apps.main).toMatchObject({ restartCount: 1, lastExit: { exitCode: 138, reason: 'Error' } }); // ended by its stop signal SIGUSR1 (128 + 10)
  });

  it('--once waits for a readiness probe: not converged while it fails, converged once it passes', async () => {
    const t = await tempLayout('berth-probehost-', { 'ready.yaml': READY });
    root = t.root;
    const f = fakeHost(t.layout);
    let ok = false;
    f.runtime.execHandler = () => ({ exitCode: ok ? 0 : 1, stdout: '', stderr: '', timedOut: false });
    const r = new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });
    // the readiness probe fails at every period of the clock until the deadline
    const first = await onceToDeadline(r, f.clock, 2500, () => expect(f.runtime.execs.length).toBeGreaterThan(0));
    expect(first.exitCode).toBe(1);
    expect(f.runtime.execs.length).toBeGreaterThan(1);
    expect((await listRecords(t.layout))[0]!.apps.main).toMatchObject({ state: 'running', ready: false, started: true });
    ok = true;
    const second = await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000);
    expect(second.exitCode).toBe(0);
    expect((await listRecords(t.layout))[0]!.apps.main).toMatchObject({ state: 'running', ready: true });
    expect(f.runtime.starts).toHaveLength(1); // adopted, not restarted
  });
});
