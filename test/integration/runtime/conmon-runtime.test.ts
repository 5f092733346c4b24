import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConmonRuntime,
  detectCgroupFacts,
  parseCgroupMounts,
  readCriLog,
  resolveOciRuntime,
  type AppLaunch,
} from '../../../src/runtime/index.js';
import { buildBusyboxRootfs, makeLaunch, PREFIX } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const RUNTIMES = ['crun', 'runc'] as const;

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of it) out.push(l);
  return out;
}

function mounted(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === path);
}

describe.skipIf(!isRoot)('ConmonRuntime on the real host', () => {
  let tmp = '';
  let lower = '';
  const runtimes = new Map<string, ConmonRuntime>();
  const netnses: string[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(`/tmp/${PREFIX}-`);
    lower = join(tmp, 'lower');
    await buildBusyboxRootfs(lower);
    for (const name of RUNTIMES) {
      const runDir = join(tmp, `run-${name}`);
      const oci = await resolveOciRuntime({ name, runDir });
      runtimes.set(name, new ConmonRuntime({ runDir, ociRuntime: oci, cgroupParent: PREFIX }));
    }
  });

  afterAll(async () => {
    for (const rt of runtimes.values()) {
      for (const id of await rt.list(PREFIX)) await rt.remove(id).catch(() => undefined);
    }
    for (const ns of netnses) spawnSync('ip', ['netns', 'del', ns]);
    for (const rt of runtimes.values()) await rt.pruneCgroupParent();
    const { v1, v2 } = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    for (const m of [...v1, ...v2]) expect(existsSync(join(m, PREFIX))).toBe(false);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('preflight picks the wrapper for crun exactly when the host is hybrid with v2 controllers', async () => {
    const cg = await detectCgroupFacts();
    const crun = runtimes.get('crun')!.oci;
    const wrapped = cg.mode === 'hybrid' && cg.unifiedControllers.length > 0;
    expect(crun.binaryPath.endsWith(`run-crun/bin/crun`)).toBe(wrapped);
    expect(runtimes.get('runc')!.oci.globalArgs).toEqual([]);
  });

  describe.each(RUNTIMES)('with %s', (name) => {
    const rt = () => runtimes.get(name)!;
    const id = (what: string) => `${PREFIX}-${name}-${what}`;
    const launch = (what: string, command: string[], extra: Partial<AppLaunch> & { execution?: number; stopSignal?: string } = {}) => {
      const l = makeLaunch({
        tmp,
        lower,
        id: id(what),
        command,
        ...(extra.execution !== undefined ? { execution: extra.execution } : {}),
        ...(extra.stopSignal ? { stopSignal: extra.stopSignal } : {}),
      });
      return { ...l, ...extra };
    };

    it('runs an app to its exit code and logs its output in CRI format', async () => {
      const l = launch('exit3', ['sh', '-c', 'echo hello out; echo hello err >&2; printf tail; exit 3']);
      try {
        const t0 = performance.now();
        const started = await rt().start(l);
        const startMs = performance.now() - t0;
        expect(started.pid).toBeGreaterThan(0);
        const exit = await rt().waitExit(l.containerId);
        expect(exit.exitCode).toBe(3);
        const st = await rt().status(l.containerId);
        expect(st).toMatchObject({ state: 'exited', exitCode: 3 });
        const lines = await collect(readCriLog(l.logPath));
        expect(lines).toEqual(expect.arrayContaining(['hello out', 'hello err', 'tail']));
        const raw = readFileSync(l.logPath, 'utf8');
        expect(raw).toMatch(/^\d{4}-\d\d-\d\dT\S+ stdout F hello out$/m);
        console.log(`[${name}] start (overlay+bundle+conmon+create+start) ${startMs.toFixed(1)} ms`);
      } finally {
        await rt().remove(l.containerId);
      }
    });

    it('reports a long-running app as running, and stop ends a TERM-ignoring PID 1 by KILL after the grace', async () => {
      const l = launch('sleep', ['sleep', '1000']);
      try {
        await rt().start(l);
        const st = await rt().status(l.containerId);
        expect(st.state).toBe('running');
        expect(st.pid).toBeGreaterThan(0);
        expect(existsSync(`/proc/${st.pid}`)).toBe(true);
        const t0 = Date.now();
        await rt().stop(l.containerId, 400);
        const elapsed = Date.now() - t0;
        expect(elapsed).toBeGreaterThanOrEqual(350);
        const after = await rt().status(l.containerId);
        expect(after).toMatchObject({ state: 'exited', exitCode: 137 });
        // stop again is a no-op
        await rt().stop(l.containerId, 400);
      } finally {
        await rt().remove(l.containerId);
      }
    });

    it('stop uses the image StopSignal and returns as soon as the app exits', async () => {
      const l = launch('stopsig', ['sh', '-c', 'trap "exit 42" USR1; while true; do sleep 0.1; done'], { stopSignal: 'SIGUSR1' });
      try {
        await rt().start(l);
        await new Promise((r) => setTimeout(r, 200)); // let the shell install its trap
        await rt().stop(l.containerId, 10_000);
        // 42, not 137: the stop signal ended it, no SIGKILL after the grace period
        expect(await rt().status(l.containerId)).toMatchObject({ state: 'exited', exitCode: 42 });
      } finally {
        await rt().remove(l.containerId);
      }
    });

    it('gives every execution a fresh copy of the lower rootfs and never writes into it', async () => {
      const script = 'test -e /marker && exit 7; echo x > /marker; cat /etc/berth-trt-lower; exit 0';
      const first = launch('fresh', ['sh', '-c', script], { execution: 0 });
      const second = launch('fresh', ['sh', '-c', script], { execution: 1 });
      try {
        await rt().start(first);
        expect((await rt().waitExit(first.containerId)).exitCode).toBe(0);
        await rt().start(second);
        expect((await rt().waitExit(second.containerId)).exitCode).toBe(0);
        expect(existsSync(join(lower, 'marker'))).toBe(false);
        expect(await collect(readCriLog(second.logPath))).toEqual(['lower']);
        // only the current execution's upper dir remains
        expect((await readdir(second.bundleDir)).filter((n) => n.startsWith('exec-'))).toEqual(['exec-1']);
      } finally {
        await rt().remove(second.containerId);
      }
    });

    it('the app sees the lower rootfs, not the host', async () => {
      const l = launch('rootfs', ['sh', '-c', 'cat /etc/passwd; test -e /usr/bin/conmon && echo HOST; hostname; id -u']);
      try {
        await rt().start(l);
        expect((await rt().waitExit(l.containerId)).exitCode).toBe(0);
        const lines = await collect(readCriLog(l.logPath));
        expect(lines).toEqual(['root:x:0:0:root:/root:/bin/sh', 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false', 'trt', '0']);
      } finally {
        await rt().remove(l.containerId);
      }
    });

    it('confines the app: image user, capped NOFILE, etc files and volumes bound in, host network when no netns', async () => {
      const hosts = join(tmp, `hosts-${name}`);
      const vol = join(tmp, `vol-${name}`);
      writeFileSync(hosts, '127.0.0.1 localhost berth-trt-host\n');
      mkdirSync(vol, { mode: 0o777 });
      chmodSync(vol, 0o777);
      const base = launch('confine', [
        'sh',
        '-c',
        'id -u; id -g; ulimit -n; cat /etc/hosts; echo written > /data/sub/out; readlink /proc/self/ns/net; test -w /etc/berth-trt-lower || echo ro',
      ]);
      const l: AppLaunch = {
        ...base,
        image: { ...base.image, User: 'nobody' },
        etcFiles: { '/etc/hosts': hosts },
        mounts: [{ destination: '/data/sub', source: vol, readOnly: false }],
      };
      try {
        await rt().start(l);
        expect((await rt().waitExit(l.containerId)).exitCode).toBe(0);
        const hostNofile = Number(/^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1]);
        const hostNet = execFileSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }).trim();
        expect(await collect(readCriLog(l.logPath))).toEqual([
          '65534',
          '65534',
          String(Math.min(1048576, hostNofile)),
          '127.0.0.1 localhost berth-trt-host',
          hostNet,
          'ro',
        ]);
        expect(readFileSync(join(vol, 'out'), 'utf8')).toBe('written\n');
        // mount points were made in the upper dir, never in the lower
        expect(existsSync(join(lower, 'data'))).toBe(false);
        expect(readFileSync(join(lower, 'etc/passwd'), 'utf8')).not.toContain('berth-trt-host');
      } finally {
        await rt().remove(l.containerId);
      }
    });

    it('puts the app in its cgroup under the test parent with the memory and cpu limits', async () => {
      const base = launch('cgroup', ['sleep', '1000']);
      const container = { ...base.container, resources: { limits: { memory: '64Mi', cpu: '500m' } } };
      const l: AppLaunch = { ...base, container };
      try {
        const st = await rt().start(l);
        const { v1 } = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
        const mem = v1.find((m) => m.endsWith('/memory'));
        const cpu = v1.find((m) => m.endsWith('/cpu') || m.endsWith('/cpu,cpuacct'));
        if (mem)
          expect(readFileSync(join(mem, PREFIX, l.containerId, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(64 * 1024 * 1024));
        if (cpu) expect(readFileSync(join(cpu, PREFIX, l.containerId, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('50000');
        if (mem) expect(readFileSync(join(mem, PREFIX, l.containerId, 'cgroup.procs'), 'utf8')).toContain(String(st.pid));
      } finally {
        await rt().remove(l.containerId);
      }
    });

    it("an app killed for memory leaves conmon's oom file in its container dir, not in the agent's working directory", async () => {
      const base = launch('oom', ['sh', '-c', 'x=$(head -c 268435456 /dev/zero | tr "\\000" a); echo survived']);
      const l: AppLaunch = { ...base, container: { ...base.container, resources: { limits: { memory: '16Mi' } } } };
      const stray = join(process.cwd(), 'oom');
      const strayBefore = existsSync(stray);
      try {
        await rt().start(l);
        const exit = await rt().waitExit(l.containerId);
        expect(exit.exitCode).not.toBe(0);
        expect(existsSync(join(rt().containerDir(l.containerId), 'oom'))).toBe(true);
        if (!strayBefore) expect(existsSync(stray)).toBe(false);
      } finally {
        await rt().remove(l.containerId);
      }
    });

    it('waitExit honours its AbortSignal', async () => {
      const l = launch('abort', ['sleep', '1000']);
      try {
        await rt().start(l);
        const ac = new AbortController();
        const p = rt().waitExit(l.containerId, ac.signal);
        setTimeout(() => ac.abort(), 100);
        await expect(p).rejects.toMatchObject({ code: 'Canceled' });
      } finally {
        await rt().remove(l.containerId);
      }
    });

    it('joins the given network namespace', async () => {
      const ns = `${PREFIX}-${name}-ns`;
      execFileSync('ip', ['netns', 'add', ns]);
      netnses.push(ns);
      const l = launch('netns', ['readlink', '/proc/self/ns/net'], { netnsPath: `/run/netns/${ns}` });
      try {
        await rt().start(l);
        expect((await rt().waitExit(l.containerId)).exitCode).toBe(0);
        const ino = (await stat(`/run/netns/${ns}`)).ino;
        expect(await collect(readCriLog(l.logPath))).toEqual([`net:[${ino}]`]);
      } finally {
        await rt().remove(l.containerId);
        execFileSync('ip', ['netns', 'del', ns]);
        netnses.splice(netnses.indexOf(ns), 1);
      }
    });

    it('the monitor and the app survive the node process that started them', async () => {
      const l = launch('survive', ['sleep', '1000']);
      const runDir = rt().runDir;
      try {
        const r = spawnSync('npx', ['vite-node', 'test/fixtures/runtime/start-app.ts'], {
          env: { ...process.env, BERTH_TRT_RUNTIME: name, BERTH_TRT_RUNDIR: runDir, BERTH_TRT_LAUNCH: JSON.stringify(l) },
          encoding: 'utf8',
          timeout: 60_000,
        });
        expect(r.status, r.stderr).toBe(0);
        const st = await rt().status(l.containerId);
        expect(st.state).toBe('running');
        const meta = await rt().readMeta(l.containerId);
        expect(meta?.conmonPid).toBeGreaterThan(0);
        expect(await rt().monitorAlive(meta)).toBe(true);
        // conmon works in its container dir: relative files it writes (`oom` on an OOM kill) stay there
        expect(readlinkSync(`/proc/${meta!.conmonPid}/cwd`)).toBe(rt().containerDir(l.containerId));
        await rt().stop(l.containerId, 0);
        expect(await rt().status(l.containerId)).toMatchObject({ state: 'exited', exitCode: 137 });
      } finally {
        await rt().remove(l.containerId);
      }
    });

    it('remove leaves no mount, no runtime container, no process, no files; and is idempotent', async () => {
      const l = launch('remove', ['sleep', '1000']);
      await rt().start(l);
      const meta = (await rt().readMeta(l.containerId))!;
      const st = await rt().status(l.containerId);
      expect(mounted(meta.rootfs)).toBe(true);
      await rt().remove(l.containerId);
      expect(mounted(meta.rootfs)).toBe(false);
      expect(await rt().oci.list()).not.toContain(l.containerId);
      expect(existsSync(`/proc/${st.pid}`)).toBe(false);
      expect(await rt().monitorAlive(meta)).toBe(false);
      expect(await rt().list(l.containerId)).toEqual([]);
      expect(await rt().status(l.containerId)).toMatchObject({ state: 'unknown' });
      expect(existsSync(join(l.bundleDir, 'exec-0'))).toBe(false);
      const { v1 } = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
      for (const m of v1) expect(existsSync(join(m, PREFIX, l.containerId))).toBe(false);
      await rt().remove(l.containerId);
    });

    it('exec runs a command inside the running app with its confinement', async () => {
      const l = launch('exec', ['sleep', '1000']);
      try {
        await rt().start(l);
        const r = await rt().exec(l.containerId, ['sh', '-c', 'cat /etc/berth-trt-lower; hostname']);
        expect(r).toMatchObject({ exitCode: 0 });
        expect(r.stdout.trim().split('\n')).toEqual(['lower', 'trt']);
      } finally {
        await rt().remove(l.containerId);
      }
    });

    it('start replaces a stale runtime container with the same id even when berth lost its files', async () => {
      const l = launch('stale', ['sleep', '1000']);
      try {
        const first = await rt().start(l);
        const meta = (await rt().readMeta(l.containerId))!;
        // forget berth's own records: only the runtime's state and the monitor are left
        await rm(rt().containerDir(l.containerId), { recursive: true, force: true });
        const second = await rt().start({ ...l, execution: 1, logPath: l.logPath.replace('0.log', '1.log') });
        expect(second.pid).not.toBe(first.pid);
        expect(existsSync(`/proc/${first.pid}`)).toBe(false);
        expect(await rt().monitorAlive(meta)).toBe(false);
        // the old monitor is gone, so it cannot write an exit file over the new execution's
        await new Promise((r) => setTimeout(r, 300));
        expect((await rt().status(l.containerId)).state).toBe('running');
      } finally {
        await rt().remove(l.containerId);
      }
    });

    it('a failing create is reported and leaves nothing behind', async () => {
      const l = launch('badcmd', ['/does/not/exist']);
      await expect(rt().start(l)).rejects.toThrow();
      expect(mounted(join(l.bundleDir, 'rootfs'))).toBe(false);
      expect(await rt().list(l.containerId)).toEqual([]);
    });
  });
});
