/**
 * The bare steps berth wraps, driven from Node with child_process the way berth drives them,
 * but with nothing around them: per pod `ip netns add`, CNI ADD of loopback (lo) and of the
 * bridge + host-local + portmap list (eth0) by running the plugin binaries directly, an
 * overlay mount of the rendered image tree, config.json from a `crun spec` template, and
 * `crun run --detach` (through the hybrid-cgroup wrapper when the host needs it) or
 * `runc run --detach`. No conmon, no state files, no logs.
 *
 * Every host object is named `berth-bench-bare-<i>` (netns, CNI container id, OCI container
 * id, cgroup `/berth-bench/<id>`); mounts live under the bench sandbox (`/tmp/berth-bench-…`).
 * A pod of several apps (`apps: ['a', 'b']`) has one container per app, `berth-bench-bare-<i>-<app>`,
 * each with its own overlay, in the pod's netns; `restartApp` stops and starts one of them.
 */
/* global process, setTimeout, structuredClone */
import { mkdir, rm, writeFile, readFile, readdir, rmdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { must, run, now } from './proc.mjs';

export const CNI_DIR = '/usr/lib/cni';
// BENCH_NAME: the prefix of every host object, so that two benches can run side by side
export const BENCH_NAME = process.env.BENCH_NAME || 'berth-bench';
export const BRIDGE = `${BENCH_NAME}0`;
export const CGROUP_PARENT = BENCH_NAME;

/** The network list both berth and the bare steps use (berth's built-in default shape). */
export function networkList({ name, subnet, dataDir }) {
  return {
    cniVersion: '1.0.0',
    name,
    plugins: [
      {
        type: 'bridge',
        bridge: BRIDGE,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', dataDir, ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }] },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}

export const LOOPBACK_LIST = { cniVersion: '1.0.0', name: 'berth-loopback', plugins: [{ type: 'loopback' }] };

/** Whether crun refuses this host (hybrid cgroups with controllers on v2), HOST-NOTES §4. */
export async function crunNeedsWrapper() {
  try {
    return (await readFile('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8')).trim().length > 0;
  } catch {
    return false;
  }
}

/** Write the same kind of wrapper berth writes: crun in a private mount ns without cgroup2. */
export async function writeCrunWrapper(path) {
  const inner = `umount /sys/fs/cgroup/unified 2>/dev/null || umount -l /sys/fs/cgroup/unified || exit 125; exec /usr/bin/crun "$@"`;
  await writeFile(path, `#!/bin/sh\nexec unshare -m --propagation private sh -c '${inner}' crun "$@"\n`, { mode: 0o755 });
  return path;
}

function cniEnv(verb, id, netns, ifName) {
  return {
    ...process.env,
    CNI_COMMAND: verb,
    CNI_CONTAINERID: id,
    CNI_NETNS: netns,
    CNI_IFNAME: ifName,
    CNI_ARGS: 'IgnoreUnknown=1',
    CNI_PATH: CNI_DIR,
  };
}

/**
 * One network list, plugin by plugin: name/cniVersion injected, prevResult chained,
 * runtimeConfig only for declared capabilities with a value (none here: no hostPorts).
 * Returns the final result and per-plugin times.
 */
async function cniAddList(list, id, netns, ifName, times) {
  let prev;
  for (const p of list.plugins) {
    const conf = { ...p, name: list.name, cniVersion: list.cniVersion };
    if (prev !== undefined) conf.prevResult = prev;
    const r = await must(join(CNI_DIR, p.type), [], { input: JSON.stringify(conf), env: cniEnv('ADD', id, netns, ifName) });
    times[`cni ${p.type} ADD`] = (times[`cni ${p.type} ADD`] ?? 0) + r.ms;
    prev = JSON.parse(r.stdout);
  }
  return prev;
}

async function cniDelList(list, id, netns, ifName, prevResult) {
  for (const p of [...list.plugins].reverse()) {
    const conf = { ...p, name: list.name, cniVersion: list.cniVersion };
    if (prevResult !== undefined) conf.prevResult = prevResult;
    await run(join(CNI_DIR, p.type), [], { input: JSON.stringify(conf), env: cniEnv('DEL', id, netns, ifName) });
  }
}

/** `crun spec` once, then per pod only JSON edits (like berth's bundle generation). */
export async function specTemplate(dir) {
  await mkdir(dir, { recursive: true });
  await must('crun', ['spec'], { cwd: dir });
  const spec = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  await rm(join(dir, 'config.json'), { force: true });
  return spec;
}

function bundleConfig(template, { rootfs, netnsPath, id, args, env = [] }) {
  const s = structuredClone(template);
  s.process.terminal = false;
  s.process.args = args;
  s.process.env = ['PATH=/bin:/sbin:/usr/bin:/usr/sbin', ...env];
  s.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]; // within the host's hard 20000
  s.root = { path: rootfs, readonly: false };
  s.hostname = id;
  s.linux.cgroupsPath = `/${CGROUP_PARENT}/${id}`;
  s.linux.namespaces = [{ type: 'pid' }, { type: 'network', path: netnsPath }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  return s;
}

/**
 * A bare run of n pods. `runtime` is `{ name, argv }` (argv[0] is the binary or wrapper).
 * start() times everything from the first `ip netns add` to the last container running;
 * teardown() undoes it and is timed separately; cleanup() is the idempotent best effort
 * used on failure and on SIGINT.
 */
export class BareRun {
  /**
   * `args`: the app's argv, or `(podIndex, app) => argv`; `apps`: app names of each pod
   * (default one unnamed app: the container is named as the pod); `env`: extra `K=V` strings.
   */
  constructor({ root, lower, runtime, list, args, template, n, apps = [null], env = [] }) {
    Object.assign(this, { root, lower, runtime, list, args, template, n, apps, env });
    this.pods = [];
  }

  id(i) {
    return `${BENCH_NAME}-bare-${i}`;
  }

  argsFor(i, app) {
    return typeof this.args === 'function' ? this.args(i, app) : this.args;
  }

  async start() {
    const t0 = now();
    for (let i = 0; i < this.n; i++) {
      const id = this.id(i);
      const pod = { id, i, times: {}, netns: `/run/netns/${id}`, containers: [] };
      this.pods.push(pod);
      const T = pod.times;
      let t = now();
      await must('ip', ['netns', 'add', id]);
      pod.haveNetns = true;
      T['netns add'] = now() - t;

      t = now();
      pod.loResult = await cniAddList(LOOPBACK_LIST, id, pod.netns, 'lo', T);
      pod.haveLo = true;
      pod.ethResult = await cniAddList(this.list, id, pod.netns, 'eth0', T);
      pod.haveEth = true;
      T['cni total'] = now() - t;

      for (const app of this.apps) {
        const c = { app, cid: app === null ? id : `${id}-${app}`, generation: 0 };
        pod.containers.push(c);
        await this.runContainer(pod, c, T, this.env);
      }
    }
    return now() - t0;
  }

  /** Overlay (fresh upper/work), config.json, `run --detach`; step times added to T. */
  async runContainer(pod, c, T, env) {
    let t = now();
    const dir = join(this.root, c.cid, String(c.generation));
    const upper = join(dir, 'upper');
    const work = join(dir, 'work');
    const merged = join(dir, 'rootfs');
    await mkdir(upper, { recursive: true });
    await mkdir(work, { recursive: true });
    await mkdir(merged, { recursive: true });
    c.merged = merged;
    await must('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${this.lower},upperdir=${upper},workdir=${work}`, merged]);
    c.mounted = true;
    T['mount'] = (T['mount'] ?? 0) + now() - t;

    t = now();
    const cfg = bundleConfig(this.template, { rootfs: merged, netnsPath: pod.netns, id: c.cid, args: this.argsFor(pod.i, c.app), env });
    await writeFile(join(dir, 'config.json'), JSON.stringify(cfg));
    T['config.json'] = (T['config.json'] ?? 0) + now() - t;

    t = now();
    c.container = true;
    const [bin, ...pre] = this.runtime.argv;
    const pidFile = join(dir, 'pid');
    // stdio of a detached container is the runtime's own: nothing we wait on
    const r = await run(bin, [...pre, 'run', '--detach', '--pid-file', pidFile, '--bundle', dir, c.cid], {
      stdout: 'ignore',
      stderr: 'pipe',
      waitClose: false,
    });
    if (r.code !== 0) throw new Error(`${this.runtime.name} run ${c.cid} exited ${r.code}: ${r.stderr.trim()}`);
    T[`${this.runtime.name} run`] = (T[`${this.runtime.name} run`] ?? 0) + now() - t;
    c.pid = Number((await readFile(pidFile, 'utf8')).trim());
  }

  /**
   * The bare stop + start of one app of pod i: `kill` SIGTERM, wait until its process is gone
   * (polling /proc every 2 ms), `delete`, umount; then a fresh overlay, config.json with
   * `env`, `run --detach`. The pod's netns and its other apps are untouched. Returns
   * `{ ms, stopMs, startMs }`.
   */
  async restartApp(i, app, env) {
    const pod = this.pods.find((p) => p.i === i);
    const c = pod.containers.find((x) => x.app === app);
    const [bin, ...pre] = this.runtime.argv;
    const t0 = now();
    await must(bin, [...pre, 'kill', c.cid, 'TERM']);
    await waitGone(c.pid, 10_000);
    await must(bin, [...pre, 'delete', c.cid]);
    c.container = false;
    await must('umount', [c.merged]);
    c.mounted = false;
    const t1 = now();
    c.generation++;
    await this.runContainer(pod, c, {}, env);
    const t2 = now();
    return { ms: t2 - t0, stopMs: t1 - t0, startMs: t2 - t1 };
  }

  /** The host PID of an app's process (from `run --pid-file`). */
  pidOf(i, app) {
    return this.pods.find((p) => p.i === i)?.containers.find((x) => x.app === app)?.pid;
  }

  /** Every container reports `running` (checked after the clock stopped). */
  async verify() {
    const [bin, ...pre] = this.runtime.argv;
    for (const p of this.pods) {
      for (const c of p.containers) {
        const r = await must(bin, [...pre, 'state', c.cid]);
        const st = JSON.parse(r.stdout);
        if (st.status !== 'running') throw new Error(`bare ${c.cid}: ${st.status}`);
      }
    }
  }

  async teardown() {
    const t0 = now();
    await this.cleanup(true);
    return now() - t0;
  }

  async cleanup(strict = false) {
    const [bin, ...pre] = this.runtime.argv;
    const errors = [];
    for (const p of [...this.pods].reverse()) {
      const step = async (what, fn) => {
        try {
          await fn();
        } catch (err) {
          errors.push(`${p.id} ${what}: ${err.message}`);
        }
      };
      for (const c of [...p.containers].reverse()) {
        if (c.container) {
          await step(`delete ${c.cid}`, async () => {
            const r = await run(bin, [...pre, 'delete', '--force', c.cid]);
            if (r.code !== 0 && !/does not exist|not exist|no such/i.test(r.stderr)) throw new Error(r.stderr.trim());
            c.container = false;
          });
        }
        if (c.mounted) {
          await step(`umount ${c.cid}`, async () => {
            await must('umount', [c.merged]);
            c.mounted = false;
          });
        }
      }
      if (p.haveEth) {
        await step('cni del eth0', async () => {
          await cniDelList(this.list, p.id, p.netns, 'eth0', p.ethResult);
          p.haveEth = false;
        });
      }
      if (p.haveLo) {
        await step('cni del lo', async () => {
          await cniDelList(LOOPBACK_LIST, p.id, p.netns, 'lo', p.loResult);
          p.haveLo = false;
        });
      }
      if (p.haveNetns) {
        await step('netns del', async () => {
          await must('ip', ['netns', 'del', p.id]);
          p.haveNetns = false;
        });
      }
    }
    await removeBridge().catch((err) => errors.push(`bridge: ${err.message}`));
    await removeCgroupParents().catch((err) => errors.push(`cgroups: ${err.message}`));
    this.pods = this.pods.filter((p) => p.containers.some((c) => c.container || c.mounted) || p.haveEth || p.haveLo || p.haveNetns);
    if (strict && errors.length) throw new Error(`bare teardown: ${errors.join('; ')}`);
    return errors;
  }
}

/** Resolves when the process is gone or a zombie (its exit happened); throws after `ms`. */
export async function waitGone(pid, ms) {
  const until = now() + ms;
  for (;;) {
    let st;
    try {
      st = await readFile(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return;
    }
    if (st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) === 'Z') return;
    if (now() > until) throw new Error(`process ${pid} still there after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export async function removeBridge() {
  if (existsSync(`/sys/class/net/${BRIDGE}`)) await must('ip', ['link', 'del', BRIDGE]);
}

/** crun/runc remove only the leaf cgroup; `/sys/fs/cgroup/<ctl>/berth-bench` is ours to rmdir. */
export async function removeCgroupParents() {
  const base = '/sys/fs/cgroup';
  let ctls = [];
  try {
    ctls = await readdir(base);
  } catch {
    return;
  }
  for (const c of ctls) {
    const dir = join(base, c, CGROUP_PARENT);
    if (!existsSync(dir)) continue;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        const kids = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory());
        for (const k of kids) await rmdir(join(dir, k.name)).catch(() => undefined);
        await rmdir(dir);
        break;
      } catch (err) {
        if (err.code === 'ENOENT') break;
        if (attempt === 19) throw err;
        await new Promise((r) => setTimeout(r, 50)); // a dying cgroup goes away asynchronously
      }
    }
  }
}
