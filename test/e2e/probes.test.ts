/**
 * Probes and hooks on real pods through the built CLI (issue 9 items 1 and 2): an exec
 * liveness probe that starts failing restarts the app (Unhealthy and Killing events), its
 * preStop hook runs before SIGTERM and writes into the app's log; a failing readiness probe
 * shows 0/1 while Running and keeps `reconcile --once` from converging. hostNetwork pods: no
 * bridge needed; exec probes run inside the app either way.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSandbox, createSandbox, isRoot, LOOP, shortId, type Sandbox } from '../helpers/berth-cli.js';

const IMAGE = 'oci:/opt/berth/images/busybox:latest';

const LIVE = `apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  hostNetwork: true
  # room for the preStop exec on a loaded machine (the app exits at once on TERM)
  terminationGracePeriodSeconds: 30
  containers:
    - name: main
      image: ${IMAGE}
      # healthy for 4 s, then the liveness file is gone; TERM is logged, then the app exits
      command: [sh, -c, "touch /tmp/healthy; (sleep 4; rm -f /tmp/healthy) & trap 'echo got-term; exit 0' TERM; while true; do sleep 1 & wait $!; done"]
      livenessProbe:
        exec: {command: [cat, /tmp/healthy]}
        initialDelaySeconds: 1
        periodSeconds: 1
        timeoutSeconds: 5
        failureThreshold: 2
      lifecycle:
        preStop:
          exec: {command: [sh, -c, "echo prestop-ran > /proc/1/fd/1"]}
`;

const UNREADY = `apiVersion: v1
kind: Pod
metadata: {name: unready}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  containers:
    - name: main
      image: ${IMAGE}
      command: [sh, -c, ${JSON.stringify(LOOP)}]
      readinessProbe:
        exec: {command: ["false"]}
        periodSeconds: 1
`;

interface EventsFile {
  events: Array<{ reason: string; message: string; app?: string; count: number }>;
}

/** Poll until `test` holds (bounded, not a timing assertion). */
async function until<T>(get: () => Promise<T>, test: (v: T) => boolean, what: string, ms = 90_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (test(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe.skipIf(!isRoot)('probes and lifecycle hooks', () => {
  let sb: Sandbox;
  const ids = new Set<string>();
  let daemon: ResultPromise | undefined;

  beforeAll(async () => {
    sb = await createSandbox('berth-e2eprobe');
  });

  afterAll(async () => {
    if (daemon?.pid) {
      daemon.kill('SIGTERM');
      await daemon.catch(() => undefined);
    }
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('a failing readiness probe shows 0/1 while Running and --once does not converge', async () => {
    await sb.writeSpec('unready.yaml', UNREADY);
    const v = await sb.run(['validate']);
    expect(v.exitCode, v.stdout + v.stderr).toBe(0);
    // --once never converges here: it waits the whole timeout (long enough for a loaded machine to start the app)
    const once = await sb.run(['reconcile', '--once', '--timeout', '25s']);
    expect(once.exitCode, once.stdout.slice(-3000)).toBe(1);
    const pod = (await sb.status()).pods.find((p) => p.name === 'unready')!;
    ids.add(shortId(pod.uid!));
    expect(pod).toMatchObject({ status: 'Running', ready: '0/1' });
  });

  it('a liveness probe that starts failing restarts the app: Unhealthy, Killing, preStop in the log before SIGTERM', async () => {
    await sb.writeSpec('live.yaml', LIVE);
    daemon = sb.spawn(['reconcile']);
    const pods = await until(
      () => sb.status(),
      (s) => (s.pods.find((p) => p.name === 'live')?.restarts ?? 0) >= 1,
      'a restart of live',
    );
    const live = pods.pods.find((p) => p.name === 'live')!;
    ids.add(shortId(live.uid!));
    expect(live.apps[0]!.restartCount).toBeGreaterThanOrEqual(1);
    // readiness still failing under the daemon
    expect(pods.pods.find((p) => p.name === 'unready')).toMatchObject({ status: 'Running', ready: '0/1' });

    const eventsPath = join(sb.root, 'state', 'events', `${live.uid}.json`);
    const events = await until(
      async () => JSON.parse(await readFile(eventsPath, 'utf8').catch(() => '{"events":[]}')) as EventsFile,
      (e) => e.events.some((x) => x.reason === 'Killing' && x.message.includes('failed liveness probe')),
      'the Killing event',
    );
    const unhealthy = events.events.find((x) => x.reason === 'Unhealthy');
    expect(unhealthy?.message, JSON.stringify(events.events)).toMatch(/^Liveness probe failed: /);
    expect(unhealthy?.app).toBe('main');

    // the first execution's log: preStop's line, then the app's reaction to SIGTERM
    const logs = await sb.run(['logs', 'live', '--previous']);
    expect(logs.exitCode, logs.stderr).toBe(0);
    const pre = logs.stdout.indexOf('prestop-ran');
    const term = logs.stdout.indexOf('got-term');
    expect(pre, `${logs.stdout}\n${JSON.stringify(events.events)}`).toBeGreaterThanOrEqual(0);
    expect(term, logs.stdout).toBeGreaterThan(pre);
  });
});
