/**
 * The daemon as a service (issue 13 items 9, 10) through the built CLI: one start line and one
 * stop line, /healthz and /readyz on <run>/berth.sock, <run>/status.json, a SIGTERM that stops
 * the agent and leaves the apps running (the next `status` shows the same pids), and
 * `berth describe` with the pod's events.
 */
import { cp, readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSandbox, createSandbox, isRoot, LOOP, networkYaml, podYaml, shortId, type Sandbox } from '../helpers/berth-cli.js';

const BRIDGE = 'berth-dsv0';
const SOURCE_IMAGE = '/opt/berth/images/busybox';

const get = (socketPath: string, path: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface StatusFile {
  pods: Array<{ name: string; uid: string; status: string; apps: Array<{ name: string; pid: number | null }> }>;
  agent: { pid: number; version: string; state: string; ready: boolean };
  sources: Array<{ type: string; specDir: string; error: string | null }>;
  writtenAt: string;
}

describe.skipIf(!isRoot)('berth reconcile as a service', () => {
  let sb: Sandbox;
  const ids = new Set<string>([BRIDGE]);
  let daemon: ReturnType<Sandbox['spawn']> | undefined;

  beforeAll(async () => {
    sb = await createSandbox('berth-dsvc');
    const layout = join(sb.root, 'image');
    await cp(SOURCE_IMAGE, layout, { recursive: true });
    await sb.writeSpec('00-net.yaml', networkYaml('dsvnet', BRIDGE, '10.247.0.0/16', join(sb.root, 'ipam')));
    await sb.writeSpec('web.yaml', podYaml('svc-web', `oci:${layout}:latest`, [{ name: 'main', script: LOOP }]));
  });

  afterAll(async () => {
    if (daemon?.pid !== undefined && daemon.exitCode === null) {
      try {
        process.kill(daemon.pid, 'SIGKILL');
      } catch {
        // gone already
      }
      await daemon.catch(() => undefined);
    }
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('status.json, /healthz, /readyz; SIGTERM stops the agent only: the app keeps its pid; describe shows its events', async () => {
    const run = join(sb.root, 'run');
    const sock = join(run, 'berth.sock');
    const statusFile = join(run, 'status.json');
    daemon = sb.spawn(['reconcile', '--resync', '1s', '--log-format', 'json']);
    let out = '';
    daemon.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const lines = () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);

    const start = await until('the start line', async () => lines().find((l) => l.event === 'agent.start'));
    expect(start).toMatchObject({ specDirs: [sb.specDir], stateDir: join(sb.root, 'state'), runDir: run, version: expect.any(String) });
    expect(await until('/healthz', async () => ((await get(sock, '/healthz')).status === 200 ? true : undefined))).toBe(true);
    expect((await stat(sock)).mode & 0o777).toBe(0o600);
    expect(await until('/readyz', async () => ((await get(sock, '/readyz')).status === 200 ? true : undefined))).toBe(true);

    const running = await until('status.json with the pod running', async () => {
      const doc = JSON.parse(await readFile(statusFile, 'utf8')) as StatusFile;
      return doc.pods.find((p) => p.name === 'svc-web' && p.status === 'Running' && p.apps[0]?.pid) ? doc : undefined;
    });
    expect(running.agent).toMatchObject({ pid: daemon.pid, state: 'running', ready: true });
    expect(running.sources).toEqual([{ type: 'dir', specDir: sb.specDir, error: null }]);
    const pod = running.pods.find((p) => p.name === 'svc-web')!;
    ids.add(shortId(pod.uid));
    const pid = pod.apps[0]!.pid!;
    expect(JSON.parse((await get(sock, '/status')).body)).toMatchObject({ pods: [expect.objectContaining({ name: 'svc-web' })] });

    daemon.kill('SIGTERM');
    const res = await daemon;
    expect(res.exitCode).toBe(0);
    expect(lines().find((l) => l.event === 'agent.stop')).toMatchObject({ reason: 'SIGTERM' });
    await expect(stat(sock)).rejects.toThrow();
    expect((JSON.parse(await readFile(statusFile, 'utf8')) as StatusFile).agent.state).toBe('stopped');
    // the app outlived the agent
    expect(() => process.kill(pid, 0)).not.toThrow();
    const after = await sb.status();
    expect(after.pods.find((p) => p.name === 'svc-web')).toMatchObject({ status: 'Running', apps: [expect.objectContaining({ pid })] });

    const d = await sb.run(['describe', 'svc-web']);
    expect(d.exitCode, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/^Name: +svc-web$/m);
    expect(d.stdout).toMatch(/^Containers:\n {2}main:\n {4}Container ID: +crun:\/\/berth-[0-9a-f]{12}-main$/m);
    expect(d.stdout).toMatch(/^ {4}State: +Running\n {6}Started: +\w{3}, \d\d \w{3} \d{4} [\d:]{8} [+-]\d{4}$/m);
    expect(d.stdout).toMatch(/^ {2}Ready +True $/m);
    expect(d.stdout).toMatch(/^Events:\n {2}Type +Reason +Age +From +Message\n/m);
    for (const re of [
      /^ {2}Normal +Pulling +\S+ +berth +Pulling image "oci:/m,
      /^ {2}Normal +Pulled +\S+ +berth +Successfully pulled image/m,
      /^ {2}Normal +Created +\S+ +berth +Created container main$/m,
      /^ {2}Normal +Started +\S+ +berth +Started container main$/m,
    ]) {
      expect(d.stdout).toMatch(re);
    }
    const ev = await sb.run(['events', 'svc-web']);
    expect(ev.exitCode, ev.stderr).toBe(0);
    expect(ev.stdout).toMatch(/^NAMESPACE +LAST SEEN +TYPE +REASON +OBJECT +MESSAGE$/m);
    expect(ev.stdout).toMatch(/^default +\S+ +Normal +Started +pod\/svc-web +Started container main$/m);
  });
});
