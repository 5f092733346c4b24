/**
 * Pod-level fields with the built CLI and real crun (issue 9 item 6):
 * - shareProcessNamespace: the apps share one PID namespace whose PID 1 is berth's pause
 *   (nobody, no capabilities, seccomp, no_new_privs); an app sees the other's processes; an
 *   orphan is re-parented to pause and reaped; a killed pause is started again with the apps;
 * - pod-level resources: the pod cgroup holds the pod's memory and cpu limits with the apps'
 *   cgroups below it; an app over the pod's memory limit (none of its own) is OOMKilled;
 *   nothing of the pod cgroup is left after the teardown.
 * Host objects: bridge berth-pl0, subnet 10.249.0.0/24, IPAM dataDir under the sandbox.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { CLI, closeSandbox, createSandbox, isRoot, LOOP, networkYaml, shortId, type Sandbox } from '../helpers/berth-cli.js';

const IMAGE = 'oci:/opt/berth/images/busybox:latest';
const BRIDGE = 'berth-pl0';
const CGROUP_V1 = '/sys/fs/cgroup';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!isRoot)('pod-level fields: shareProcessNamespace and resources', () => {
  let sb: Sandbox;
  const ids = new Set<string>([BRIDGE, 'podlevelnet']); // the network's name is in its ipMasq rules' comments
  const short: Record<string, string> = {};
  const logs = async (pod: string, app: string) => (await sb.run(['logs', pod, '-c', app])).stdout;
  const exec = async (pod: string, app: string, ...argv: string[]) => {
    const r = await execa('node', [CLI, ...sb.args, 'exec', pod, '-c', app, '--', ...argv], {
      reject: false,
      timeout: 60_000,
      stdin: 'ignore',
    });
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  /** Wait for a line of the app's log that is exactly `line` (not the script in a ps listing). */
  const waitLog = async (pod: string, app: string, line: string) => {
    for (let i = 0; i < 300; i++) {
      if ((await logs(pod, app)).split('\n').includes(line)) return;
      await sleep(100);
    }
    throw new Error(`${pod}/${app}: no log line ${JSON.stringify(line)}`);
  };

  beforeAll(async () => {
    sb = await createSandbox('berth-podlevel');
    await sb.writeSpec('00-net.yaml', networkYaml('podlevelnet', BRIDGE, '10.249.0.0/24', join(sb.root, 'ipam')));
    await sb.writeSpec(
      'shared.yaml',
      `apiVersion: v1
kind: Pod
metadata: {name: shared}
spec:
  terminationGracePeriodSeconds: 2
  shareProcessNamespace: true
  containers:
    - name: a
      image: ${IMAGE}
      command: [sh, -c, "exec sleep 100001"]
    - name: b
      image: ${IMAGE}
      command: [sh, -c, ${JSON.stringify(`(sleep 5 &); sleep 2; echo BEFORE; ps -o pid,ppid,stat,args; sleep 6; echo AFTER; ps -o pid,ppid,stat,args; echo CHECK-DONE; exec sleep 100002`)}]
`,
    );
    await sb.writeSpec(
      'limited.yaml',
      `apiVersion: v1
kind: Pod
metadata: {name: limited}
spec:
  terminationGracePeriodSeconds: 2
  restartPolicy: Never
  resources:
    requests: {cpu: 250m, memory: 32Mi}
    limits: {cpu: 500m, memory: 64Mi}
  containers:
    - name: steady
      image: ${IMAGE}
      command: [sh, -c, ${JSON.stringify(`echo STEADY-UP; ${LOOP}`)}]
      resources: {requests: {memory: 8Mi}, limits: {memory: 32Mi}}
    - name: hog
      image: ${IMAGE}
      command: [sh, -c, "sleep 2; x=0123456789abcdef; while true; do x=\\"$x$x\\"; done"]
`,
    );
    const r = await sb.run(['reconcile', '--once', '--timeout', '90s']);
    expect(r.exitCode, r.stderr).toBe(0);
    for (const p of (await sb.status()).pods) {
      if (!p.uid) continue;
      ids.add(shortId(p.uid));
      short[p.name] = shortId(p.uid);
    }
    await waitLog('shared', 'b', 'CHECK-DONE');
  }, 180_000);

  afterAll(async () => {
    if (!sb) return;
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
    // the pod cgroup is gone from every hierarchy
    for (const s of Object.values(short)) {
      for (const h of ['cpu', 'memory', 'pids', 'cpuset', 'unified', ''])
        expect(existsSync(join(CGROUP_V1, h, 'berth', `pod-${s}`))).toBe(false);
    }
  }, 120_000);

  it('an app sees the other app and PID 1 is pause', async () => {
    const ps = await exec('shared', 'a', 'ps', '-o', 'pid,user,args');
    expect(ps.exitCode, ps.stderr).toBe(0);
    expect(ps.stdout).toMatch(/^\s*1\s+\S+\s+\/pause\s*$/m);
    expect(ps.stdout).toContain('sleep 100001');
    expect(ps.stdout).toContain('sleep 100002');
    const cmdline = await exec('shared', 'b', 'cat', '/proc/1/cmdline');
    expect(cmdline.stdout).toBe('/pause\0');
  });

  it('pause runs as nobody with no capabilities, no_new_privs and seccomp', async () => {
    const st = (await exec('shared', 'a', 'cat', '/proc/1/status')).stdout;
    expect(st).toMatch(/^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
    expect(st).toMatch(/^CapEff:\s+0+$/m);
    expect(st).toMatch(/^CapBnd:\s+0+$/m);
    expect(st).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(st).toMatch(/^Seccomp:\s+2$/m);
  });

  it('an orphan is re-parented to pause and reaped when it exits', async () => {
    const out = await logs('shared', 'b');
    // the markers on lines of their own (the ps lists show the script, which names them too)
    const before = out.slice(out.indexOf('BEFORE\n'), out.indexOf('\nAFTER\n'));
    const after = out.slice(out.indexOf('\nAFTER\n'), out.indexOf('\nCHECK-DONE\n'));
    expect(after.length).toBeGreaterThan(10);
    expect(before, out).toMatch(/^\s*\d+\s+1\s+\S+\s+sleep 5$/m);
    expect(after, out).not.toMatch(/^\s*\d+\s+\d+\s+\S+\s+sleep 5$/m);
    expect(after, out).not.toMatch(/^\s*\d+\s+\d+\s+Z/m);
  });

  it('the pod cgroup has the pod limits, the apps cgroups are below it', () => {
    const pod = `berth/pod-${short.limited}`;
    expect(readFileSync(join(CGROUP_V1, 'memory', pod, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(64 * 2 ** 20));
    expect(readFileSync(join(CGROUP_V1, 'cpu', pod, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('50000');
    expect(readFileSync(join(CGROUP_V1, 'cpu', pod, 'cpu.cfs_period_us'), 'utf8').trim()).toBe('100000');
    expect(readFileSync(join(CGROUP_V1, 'cpu', pod, 'cpu.shares'), 'utf8').trim()).toBe('256');
    const steady = join(CGROUP_V1, 'memory', pod, `berth-${short.limited}-steady`);
    expect(readFileSync(join(steady, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(32 * 2 ** 20));
  });

  it('an app with no limit of its own is OOMKilled at the pod memory limit', async () => {
    let hog: { state: string } | undefined;
    for (let i = 0; i < 100; i++) {
      const pod = (await sb.status()).pods.find((p) => p.name === 'limited');
      hog = pod?.apps.find((a) => a.name === 'hog');
      if (hog?.state !== 'running') break;
      await sleep(200);
    }
    expect(hog).toMatchObject({ state: 'terminated', exitCode: 137, reason: 'OOMKilled' });
    const d = await sb.run(['describe', 'limited']);
    expect(d.stdout).toMatch(/hog:[\s\S]*Reason:\s+OOMKilled/);
    const steady = (await sb.status()).pods.find((p) => p.name === 'limited')!.apps.find((a) => a.name === 'steady');
    expect(steady?.state).toBe('running');
  });

  it('a killed pause is started again and the apps with it', async () => {
    const before = await exec('shared', 'a', 'cat', '/proc/1/status');
    expect(before.exitCode).toBe(0);
    const pausePid = Number(readFileSync(join(sb.root, 'run', 'containers', `berth-${short.shared}-POD`, 'ctr.pid'), 'utf8').trim());
    expect(pausePid).toBeGreaterThan(1);
    process.kill(pausePid, 'SIGKILL');
    // the kernel kills the namespace's processes with its PID 1: the apps exit
    for (let i = 0; i < 100; i++) {
      const apps = (await sb.status()).pods.find((p) => p.name === 'shared')!.apps;
      if (apps.every((a) => a.state !== 'running')) break;
      await sleep(100);
    }
    // (the limited pod stays Error, its hog OOMKilled under restartPolicy Never: not converged, exit status 1)
    await sb.run(['reconcile', '--once', '--timeout', '60s']);
    const pod = (await sb.status()).pods.find((p) => p.name === 'shared')!;
    expect(pod.apps.map((a) => [a.name, a.state])).toEqual([
      ['a', 'running'],
      ['b', 'running'],
    ]);
    expect(pod.apps.every((a) => a.restartCount >= 1)).toBe(true);
    const ps = await exec('shared', 'a', 'ps', '-o', 'pid,args');
    expect(ps.stdout).toMatch(/^\s*1\s+\/pause\s*$/m);
    expect(ps.stdout).toContain('sleep 100002');
    const newPid = Number(readFileSync(join(sb.root, 'run', 'containers', `berth-${short.shared}-POD`, 'ctr.pid'), 'utf8').trim());
    expect(newPid).not.toBe(pausePid);
  }, 120_000);
});
