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

function bundleConfig(template, { rootfs, netnsPath, id, args }) {
  const s = structuredClone(template);
  s.process.terminal = false;
  s.process.args = args;
  s.process.env = ['PATH=/bin:/sbin:/usr/bin:/usr/sbin'];
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
  constructor({ root, lower, runtime, list, args, template, n }) {
    Object.assign(this, { root, lower, runtime, list, args, template, n });
    this.pods = [];
  }

  id(i) {
    return `${BENCH_NAME}-bare-${i}`;
  }

  async start() {
    const t0 = now();
    for (let i = 0; i < this.n; i++) {
      const id = this.id(i);
      const pod = { id, i, times: {}, netns: `/run/netns/${id}` };
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

      t = now();
      const dir = join(this.root, id);
      const upper = join(dir, 'upper');
      const work = join(dir, 'work');
      const merged = join(dir, 'rootfs');
      await mkdir(upper, { recursive: true });
      await mkdir(work, { recursive: true });
      await mkdir(merged, { recursive: true });
      pod.merged = merged;
      await must('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${this.lower},upperdir=${upper},workdir=${work}`, merged]);
      pod.mounted = true;
      T['mount'] = now() - t;

      t = now();
      const cfg = bundleConfig(this.template, { rootfs: merged, netnsPath: pod.netns, id, args: this.args });
      await writeFile(join(dir, 'config.json'), JSON.stringify(cfg));
      T['config.json'] = now() - t;

      t = now();
      pod.container = true;
      const [bin, ...pre] = this.runtime.argv;
      // stdio of a detached container is the runtime's own: nothing we wait on
      const r = await run(bin, [...pre, 'run', '--detach', '--bundle', dir, id], { stdout: 'ignore', stderr: 'pipe', waitClose: false });
      if (r.code !== 0) throw new Error(`${this.runtime.name} run ${id} exited ${r.code}: ${r.stderr.trim()}`);
      T[`${this.runtime.name} run`] = now() - t;
    }
    return now() - t0;
  }

  /** Every container reports `running` (checked after the clock stopped). */
  async verify() {
    const [bin, ...pre] = this.runtime.argv;
    for (const p of this.pods) {
      const r = await must(bin, [...pre, 'state', p.id]);
      const st = JSON.parse(r.stdout);
      if (st.status !== 'running') throw new Error(`bare ${p.id}: ${st.status}`);
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
      if (p.container) {
        await step('delete', async () => {
          const r = await run(bin, [...pre, 'delete', '--force', p.id]);
          if (r.code !== 0 && !/does not exist|not exist|no such/i.test(r.stderr)) throw new Error(r.stderr.trim());
          p.container = false;
        });
      }
      if (p.mounted) {
        await step('umount', async () => {
          await must('umount', [p.merged]);
          p.mounted = false;
        });
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
    this.pods = this.pods.filter((p) => p.container || p.mounted || p.haveEth || p.haveLo || p.haveNetns);
    if (strict && errors.length) throw new Error(`bare teardown: ${errors.join('; ')}`);
    return errors;
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
