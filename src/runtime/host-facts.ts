/**
 * Host facts the runtime module needs before it can run anything: the cgroup layout (which
 * decides how crun must be invoked), the hard resource limits (root here lacks
 * CAP_SYS_RESOURCE, so a spec must never ask for more) and the capability bounding set.
 * The parsers are pure; the readers take their input from /proc and /sys.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf } from '../common/index.js';

export type CgroupMode = 'v2' | 'v1' | 'hybrid';

export interface CgroupFacts {
  mode: CgroupMode;
  /** mount point of the cgroup2 hierarchy (`/sys/fs/cgroup` on v2, `…/unified` on hybrid) */
  unifiedMount?: string;
  /** controllers bound to the cgroup2 hierarchy; non-empty on hybrid makes crun refuse */
  unifiedControllers: string[];
  /** mount points of the v1 hierarchies */
  v1Mounts: string[];
}

/** Mount points of cgroup (v1) and cgroup2 file systems in a /proc/<pid>/mountinfo text. */
export function parseCgroupMounts(mountinfo: string): { v1: string[]; v2: string[] } {
  const v1: string[] = [];
  const v2: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const fstype = line.slice(sep + 3).split(' ')[0];
    const mountPoint = unescapeMountPath(left[4] ?? '');
    if (fstype === 'cgroup') v1.push(mountPoint);
    else if (fstype === 'cgroup2') v2.push(mountPoint);
  }
  return { v1, v2 };
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
export function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The cgroup mode from the mounts: only cgroup2 → v2; only v1 → v1; both → hybrid. */
export function cgroupModeOf(mounts: { v1: string[]; v2: string[] }): CgroupMode {
  if (mounts.v1.length === 0 && mounts.v2.length > 0) return 'v2';
  if (mounts.v2.length === 0) return 'v1';
  return 'hybrid';
}

export async function detectCgroupFacts(procRoot = '/proc'): Promise<CgroupFacts> {
  const mounts = parseCgroupMounts(await readFile(join(procRoot, 'self/mountinfo'), 'utf8'));
  const mode = cgroupModeOf(mounts);
  const unifiedMount = mounts.v2[0];
  let unifiedControllers: string[] = [];
  if (unifiedMount) {
    try {
      unifiedControllers = (await readFile(join(unifiedMount, 'cgroup.controllers'), 'utf8')).split(/\s+/).filter(Boolean);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
  }
  return { mode, ...(unifiedMount ? { unifiedMount } : {}), unifiedControllers, v1Mounts: mounts.v1 };
}

export async function detectCgroupMode(): Promise<CgroupMode> {
  return (await detectCgroupFacts()).mode;
}

export interface Rlimit {
  soft: number;
  hard: number;
}

/** RLIMIT_* name (e.g. RLIMIT_NOFILE) → limits; `unlimited` becomes Infinity. */
export type HostRlimits = Record<string, Rlimit>;

const LIMIT_NAMES: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** Parse /proc/<pid>/limits. */
export function parseProcLimits(text: string): HostRlimits {
  const out: HostRlimits = {};
  const num = (s: string) => (s === 'unlimited' ? Infinity : Number(s));
  for (const line of text.split('\n')) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const name = LIMIT_NAMES[m[1]!];
    if (name) out[name] = { soft: num(m[2]!), hard: num(m[3]!) };
  }
  return out;
}

export async function hostRlimits(procRoot = '/proc'): Promise<HostRlimits> {
  return parseProcLimits(await readFile(join(procRoot, 'self/limits'), 'utf8'));
}

/** Capability names (CAP_*) in kernel bit order; bit n is CAPS[n]. */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;

/** Capability names in a hex mask such as /proc/self/status `CapBnd`. */
export function capabilitiesOfMask(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim()}`);
  return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** The capability bounding set of this process (what a container can be given at most). */
export async function hostBoundingCapabilities(procRoot = '/proc'): Promise<string[]> {
  const status = await readFile(join(procRoot, 'self/status'), 'utf8');
  const m = /^CapBnd:\s*([0-9a-f]+)/m.exec(status);
  return m ? capabilitiesOfMask(m[1]!) : [...ALL_CAPABILITIES];
}

/** A device node of the host, as a privileged app gets it (OCI `linux.devices`). */
export interface HostDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

/** Linux dev_t → major/minor (the glibc encoding Node's `rdev` carries). */
export function devMajorMinor(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  const major = Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn));
  const minor = Number((r & 0xffn) | ((r >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * The host's character and block devices under `/dev` (what a privileged container sees, as
 * containerd's WithHostDevices gives it); /dev/pts, /dev/shm, /dev/mqueue and the console
 * are the container's own.
 */
export async function hostDevices(devRoot = '/dev'): Promise<HostDevice[]> {
  const skip = new Set(['pts', 'shm', 'mqueue', 'console', 'ptmx', 'fd', 'core', 'stdin', 'stdout', 'stderr']);
  const out: HostDevice[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'EACCES') return; // vanished while listing
      throw err;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (depth === 0 && skip.has(e.name)) continue;
      if (e.isDirectory() && depth < 4) await walk(p, depth + 1);
      else if (e.isCharacterDevice() || e.isBlockDevice()) {
        const st = await lstat(p).catch(() => undefined); // vanished while listing, as above
        if (!st) continue;
        out.push({
          path: p,
          type: e.isCharacterDevice() ? 'c' : 'b',
          ...devMajorMinor(st.rdev),
          fileMode: st.mode & 0o7777,
          uid: st.uid,
          gid: st.gid,
        });
      }
    }
  };
  await walk(devRoot, 0);
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Which Linux security modules are active on the host (AppArmor and SELinux labels need them). */
export interface HostLsm {
  apparmor: boolean;
  selinux: boolean;
}

export async function hostLsm(sysRoot = '/sys'): Promise<HostLsm> {
  // a module that is not loaded has no file (or one we may not read): it is not enabled
  const apparmor = (await readFile(join(sysRoot, 'module/apparmor/parameters/enabled'), 'utf8').catch(() => '')).trim() === 'Y';
  const selinux = await readFile(join(sysRoot, 'fs/selinux/enforce'), 'utf8').then(
    () => true,
    () => false,
  );
  return { apparmor, selinux };
}

/** This process's oom_score_adj: without CAP_SYS_RESOURCE, children cannot go below it. */
export async function hostOomScoreAdj(procRoot = '/proc'): Promise<number> {
  return Number((await readFile(join(procRoot, 'self/oom_score_adj'), 'utf8')).trim()) || 0;
}
