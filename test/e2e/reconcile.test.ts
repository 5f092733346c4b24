/**
 * berth end to end, as a new user would check it (issue 2): the built CLI, real crun/runc +
 * conmon, the reference CNI plugins, real namespaces. Each test runs in its own sandbox
 * (spec/state/run/log dirs, a bridge and subnet of its own) and leaves nothing behind.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildBusyboxImage,
  closeSandbox,
  createSandbox,
  isRoot,
  leaksOf,
  LOOP,
  networkYaml,
  podYaml,
  shortId,
  type Sandbox,
} from '../helpers/berth-cli.js';

const BRIDGE = 'berth-e2e0';

describe.skipIf(!isRoot)('reconcile --once end to end', () => {
  let sb: Sandbox;
  let image: string;
  const ids = new Set<string>([BRIDGE]);

  beforeAll(async () => {
    sb = await createSandbox('berth-e2e');
    image = await buildBusyboxImage(join(sb.root, 'image'));
    await sb.writeSpec('00-net.yaml', networkYaml('e2enet', BRIDGE, '10.213.0.0/16', join(sb.root, 'ipam')));
  });

  afterAll(async () => {
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  const remember = async () => {
    for (const p of (await sb.status()).pods) if (p.uid) ids.add(shortId(p.uid));
  };

  it('converges two pods on one network: own netns, addresses, reachability, own rootfs, logs', async () => {
    await sb.writeSpec(
      'a.yaml',
      podYaml('pod-a', image, [
        { name: 'main', script: `test -e /etc/debian_version && echo HOST-ROOT || echo IMAGE-ROOT; echo hello-from-a; ${LOOP}` },
        { name: 'side', script: LOOP },
      ]),
    );
    await sb.writeSpec('b.yaml', podYaml('pod-b', image, [{ name: 'main', script: `echo hello-from-b; ${LOOP}` }]));
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(r.exitCode, r.stderr).toBe(0);
    await remember();
    const st = await sb.status();
    const a = st.pods.find((p) => p.name === 'pod-a')!;
    const b = st.pods.find((p) => p.name === 'pod-b')!;
    expect(a).toMatchObject({ status: 'Running', ready: '2/2', restarts: 0 });
    expect(b).toMatchObject({ status: 'Running', ready: '1/1' });
    expect(a.netns).not.toEqual(b.netns);
    expect(a.ips[0]).toMatch(/^10\.213\./);
    expect(b.ips[0]).toMatch(/^10\.213\./);
    expect(a.networks).toEqual([{ name: 'e2enet', interface: 'eth0', ips: [expect.stringMatching(/^10\.213\.\d+\.\d+\/16$/)] }]);
    for (const app of a.apps) expect(app.imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // pod A's namespace reaches pod B's address
    const ping = await execa('ip', ['netns', 'exec', a.netns!.split('/').pop()!, '/bin/busybox', 'ping', '-c', '1', '-W', '2', b.ips[0]!], {
      reject: false,
    });
    expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
    // the app sees its image's root filesystem; output is in the log file and in `berth logs`
    await new Promise((res) => setTimeout(res, 300));
    const logs = await sb.run(['logs', 'pod-a', '-c', 'main']);
    expect(logs.stdout).toContain('IMAGE-ROOT');
    expect(logs.stdout).toContain('hello-from-a');
    const file = await readFile(join(sb.root, 'log', `default_pod-a_${a.uid}`, 'main', '0.log'), 'utf8');
    expect(file).toMatch(/^\S+ stdout F IMAGE-ROOT$/m);
  });

  it('recreates only the changed pod; the other keeps its processes', async () => {
    const before = await sb.status();
    const b0 = before.pods.find((p) => p.name === 'pod-b')!;
    await sb.writeSpec('a.yaml', podYaml('pod-a', image, [{ name: 'main', script: `echo changed; ${LOOP}` }]));
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(r.exitCode, r.stderr).toBe(0);
    await remember();
    const after = await sb.status();
    const a1 = after.pods.find((p) => p.name === 'pod-a')!;
    const b1 = after.pods.find((p) => p.name === 'pod-b')!;
    expect(a1.uid).not.toBe(before.pods.find((p) => p.name === 'pod-a')!.uid);
    expect(a1).toMatchObject({ status: 'Running', ready: '1/1' });
    expect(b1.uid).toBe(b0.uid);
    expect(b1.apps.map((x) => x.pid)).toEqual(b0.apps.map((x) => x.pid));
  });

  it('keeps converging the valid pods next to an invalid file, and exits 2 naming file, line and field', async () => {
    await sb.writeSpec(
      'bad.yaml',
      'apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n    - name: x\n      image: img\n      comand: [true]\n',
    );
    await sb.writeSpec('c.yaml', podYaml('pod-c', image, [{ name: 'main', script: LOOP }]));
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:8:\d+: error: .*spec\.containers\[0\]/);
    expect(r.stderr).toContain('comand');
    await remember();
    const st = await sb.status();
    expect(st.pods.find((p) => p.name === 'pod-c')).toMatchObject({ status: 'Running' });
    expect(st.pods.find((p) => p.name === 'bad')).toMatchObject({ status: 'InvalidSpec' });
    await sb.removeSpec('bad.yaml');
    await sb.removeSpec('c.yaml');
  });

  it('restarts a crashing app with back-off and reports CrashLoopBackOff; --once exits 1 at the timeout', async () => {
    await sb.writeSpec('crash.yaml', podYaml('crash', image, [{ name: 'main', script: 'echo crashing; exit 1' }]));
    const t0 = Date.now();
    // --min-ready: the crash follows the start report by milliseconds; ask --once to wait for it
    const r = await sb.run(['reconcile', '--once', '--timeout', '20s', '--min-ready', '1s']);
    expect(r.exitCode).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(19_000);
    await remember();
    const p = (await sb.status()).pods.find((x) => x.name === 'crash')!;
    expect(p.status).toBe('CrashLoopBackOff');
    // immediate first restart, then 10 s: two restarts within 20 s
    expect(p.restarts).toBe(2);
    expect(p.apps[0]).toMatchObject({ restartCount: 2, exitCode: 1 });
    const prev = await sb.run(['logs', 'crash', '--previous']);
    expect(prev.stdout).toContain('crashing');
    await sb.removeSpec('crash.yaml');
  });

  it('finishes a run killed with -9 half way: no leaks, no duplicate containers', async () => {
    for (const n of ['k1', 'k2', 'k3']) await sb.writeSpec(`${n}.yaml`, podYaml(n, image, [{ name: 'main', script: LOOP }]));
    const child = sb.spawn(['reconcile', '--once', '--timeout', '60s']);
    let seen = '';
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (d: Buffer) => {
        seen += d.toString();
        if (seen.includes('"state":"attaching"')) resolve();
      });
      setTimeout(resolve, 5000);
    });
    child.kill('SIGKILL');
    await child;
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(r.exitCode, r.stderr).toBe(0);
    await remember();
    const pods = (await sb.status()).pods.filter((p) => /^k\d$/.test(p.name));
    expect(pods.map((p) => p.status)).toEqual(['Running', 'Running', 'Running']);
    for (const p of pods) {
      const id = shortId(p.uid!);
      const conmons = (await execa('ps', ['-eo', 'args='])).stdout
        .split('\n')
        .filter((l) => l.startsWith('conmon') && l.includes(`-c berth-${id}-main`));
      expect(conmons).toHaveLength(1);
    }
  });

  it('tears everything down when the specs go away', async () => {
    const code = await sb.teardown();
    expect(code).toBe(0);
    expect((await sb.status()).pods).toEqual([]);
    expect(await leaksOf([...ids, sb.root])).toEqual([]);
  });
});

describe.skipIf(!isRoot)('daemon mode and dry-run', () => {
  let sb: Sandbox;
  let image: string;
  const ids = new Set<string>(['berth-e2e1']);

  beforeAll(async () => {
    sb = await createSandbox('berth-e2e-d');
    image = await buildBusyboxImage(join(sb.root, 'image'));
    await sb.writeSpec('00-net.yaml', networkYaml('e2edaemon', 'berth-e2e1', '10.215.0.0/16', join(sb.root, 'ipam')));
  });

  afterAll(async () => {
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  const waitFor = async (pred: (s: Awaited<ReturnType<Sandbox['status']>>) => boolean, ms: number) => {
    const end = Date.now() + ms;
    for (;;) {
      const s = await sb.status();
      if (pred(s)) return s;
      if (Date.now() > end) throw new Error(`timed out; status: ${JSON.stringify(s.pods.map((p) => [p.name, p.status]))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('prints the plan without changing anything; exit 1 for pending changes, 0 for none', async () => {
    await sb.writeSpec('p.yaml', podYaml('planned', image, [{ name: 'main', script: LOOP }]));
    const r = await sb.run(['reconcile', '--once', '--dry-run']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/^create {2}default\/planned/m);
    expect((await sb.status()).pods).toEqual([]);
    expect((await sb.run(['reconcile', '--once'])).exitCode).toBe(0);
    for (const p of (await sb.status()).pods) if (p.uid) ids.add(shortId(p.uid));
    const again = await sb.run(['reconcile', '--once', '--dry-run']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toBe('no changes');
    await sb.removeSpec('p.yaml');
    expect((await sb.run(['reconcile', '--once'])).exitCode).toBe(0);
  });

  it('reacts to new, changed and removed files within seconds, and leaves pods running when stopped', async () => {
    const daemon = sb.spawn(['reconcile']);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      await sb.writeSpec('d.yaml', podYaml('watched', image, [{ name: 'main', script: LOOP }]));
      const s1 = await waitFor((s) => s.pods.some((p) => p.name === 'watched' && p.status === 'Running'), 15_000);
      const first = s1.pods.find((p) => p.name === 'watched')!;
      ids.add(shortId(first.uid!));
      await sb.writeSpec('d.yaml', podYaml('watched', image, [{ name: 'main', script: `echo v2; ${LOOP}` }]));
      // a changed command restarts the app in the same pod (smallest change)
      await waitFor(
        (s) =>
          s.pods.some(
            (p) =>
              p.name === 'watched' &&
              p.uid === first.uid &&
              p.apps[0]!.pid !== first.apps[0]!.pid &&
              p.apps[0]!.restartCount === 1 &&
              p.status === 'Running',
          ),
        20_000,
      );
      await sb.removeSpec('d.yaml');
      await waitFor((s) => s.pods.length === 0, 20_000);
      await sb.writeSpec('e.yaml', podYaml('survivor', image, [{ name: 'main', script: LOOP }]));
      const s3 = await waitFor((s) => s.pods.some((p) => p.name === 'survivor' && p.status === 'Running'), 15_000);
      ids.add(shortId(s3.pods.find((p) => p.name === 'survivor')!.uid!));
    } finally {
      daemon.kill('SIGTERM');
    }
    const res = await daemon;
    expect(res.exitCode).toBe(0);
    // the agent is gone; its pods are not
    const after = await sb.status();
    expect(after.pods.find((p) => p.name === 'survivor')).toMatchObject({ status: 'Running' });
  });

  it('repairs drift: a pod whose network namespace was deleted by hand is recreated', async () => {
    const before = (await sb.status()).pods.find((p) => p.name === 'survivor')!;
    const daemon = sb.spawn(['reconcile', '--resync', '1s']);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      await execa('ip', ['netns', 'delete', before.netns!.split('/').pop()!]);
      const s = await waitFor((st) => {
        const p = st.pods.find((x) => x.name === 'survivor');
        return !!p && p.status === 'Running' && p.apps[0]!.pid !== before.apps[0]!.pid;
      }, 20_000);
      const p = s.pods.find((x) => x.name === 'survivor')!;
      const ns = await execa('ip', ['netns', 'list']);
      expect(ns.stdout).toContain(p.netns!.split('/').pop()!);
      expect(p.ips[0]).toMatch(/^10\.215\./);
    } finally {
      daemon.kill('SIGTERM');
      await daemon;
    }
  });
});
