/**
 * `berth logs` as kubectl logs, with the built CLI and an agent running (issue 9 item 8): the
 * Defaulted container notice, --all-containers with --prefix, --since / --since-time, -f across
 * a restart that ends when the pod is deleted, and size-based rotation by the agent
 * (--container-log-max-size / --container-log-max-files) keeping whole, consecutive lines.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxImage, closeSandbox, createSandbox, isRoot, networkYaml, shortId, type Sandbox } from '../helpers/berth-cli.js';

const BRIDGE = 'berth-lg0';

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe.skipIf(!isRoot)('berth logs', () => {
  let sb: Sandbox;
  let agent: ReturnType<Sandbox['spawn']> | undefined;
  const ids = new Set<string>([BRIDGE]);

  beforeAll(async () => {
    sb = await createSandbox('berth-logs');
    const busybox = await buildBusyboxImage(join(sb.root, 'busybox'));
    await sb.writeSpec('00-net.yaml', networkYaml('logsnet', BRIDGE, '10.234.0.0/24', join(sb.root, 'ipam')));
    await sb.writeSpec(
      'logs.yaml',
      `apiVersion: v1
kind: Pod
metadata: {name: logs}
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
    - {name: init, image: ${busybox}, command: [sh, -c, "echo init-done"]}
  containers:
    - name: main
      image: ${busybox}
      command: [sh, -c, "echo main-run; sleep 3; exit 1"]
    - name: side
      image: ${busybox}
      command: [sh, -c, ${JSON.stringify('i=0; while true; do echo "side-line-$i padding-padding-padding-padding-padding-padding"; i=$((i+1)); sleep 0.05; done')}]
`,
    );
    agent = sb.spawn(['reconcile', '--resync', '2s', '--container-log-max-size', '2Ki', '--container-log-max-files', '3']);
    await until('pod running', async () =>
      (await sb.status()).pods.find((p) => p.name === 'logs')?.apps.find((a) => a.name === 'side')?.state === 'running' ? true : undefined,
    );
    for (const p of (await sb.status()).pods) if (p.uid) ids.add(shortId(p.uid));
  });

  afterAll(async () => {
    if (!sb) return;
    if (agent?.pid) {
      agent.kill('SIGTERM');
      await agent.catch(() => undefined);
    }
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('defaults to the first app with kubectl notice; --all-containers --prefix; --since and --since-time', async () => {
    const r = await until('main log', async () => {
      const x = await sb.run(['logs', 'logs']);
      return x.stdout.includes('main-run') ? x : undefined;
    });
    expect(r.stderr).toContain('Defaulted container "main" out of: main, side');
    const all = await sb.run(['logs', 'logs', '--all-containers', '--prefix', '--tail', '1']);
    expect(all.exitCode, all.stderr).toBe(0);
    expect(all.stdout).toContain('[pod/logs/init] init-done\n');
    expect(all.stdout).toContain('[pod/logs/main] main-run\n');
    expect(all.stdout).toMatch(/\[pod\/logs\/side\] side-line-\d+/);
    expect(all.stderr).not.toContain('Defaulted container');
    expect((await sb.run(['logs', 'logs', '-c', 'init', '--since', '1h'])).stdout).toBe('init-done');
    expect((await sb.run(['logs', 'logs', '-c', 'init', '--since-time', '2099-01-01T00:00:00Z'])).stdout).toBe('');
    expect((await sb.run(['logs', 'logs', '--since', '1h', '--since-time', '2099-01-01T00:00:00Z'])).exitCode).not.toBe(0);
  });

  it('rotates a growing log at the agent limits, keeping whole consecutive lines', async () => {
    const pod = (await sb.status()).pods.find((p) => p.name === 'logs')!;
    const dir = join(sb.root, 'log', `default_logs_${pod.uid}`, 'side');
    // max-files 3: the live file and two rotated; the third rotation prunes the oldest
    const nums = await until('the oldest rotated file pruned', async () => {
      const text = (await sb.run(['logs', 'logs', '-c', 'side'])).stdout;
      const n = text.split('\n').map((l) => Number(/^side-line-(\d+) padding/.exec(l)?.[1]));
      return n.length > 0 && n[0]! > 0 ? n : undefined;
    });
    const rotated = (await readdir(dir)).filter((n) => /^\d+\.log\./.test(n));
    expect(rotated.length).toBeLessThanOrEqual(2);
    expect(nums.every((n) => Number.isInteger(n))).toBe(true);
    for (let i = 1; i < nums.length; i++) expect(nums[i]).toBe(nums[i - 1]! + 1);
  });

  it('-f follows main across a restart and ends when the pod is deleted', async () => {
    const f = sb.spawn(['logs', '-f', 'logs', '-c', 'main']);
    let out = '';
    f.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    await until('a restart seen by -f', async () => ((out.match(/main-run/g)?.length ?? 0) >= 2 ? true : undefined), 100_000);
    await sb.removeSpec('logs.yaml');
    const r = await Promise.race([f, new Promise<'hung'>((res) => setTimeout(() => res('hung'), 60_000))]);
    if (r === 'hung') f.kill('SIGKILL');
    expect(r).not.toBe('hung');
    expect((r as { exitCode?: number }).exitCode).toBe(0);
  });
});
