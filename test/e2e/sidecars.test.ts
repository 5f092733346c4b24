/**
 * Issue 9 item 3 on the real host: a pod with a sidecar (initContainers[].restartPolicy:
 * Always), an init container and an app. The sidecar starts first and keeps running; the
 * init container runs to completion while `status` says Init:1/2; then the app starts. A
 * killed sidecar is restarted; the teardown stops the app before the sidecar (their TERM
 * traps append to a hostPath file, with timestamps, and the agent's log shows the exits).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSandbox, createSandbox, isRoot, shortId, type Sandbox } from '../helpers/berth-cli.js';

const IMAGE = 'oci:/opt/berth/images/busybox:latest';

interface Row {
  name: string;
  uid: string | null;
  status: string;
  ready: string;
  apps: Array<{ name: string; state: string; restartCount: number; pid: number | null }>;
  initContainers?: Array<{
    name: string;
    state: string;
    restartCount: number;
    pid: number | null;
    sidecar: boolean;
    exitCode: number | null;
  }>;
  conditions?: Array<{ type: string; status: string }>;
}

describe.skipIf(!isRoot)('init containers and sidecars (built CLI, crun)', () => {
  let sb: Sandbox;
  let out = '';
  const ids = new Set<string>();

  beforeAll(async () => {
    sb = await createSandbox('berth-e2eside');
    out = join(sb.root, 'out');
    await mkdir(out);
  });

  afterAll(async () => {
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  const rows = async (): Promise<Row[]> => (await sb.status()).pods as unknown as Row[];
  async function until(what: string, fn: (r: Row | undefined) => boolean, ms = 60_000): Promise<Row | undefined> {
    const end = Date.now() + ms;
    let last: Row | undefined;
    while (Date.now() < end) {
      last = (await rows()).find((r) => r.name === 'side');
      if (fn(last)) return last;
      await sleep(200);
    }
    throw new Error(`timed out waiting for ${what}; last row: ${JSON.stringify(last)}`);
  }

  it('starts the sidecar, runs the init container to completion, then the app; restarts a killed sidecar; stops the app before the sidecar', async () => {
    const mark = (what: string) => `echo "${what} $(date +%s)" >> /out/order`;
    const loop = (name: string) =>
      `trap '${mark(`${name}-term`)}; exit 0' TERM; ${mark(`${name}-start`)}; while true; do sleep 1 & wait $!; done`;
    await sb.writeSpec(
      'side.yaml',
      `apiVersion: v1
kind: Pod
metadata: {name: side}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 10
  volumes: [{name: out, hostPath: {path: ${out}, type: Directory}}]
  initContainers:
    - name: proxy
      image: ${IMAGE}
      restartPolicy: Always
      command: [sh, -c, ${JSON.stringify(loop('proxy'))}]
      volumeMounts: [{name: out, mountPath: /out}]
    - name: setup
      image: ${IMAGE}
      command: [sh, -c, ${JSON.stringify(`sleep 4; ${mark('setup-done')}`)}]
      volumeMounts: [{name: out, mountPath: /out}]
  containers:
    - name: app
      image: ${IMAGE}
      command: [sh, -c, ${JSON.stringify(loop('app'))}]
      volumeMounts: [{name: out, mountPath: /out}]
`,
    );
    const agent = sb.spawn(['reconcile', '--resync', '1s', '--log-level', 'debug']);
    let agentOut = '';
    agent.stdout?.on('data', (d: Buffer) => (agentOut += d.toString()));
    agent.stderr?.on('data', (d: Buffer) => (agentOut += d.toString()));
    try {
      const init = await until('Init:1/2 (sidecar started, setup running)', (r) => r?.status === 'Init:1/2');
      ids.add(shortId(init!.uid!));
      expect(init!.initContainers?.find((c) => c.name === 'proxy')).toMatchObject({ state: 'running', sidecar: true });
      expect(init!.conditions?.find((c) => c.type === 'Initialized')).toMatchObject({ status: 'False' });

      const up = await until('Running 2/2', (r) => r?.status === 'Running' && r.ready === '2/2');
      expect(up!.initContainers?.find((c) => c.name === 'setup')).toMatchObject({ state: 'terminated', exitCode: 0 });
      expect((await readFile(join(out, 'order'), 'utf8')).split('\n').map((l) => l.split(' ')[0])).toEqual([
        'proxy-start',
        'setup-done',
        'app-start',
        '',
      ]);

      const pid = up!.initContainers!.find((c) => c.name === 'proxy')!.pid!;
      expect(pid).toBeGreaterThan(1);
      process.kill(pid, 'SIGKILL'); // the sidecar's process, started by this test's pod
      const again = await until('the sidecar restarted', (r) => {
        const p = r?.initContainers?.find((c) => c.name === 'proxy');
        return !!p && p.restartCount === 1 && p.state === 'running' && r?.ready === '2/2';
      });
      expect(again!.apps[0]).toMatchObject({ state: 'running', restartCount: 0 });
      expect(again!.status).toBe('Running');

      await sb.removeSpec('side.yaml');
      await until('the pod gone', (r) => r === undefined, 60_000);
    } finally {
      agent.kill('SIGTERM');
      await agent;
    }
    const order = (await readFile(join(out, 'order'), 'utf8')).trim().split('\n');
    expect(order.map((l) => l.split(' ')[0])).toEqual(['proxy-start', 'setup-done', 'app-start', 'proxy-start', 'app-term', 'proxy-term']);
    const at = (what: string) => Number(order.find((l) => l.startsWith(`${what} `))!.split(' ')[1]);
    expect(at('app-term')).toBeLessThanOrEqual(at('proxy-term'));
    // the agent's log: the app was stopped before the sidecar, which was stopped on its own
    const lines = agentOut
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; app?: string; time?: string | number });
    const stopped = (app: string) => lines.find((l) => l.msg === 'app stopped' && l.app === app);
    expect(stopped('app'), agentOut.slice(-3000)).toBeDefined();
    expect(stopped('proxy')).toBeDefined();
    expect(lines.indexOf(stopped('app')!)).toBeLessThan(lines.findIndex((l) => l.msg === 'stopping sidecar' && l.app === 'proxy'));
    const t = (l: { time?: string | number } | undefined) => (typeof l?.time === 'number' ? l.time : Date.parse(String(l?.time)));
    expect(t(stopped('app'))).toBeLessThanOrEqual(t(stopped('proxy')));
  });

  it('keeps a pod with a readiness gate not Ready until berth condition sets it, and ends it at activeDeadlineSeconds', async () => {
    await sb.writeSpec(
      'gated.yaml',
      `apiVersion: v1
kind: Pod
metadata: {name: gated}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  activeDeadlineSeconds: 6
  readinessGates: [{conditionType: example.com/warm}]
  containers:
    - name: app
      image: ${IMAGE}
      command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done"]
`,
    );
    const up = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(up.exitCode, up.stdout.slice(-3000)).toBe(0);
    const gated = async () => (await rows()).find((r) => r.name === 'gated')!;
    const first = await gated();
    ids.add(shortId(first.uid!));
    expect(first).toMatchObject({ status: 'Running', ready: '1/1' });
    expect(first.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False' });
    const bad = await sb.run(['condition', 'gated', 'other=True']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain('has no readiness gate "other"');
    const set = await sb.run(['condition', 'gated', 'example.com/warm=True']);
    expect(set.exitCode, set.stderr).toBe(0);
    const after = await gated();
    expect(after.conditions?.filter((c) => c.type === 'Ready' || c.type === 'example.com/warm').map((c) => c.status)).toEqual([
      'True',
      'True',
    ]);

    // the deadline passes while no agent runs: the next agent ends the pod at once
    await sleep(Math.max(0, Date.parse((after as unknown as { createdAt: string }).createdAt) + 6500 - Date.now()));
    const end = await sb.run(['reconcile', '--once', '--timeout', '30s']);
    expect(end.stdout).toContain('Pod was active on the node longer than the specified deadline');
    const failed = await gated();
    expect(failed).toMatchObject({ status: 'DeadlineExceeded', reason: 'DeadlineExceeded' });
    expect(failed.apps[0]).toMatchObject({ state: 'terminated' });
    const events = await sb.run(['describe', 'gated']);
    expect(events.stdout).toContain('DeadlineExceeded');
    await sb.removeSpec('gated.yaml');
  });
});
