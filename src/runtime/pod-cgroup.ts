/**
 * The pod cgroup of pod-level resources (`spec.resources`, KEP-2837): `<parent>/pod-<id>`
 * holds the pod's limits, the apps' cgroups (`<parent>/pod-<id>/<container id>`) and the
 * infra process's go below it, so that the kernel enforces the pod's total as the kubelet's
 * pod cgroup does. Values as the kubelet writes them (pkg/kubelet/cm helpers_linux.go):
 * - v1 (and hybrid hosts, whose cpu and memory controllers are v1): cpu.shares from the cpu
 *   request (MilliCPUToShares, at least 2), cpu.cfs_quota_us / cpu.cfs_period_us (100 ms)
 *   from the cpu limit, memory.limit_in_bytes from the memory limit;
 * - v2: cpu.weight (the shares mapped to 1..10000), cpu.max, memory.max, with the cpu,
 *   memory and pids controllers enabled in cgroup.subtree_control from the root down.
 * The value builders are pure; writePodCgroup and removeCgroupDirs touch /sys/fs/cgroup.
 */
import { readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, sleep } from '../common/index.js';
import { parseCgroupMounts, unescapeMountPath, type CgroupMode } from './host-facts.js';
import type { PodCgroupResources } from './types.js';
import { makeDirs } from '../common/fs.js';

export const CPU_PERIOD_US = 100_000;
const MIN_SHARES = 2;
const MAX_SHARES = 262_144;
const MIN_QUOTA_US = 1000;

/** The kubelet's MilliCPUToShares. */
export function cpuShares(cores: number): number {
  const shares = Math.floor((Math.round(cores * 1000) * 1024) / 1000);
  return Math.min(MAX_SHARES, Math.max(MIN_SHARES, shares));
}

/** cgroup v1 shares → v2 weight (the kubelet's CpuSharesToCpuWeight, runc's formula). */
export function cpuWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262_142);
}

/** The cfs quota of a cpu limit (the kubelet's MilliCPUToQuota, at least 1 ms). */
export function cpuQuotaUs(cores: number): number {
  return Math.max(MIN_QUOTA_US, Math.floor((Math.round(cores * 1000) * CPU_PERIOD_US) / 1000));
}

/** v1: controller → file → value, in write order. */
export function v1PodCgroupFiles(res: PodCgroupResources): Record<'cpu' | 'memory', Array<[string, string]>> {
  const cpu: Array<[string, string]> = [];
  const memory: Array<[string, string]> = [];
  const cpuReq = res.requests.cpu ?? res.limits.cpu;
  if (cpuReq !== undefined) cpu.push(['cpu.shares', String(cpuShares(cpuReq))]);
  if (res.limits.cpu !== undefined)
    cpu.push(['cpu.cfs_period_us', String(CPU_PERIOD_US)], ['cpu.cfs_quota_us', String(cpuQuotaUs(res.limits.cpu))]);
  if (res.limits.memory !== undefined) memory.push(['memory.limit_in_bytes', String(Math.round(res.limits.memory))]);
  return { cpu, memory };
}

/** v2: file → value, in write order. */
export function v2PodCgroupFiles(res: PodCgroupResources): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const cpuReq = res.requests.cpu ?? res.limits.cpu;
  if (cpuReq !== undefined) out.push(['cpu.weight', String(cpuWeight(cpuShares(cpuReq)))]);
  if (res.limits.cpu !== undefined) out.push(['cpu.max', `${cpuQuotaUs(res.limits.cpu)} ${CPU_PERIOD_US}`]);
  if (res.limits.memory !== undefined) out.push(['memory.max', String(Math.round(res.limits.memory))]);
  return out;
}

/** Mount point of each v1 controller in a /proc/<pid>/mountinfo text (from the super options). */
export function v1ControllerMounts(mountinfo: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fstype, , superOpts = ''] = line.slice(sep + 3).split(' ');
    if (fstype !== 'cgroup') continue;
    const mountPoint = unescapeMountPath(line.slice(0, sep).split(' ')[4] ?? '');
    for (const opt of superOpts.split(',')) if (!out.has(opt)) out.set(opt, mountPoint);
  }
  return out;
}

/** The relative path of a pod cgroup: `<parent>/<name>`. */
export const podCgroupPath = (parent: string, name: string): string => `${parent}/${name}`;

/**
 * Make the pod cgroup and write its limits. `mode` is how the OCI runtime sees the host (crun
 * behind its wrapper: v1): on v1 and hybrid the cpu and memory hierarchies get the files, on v2
 * the unified one.
 */
export async function writePodCgroup(mode: CgroupMode, rel: string, res: PodCgroupResources, mountinfo?: string): Promise<void> {
  const info = mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8'));
  if (mode === 'v2') {
    const root = parseCgroupMounts(info).v2[0];
    if (!root) throw new Error('no cgroup2 mount');
    const parts = rel.split('/');
    // controllers on from the root down to the pod cgroup, so that it and the apps below it have them
    for (let i = 0; i <= parts.length; i++) {
      const dir = join(root, ...parts.slice(0, i));
      if (i > 0) await makeDirs(dir);
      if (i === parts.length) break;
      const available = (await readFile(join(dir, 'cgroup.controllers'), 'utf8')).split(/\s+/);
      const want = ['cpu', 'memory', 'pids'].filter((c) => available.includes(c));
      if (want.length) await writeFile(join(dir, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
    }
    for (const [file, v] of v2PodCgroupFiles(res)) await writeFile(join(root, rel, file), v);
    return;
  }
  const mounts = v1ControllerMounts(info);
  const files = v1PodCgroupFiles(res);
  for (const controller of ['cpu', 'memory'] as const) {
    const mount = mounts.get(controller);
    if (!mount) {
      if (files[controller].length) throw new Error(`no cgroup v1 ${controller} hierarchy`);
      continue;
    }
    const dir = join(mount, rel);
    await makeDirs(dir);
    for (const [file, v] of files[controller]) await writeFile(join(dir, file), v);
  }
}

/** rmdir a cgroup (an app's, the pod's once its children are gone) in every hierarchy; busy is retried, absent is fine. */
export async function removeCgroupDirs(rel: string): Promise<void> {
  const { v1, v2 } = parseCgroupMounts(await readFile('/proc/self/mountinfo', 'utf8'));
  for (const mount of [...v1, ...v2]) {
    const dir = join(mount, rel);
    for (let attempt = 0; ; attempt++) {
      try {
        await rmdir(dir);
        break;
      } catch (err) {
        const code = errnoOf(err);
        if (code === 'ENOENT') break;
        if (code === 'EBUSY' && attempt < 20) {
          await sleep(25);
          continue;
        }
        throw err;
      }
    }
  }
}
