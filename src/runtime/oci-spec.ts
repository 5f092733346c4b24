/**
 * config.json for one app execution (OCI runtime spec 1.0.2), from the pod, the container and
 * the image config (IMG-18..21). Pure apart from reading the image's /etc/passwd and
 * /etc/group when `facts.userDb` is not given.
 */
import { BerthError } from '../common/index.js';
import type { Container } from '../api/pod.js';
import { ALL_CAPABILITIES, type CgroupMode, type HostDevice, type HostLsm, type HostRlimits } from './host-facts.js';
import type { AppLaunch, ImageProcessConfig } from './types.js';
import { statfsSync } from 'node:fs';
import { availableParallelism, hostname, totalmem } from 'node:os';
import { normalizeSysctlName } from '../api/security.js';
import { oomScoreAdj } from './qos.js';
import { seccompFor } from './seccomp/index.js';
import { DEFAULT_PIDS_LIMIT } from './defaults.js';
import { parseCpuMillis, parseQuantity } from './quantity.js';
import { loadUserDb, resolveUserSpec, type UserDb } from './users.js';
import { idMappings, type IdRange } from './userns.js';

export { parseCpuMillis, parseQuantity } from './quantity.js';

export interface BundleFacts {
  cgroupMode: CgroupMode;
  /** the host's limits; requested rlimits are capped at their hard values */
  rlimits?: HostRlimits;
  /** the host's capability bounding set; capabilities outside it are dropped */
  boundingCapabilities?: string[];
  /** parent of the apps' cgroups, default `berth` */
  cgroupParent?: string;
  /** the image's user database; default: read from `launch.rootfsLower` */
  userDb?: UserDb;
  /** pids cgroup limit of every app (`--pids-limit`); 0 or less: no limit. Default DEFAULT_PIDS_LIMIT */
  pidsLimit?: number;
  /** the machine's memory, for the kubelet's Burstable oom_score_adj; default os.totalmem() */
  machineMemoryBytes?: number;
  /**
   * the lowest oom_score_adj the runtime may set: without CAP_SYS_RESOURCE a process cannot go
   * below its parent's; default -1000 (no floor)
   */
  oomScoreAdjFloor?: number;
  /** the host's devices, given to privileged apps */
  hostDevices?: HostDevice[];
  /** the security modules the host runs */
  lsm?: HostLsm;
  /** `<config-dir>/seccomp`: where Localhost seccomp profiles live */
  seccompDir?: string;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_NOFILE = 1_048_576;

/** The capabilities a container gets by default (containerd's and docker's default set). */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/**
 * Paths masked in every unprivileged app: the union of containerd's default
 * (oci/spec.go `defaultUnixEnv`/WithMaskedPaths: acpi, asound, kcore, keys, latency_stats,
 * timer_list, timer_stats, sched_debug, scsi, /sys/firmware, /sys/devices/virtual/powercap)
 * and podman's (containers/common `DefaultMaskedPaths`, which adds /sys/dev/block and
 * /sys/fs/selinux).
 */
export const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
  '/sys/dev/block',
  '/sys/fs/selinux',
];
/** Read-only in every unprivileged app (containerd's and podman's lists are the same). */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/**
 * kubelet's `$(VAR)` expansion: `$(NAME)` becomes the value when NAME is known and stays
 * verbatim otherwise; `$$` is a literal `$` (so `$$(X)` gives `$(X)`); anything else is copied.
 */
export function expandVars(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      i++;
      continue;
    }
    const next = input[i + 1]!;
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += '$(';
        i += 2;
      } else {
        const name = input.slice(i + 2, close);
        const v = lookup(name);
        out += v ?? `$(${name})`;
        i = close + 1;
      }
    } else {
      out += `$${next}`;
      i += 2;
    }
  }
  return out;
}

/**
 * A container env var's valueFrom.fieldRef, as the kubelet fills it: every path it supports
 * (spec/pod-api-checks.ts ENV_FIELD_PATHS). spec.nodeName is the node's name (the kubelet sets
 * it on static pods), spec.serviceAccountName is empty (no service accounts without an API
 * server), status.podIP(s) and status.hostIP(s) come from the launch (comma-separated lists).
 */
function fieldRefValue(fieldPath: string, launch: AppLaunch): string {
  const meta = launch.pod.metadata;
  const m = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? meta.labels : meta.annotations)?.[m[2]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return launch.podName;
    case 'metadata.namespace':
      return launch.namespace;
    case 'metadata.uid':
      return launch.podUid;
    case 'spec.nodeName':
      return hostname().toLowerCase();
    case 'spec.serviceAccountName':
      return '';
    case 'status.podIP':
      return launch.podIPs?.[0] ?? '';
    case 'status.podIPs':
      return (launch.podIPs ?? []).join(',');
    case 'status.hostIP':
      return launch.hostIPs?.[0] ?? '';
    case 'status.hostIPs':
      return (launch.hostIPs ?? []).join(',');
    default:
      throw new BerthError('InvalidArgument', `unsupported fieldRef ${fieldPath}`);
  }
}

/** The container's own env, in order, with `$(VAR)` expanded against the vars before each one. */
export function containerEnv(container: Container, launch: AppLaunch): Array<[string, string]> {
  const defined = new Map<string, string>();
  const out: Array<[string, string]> = [];
  for (const e of container.env ?? []) {
    let value: string;
    if (e.value !== undefined) value = expandVars(e.value, (n) => defined.get(n));
    else if (e.valueFrom?.fieldRef) value = fieldRefValue(e.valueFrom.fieldRef.fieldPath, launch);
    else if (e.valueFrom?.resourceFieldRef) value = resourceFieldValue(e.valueFrom.resourceFieldRef, container, launch);
    else value = '';
    defined.set(e.name, value);
    out.push([e.name, value]);
  }
  return out;
}

/**
 * A resourceFieldRef as the kubelet fills it (ExtractContainerResourceValue): the named
 * container's (default: this one's) limit or request, divided by the divisor (default 1) and
 * rounded up; cpu in cores (divisor 1) or millicores (1m). A limit not set is the node's
 * allocatable (berth reserves nothing: every CPU, all memory, the size of the filesystem of
 * the app's bundle); a request not set is the limit when one is set (the API's defaulting), else 0.
 */
function resourceFieldValue(
  ref: { resource: string; containerName?: string | undefined; divisor?: string | number | undefined },
  self: Container,
  launch: AppLaunch,
): string {
  const [kind, name = ''] = ref.resource.split('.');
  const named = ref.containerName
    ? [...(launch.pod.spec.initContainers ?? []), ...launch.pod.spec.containers].find((c) => c.name === ref.containerName)
    : undefined;
  const c = named ?? self;
  const limits = c.resources?.limits ?? {};
  const requests = c.resources?.requests ?? {};
  let q: string | number | undefined = kind === 'limits' ? limits[name] : (requests[name] ?? limits[name]);
  if (q === undefined) q = kind === 'limits' ? nodeAllocatable(name, launch) : 0;
  const d = ref.divisor === undefined ? 1 : parseQuantity(ref.divisor);
  if (!(d > 0)) throw new BerthError('InvalidArgument', `resourceFieldRef ${ref.resource}: the divisor must be positive`);
  if (name === 'cpu') return String(Math.ceil(parseCpuMillis(q) / Math.round(d * 1000)));
  return String(Math.ceil(parseQuantity(q) / d));
}

function nodeAllocatable(name: string, launch: AppLaunch): number {
  if (name === 'cpu') return availableParallelism();
  if (name === 'memory') return totalmem();
  if (name === 'ephemeral-storage') {
    try {
      const st = statfsSync(launch.bundleDir);
      return st.blocks * st.bsize;
    } catch {
      return 0; // unknown size: the same as no ephemeral-storage to offer
    }
  }
  throw new BerthError('InvalidArgument', `resourceFieldRef: unknown resource "${name}"`);
}

function splitEnv(entry: string): [string, string] {
  const i = entry.indexOf('=');
  return i < 0 ? [entry, ''] : [entry.slice(0, i), entry.slice(i + 1)];
}

/**
 * process.env: HOSTNAME, then the image's Env, then the container's env (container wins,
 * IMG-18); PATH defaults when nobody set it. Order of first definition is kept.
 */
export function buildEnv(launch: AppLaunch): string[] {
  const env = new Map<string, string>();
  env.set('HOSTNAME', launch.hostname);
  for (const e of launch.image.Env ?? []) {
    const [k, v] = splitEnv(e);
    if (k) env.set(k, v);
  }
  if (launch.image.appc) {
    // appc ACE: every app sees its name and the executor's name
    env.set('AC_APP_NAME', launch.appName);
    env.set('container', 'berth');
  }
  for (const [k, v] of containerEnv(launch.container, launch)) env.set(k, v);
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/** IMG-21: Kubernetes command/args over the image's Entrypoint/Cmd, with `$(VAR)` expansion. */
export function processArgs(image: ImageProcessConfig, container: Container, env: Map<string, string> = new Map()): string[] {
  let entrypoint = image.Entrypoint ?? [];
  if (entrypoint.length === 1 && entrypoint[0] === '') entrypoint = [];
  const cmd = image.Cmd ?? [];
  const expand = (xs: string[]) => xs.map((s) => expandVars(s, (n) => env.get(n)));
  let args: string[];
  if (container.command !== undefined) args = [...expand(container.command), ...expand(container.args ?? [])];
  else if (container.args !== undefined) args = [...entrypoint, ...expand(container.args)];
  else args = [...entrypoint, ...cmd];
  if (args.length === 0 || args[0] === '') throw new BerthError('InvalidArgument', `container ${container.name}: no command specified`);
  return args;
}

function normCap(c: string): string {
  const u = c.trim().toUpperCase();
  return u.startsWith('CAP_') ? u : `CAP_${u}`;
}

/** Default set ± securityContext add/drop (`ALL` allowed in both); privileged = everything. */
export function capabilitySet(container: Container, bounding?: string[]): string[] {
  const sc = container.securityContext;
  let caps: string[];
  if (sc?.privileged) caps = [...ALL_CAPABILITIES];
  else {
    const add = (sc?.capabilities?.add ?? []).map(normCap);
    const drop = (sc?.capabilities?.drop ?? []).map(normCap);
    const set = new Set(DEFAULT_CAPABILITIES);
    if (drop.includes('CAP_ALL')) set.clear();
    for (const d of drop) set.delete(d);
    if (add.includes('CAP_ALL')) for (const c of ALL_CAPABILITIES) set.add(c);
    for (const a of add) if (a !== 'CAP_ALL') set.add(a);
    caps = [...set];
  }
  return bounding ? caps.filter((c) => bounding.includes(c)) : caps;
}

function resolveProcessUser(launch: AppLaunch, facts: BundleFacts) {
  const sc = launch.container.securityContext;
  const psc = launch.pod.spec.securityContext;
  const runAsUser = sc?.runAsUser ?? psc?.runAsUser;
  const runAsGroup = sc?.runAsGroup ?? psc?.runAsGroup;
  const imageUser = launch.image.User ?? '';
  const needDb = runAsUser === undefined ? imageUser !== '' : runAsGroup === undefined;
  const db = facts.userDb ?? (needDb ? loadUserDb(launch.rootfsLower) : { passwd: [], group: [] });
  let uid: number;
  let gid: number;
  let additional: number[] = [];
  if (runAsUser !== undefined) {
    uid = runAsUser;
    gid = runAsGroup ?? db.passwd.find((p) => p.uid === runAsUser)?.gid ?? 0;
  } else {
    const r = resolveUserSpec(imageUser, db);
    uid = r.uid;
    gid = runAsGroup ?? r.gid;
    additional = r.additionalGids;
  }
  const strict = psc?.supplementalGroupsPolicy === 'Strict'; // only the groups the pod spec names
  const extra = [
    ...(strict ? [] : additional),
    ...(launch.image.appc?.supplementaryGids ?? []),
    ...(psc?.supplementalGroups ?? []),
    ...(psc?.fsGroup !== undefined ? [psc.fsGroup] : []),
  ];
  const additionalGids = [...new Set(extra)].filter((g) => g !== gid);
  if (uid === 0 && (sc?.runAsNonRoot ?? psc?.runAsNonRoot) === true) {
    // the kubelet's CreateContainerConfigError, with its words
    throw new BerthError(
      'InvalidArgument',
      `container has runAsNonRoot and image will run as root (pod: "${launch.namespace}/${launch.podName}", container: ${launch.appName})`,
      {
        details: { reason: 'CreateContainerConfigError' },
      },
    );
  }
  return { uid, gid, ...(additionalGids.length ? { additionalGids } : {}) };
}

function cgroupsPathOf(launch: AppLaunch, facts: BundleFacts): string {
  const parent = facts.cgroupParent ?? 'berth';
  return launch.podCgroup ? `/${parent}/${launch.podCgroup}/${launch.containerId}` : `/${parent}/${launch.containerId}`;
}

function resources(container: Container, privileged: boolean, facts: BundleFacts) {
  const limits = container.resources?.limits ?? {};
  const requests = container.resources?.requests ?? {};
  const out: Record<string, unknown> = { devices: [{ allow: privileged, access: 'rwm' }] };
  const pids = facts.pidsLimit ?? DEFAULT_PIDS_LIMIT;
  if (pids > 0) out.pids = { limit: pids };
  const cpu: Record<string, number> = {};
  if (limits.cpu !== undefined) {
    const period = 100_000;
    cpu.period = period;
    cpu.quota = Math.max(1000, Math.round((parseCpuMillis(limits.cpu) * period) / 1000));
  }
  const req = requests.cpu ?? limits.cpu;
  if (req !== undefined) cpu.shares = Math.max(2, Math.round((parseCpuMillis(req) * 1024) / 1000));
  if (Object.keys(cpu).length) out.cpu = cpu;
  if (limits.memory !== undefined) out.memory = { limit: Math.round(parseQuantity(limits.memory)) };
  return out;
}

function rlimits(facts: BundleFacts) {
  const hard = facts.rlimits?.RLIMIT_NOFILE?.hard ?? Infinity;
  const n = Math.min(DEFAULT_NOFILE, hard);
  return [{ type: 'RLIMIT_NOFILE', hard: n, soft: n }];
}

function defaultMounts(privileged: boolean) {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'],
    },
  ];
}

/** Kubernetes `mountPropagation` → the OCI mount option (the kubelet's mapping). */
const PROPAGATION = { None: 'rprivate', HostToContainer: 'rslave', Bidirectional: 'rshared' } as const;

/**
 * Bind mounts for etcFiles and volumes, in that order (volumes may shadow etc files). Volumes
 * are `nosuid,nodev` unless the app is privileged: a setuid file or a device node made in a
 * volume gives nothing, in the app or to a host user who finds the directory.
 */
export function bindMounts(
  launch: AppLaunch,
  privileged = false,
): Array<{ destination: string; type: string; source: string; options: string[] }> {
  const out = [];
  for (const [dest, src] of Object.entries(launch.etcFiles ?? {})) {
    out.push({ destination: dest, type: 'bind', source: src, options: ['rbind', 'rprivate', 'ro', 'nosuid', 'nodev', 'noexec'] });
  }
  for (const m of launch.mounts ?? []) {
    const options = [
      'rbind',
      PROPAGATION[m.propagation ?? 'None'],
      m.readOnly ? 'ro' : 'rw',
      ...(privileged ? [] : ['nosuid', 'nodev']),
      ...(m.noexec ? ['noexec'] : []),
    ];
    out.push({ destination: m.destination, type: 'bind', source: m.source, options });
  }
  return out;
}

/**
 * In a user namespace every bind mount is idmapped with the pod's mapping (the kubelet's
 * CRI `Mount.uidMappings`, OCI 1.1 `mounts[].uidMappings`): a file keeps on disk the IDs it
 * has in the app, so root-owned host files are root's in the app too.
 */
function withIdmap<T extends object>(mounts: T[], userns: IdRange | undefined): T[] {
  if (!userns) return mounts;
  return mounts.map((m) => ({ ...m, uidMappings: idMappings(userns), gidMappings: idMappings(userns) }));
}

/** Annotations naming the pod and app, kubelet's and berth's. */
export function annotationsOf(launch: AppLaunch): Record<string, string> {
  const a: Record<string, string> = {
    'io.kubernetes.pod.name': launch.podName,
    'io.kubernetes.pod.namespace': launch.namespace,
    'io.kubernetes.pod.uid': launch.podUid,
    'io.kubernetes.container.name': launch.appName,
    'io.kubernetes.container.restartCount': String(launch.execution),
    'berth.dev/pod-uid': launch.podUid,
    'berth.dev/pod': `${launch.namespace}/${launch.podName}`,
    'berth.dev/app': launch.appName,
    'berth.dev/execution': String(launch.execution),
    'berth.dev/container-id': launch.containerId,
    'berth.dev/image': launch.container.image,
  };
  if (launch.image.StopSignal) a['org.opencontainers.image.stopSignal'] = launch.image.StopSignal;
  return a;
}

/** The value of an appc isolator, or undefined. */
function isolator(image: ImageProcessConfig, name: string): Record<string, unknown> | boolean | undefined {
  const i = image.appc?.isolators?.find((x) => x.name === name);
  return i === undefined ? undefined : (i.value as Record<string, unknown> | boolean);
}

/**
 * appc isolators as the container's resources when the pod spec sets none:
 * `resource/cpu` and `resource/memory` `{request, limit}` are Kubernetes quantities.
 */
function appcResources(image: ImageProcessConfig, container: Container): Container {
  if (!image.appc?.isolators?.length) return container;
  const limits: Record<string, string | number> = { ...(container.resources?.limits ?? {}) };
  const requests: Record<string, string | number> = { ...(container.resources?.requests ?? {}) };
  for (const kind of ['cpu', 'memory'] as const) {
    const v = isolator(image, `resource/${kind}`);
    if (typeof v !== 'object') continue;
    const { limit, request } = v as { limit?: string | number; request?: string | number };
    if (limits[kind] === undefined && limit !== undefined) limits[kind] = limit;
    if (requests[kind] === undefined && request !== undefined) requests[kind] = request;
  }
  return { ...container, resources: { limits, requests } } as Container;
}

/** appc capability isolators: a retain set replaces the default set, a remove set drops from it. */
function appcCapabilities(image: ImageProcessConfig, caps: string[], container: Container, bounding?: string[]): string[] {
  const sc = container.securityContext;
  if (sc?.privileged || sc?.capabilities) return caps; // the pod spec decides
  const retain = isolator(image, 'os/linux/capabilities-retain-set');
  const remove = isolator(image, 'os/linux/capabilities-remove-set');
  let out = caps;
  if (typeof retain === 'object' && Array.isArray(retain.set)) out = (retain.set as string[]).map(normCap);
  if (typeof remove === 'object' && Array.isArray(remove.set)) {
    const drop = new Set((remove.set as string[]).map(normCap));
    out = out.filter((c) => !drop.has(c));
  }
  return bounding ? out.filter((c) => bounding.includes(c)) : out;
}

export type OciSpec = Record<string, unknown> & {
  process: { args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number; additionalGids?: number[] } } & Record<
    string,
    unknown
  >;
};

/** The pod's sysctls for the OCI spec (validated against the kubelet's safe set in spec/security.ts). */
function sysctlsOf(launch: AppLaunch): Record<string, string> | undefined {
  const list = launch.pod.spec.securityContext?.sysctls ?? [];
  if (list.length === 0) return undefined;
  return Object.fromEntries(list.map((x) => [normalizeSysctlName(x.name), x.value]));
}

/** AppArmor and SELinux labels, where the host runs the module (see `bundleWarnings` otherwise). */
function lsmLabels(launch: AppLaunch, facts: BundleFacts, privileged: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  const sc = launch.container.securityContext;
  const psc = launch.pod.spec.securityContext;
  const aa = sc?.appArmorProfile ?? psc?.appArmorProfile;
  if (facts.lsm?.apparmor && aa && !privileged) {
    if (aa.type === 'Localhost' && aa.localhostProfile) out.apparmorProfile = aa.localhostProfile;
    else if (aa.type === 'Unconfined') out.apparmorProfile = 'unconfined';
  }
  const se = sc?.seLinuxOptions ?? psc?.seLinuxOptions;
  if (facts.lsm?.selinux && se?.user && se.role && se.type && se.level) out.selinuxLabel = `${se.user}:${se.role}:${se.type}:${se.level}`;
  return out;
}

/**
 * What the bundle cannot honour on this host, for the caller to log with the pod and app:
 * an AppArmor or SELinux setting on a host without that module (Kubernetes nodes without the
 * module run such pods too), and an oom_score_adj the runtime may not lower.
 */
export function bundleWarnings(launch: AppLaunch, facts: BundleFacts): string[] {
  const out: string[] = [];
  const sc = launch.container.securityContext;
  const psc = launch.pod.spec.securityContext;
  const aaField = sc?.appArmorProfile
    ? 'securityContext.appArmorProfile'
    : psc?.appArmorProfile
      ? 'spec.securityContext.appArmorProfile'
      : undefined;
  const aa = sc?.appArmorProfile ?? psc?.appArmorProfile;
  if (aaField && aa && aa.type !== 'Unconfined') {
    if (!facts.lsm?.apparmor) out.push(`${aaField} ${aa.type} not applied: this host does not run AppArmor`);
    else if (aa.type === 'RuntimeDefault')
      out.push(
        `${aaField} RuntimeDefault not applied: berth ships no AppArmor profile (seccomp RuntimeDefault, capabilities and masked paths still apply)`,
      );
  }
  const seField = sc?.seLinuxOptions
    ? 'securityContext.seLinuxOptions'
    : psc?.seLinuxOptions
      ? 'spec.securityContext.seLinuxOptions'
      : undefined;
  if (seField) {
    const se = sc?.seLinuxOptions ?? psc?.seLinuxOptions;
    if (!facts.lsm?.selinux) out.push(`${seField} not applied: this host does not run SELinux`);
    else if (!(se?.user && se.role && se.type && se.level))
      out.push(`${seField} not applied: berth needs user, role, type and level to build a label`);
  }
  return out;
}

/**
 * no_new_privs: on unless the spec allows escalation. The kubelet leaves it off when
 * `allowPrivilegeEscalation` is unset, containerd's base spec turns it on; berth takes the
 * stricter default. Privileged apps and apps with CAP_SYS_ADMIN escalate anyway (the
 * Kubernetes rule), so for them it is off; an appc image's `os/linux/no-new-privileges`
 * isolator decides when the pod spec says nothing.
 */
function noNewPrivilegesOf(launch: AppLaunch, caps: string[], privileged: boolean): boolean {
  if (privileged || caps.includes('CAP_SYS_ADMIN')) return false;
  const allow = launch.container.securityContext?.allowPrivilegeEscalation;
  if (allow !== undefined) return !allow;
  const appc = isolator(launch.image, 'os/linux/no-new-privileges');
  return typeof appc === 'boolean' ? appc : true;
}

export function buildOciSpec(launch: AppLaunch, facts: BundleFacts): OciSpec {
  const { container } = launch;
  const podSpec = launch.pod.spec;
  const sc = container.securityContext;
  const privileged = sc?.privileged === true;
  const env = buildEnv(launch);
  const envMap = new Map(containerEnv(container, launch));
  const args = processArgs(launch.image, container, envMap);
  const caps = appcCapabilities(launch.image, capabilitySet(container, facts.boundingCapabilities), container, facts.boundingCapabilities);
  const user = resolveProcessUser(launch, facts);
  const namespaces: Array<{ type: string; path?: string }> = [
    // shareProcessNamespace: the pod infra process's PID namespace (reconciler/pod-infra.ts)
    ...(podSpec.hostPID ? [] : [launch.pidNamespacePath ? { type: 'pid', path: launch.pidNamespacePath } : { type: 'pid' }]),
    ...(podSpec.hostIPC ? [] : [{ type: 'ipc' }]),
    // hostNetwork pods share the node's UTS namespace too: their hostname is the node's
    ...(podSpec.hostNetwork ? [] : [{ type: 'uts' }]),
    { type: 'mount' },
  ];
  if (launch.netnsPath !== undefined) namespaces.push({ type: 'network', path: launch.netnsPath });
  if (launch.userns) namespaces.push({ type: 'user', path: launch.userns.path });
  // A cgroup namespace hides the host's cgroup tree; on v1 and hybrid hosts runtimes cannot
  // give one that works (crun runs behind a v1-only view here), so only on v2.
  if (facts.cgroupMode === 'v2') namespaces.push({ type: 'cgroup' });
  const linux: Record<string, unknown> = {
    namespaces,
    cgroupsPath: cgroupsPathOf(launch, facts),
    resources: resources(appcResources(launch.image, container), privileged, facts),
  };
  if (launch.userns) Object.assign(linux, { uidMappings: idMappings(launch.userns), gidMappings: idMappings(launch.userns) });
  const sysctl = sysctlsOf(launch);
  if (sysctl) linux.sysctl = sysctl;
  if (privileged) {
    if (facts.hostDevices?.length) linux.devices = facts.hostDevices;
  } else {
    // procMount: Unmasked (hostUsers: false only, spec/security.ts): none, as the kubelet asks
    if (sc?.procMount !== 'Unmasked') Object.assign(linux, { maskedPaths: MASKED_PATHS, readonlyPaths: READONLY_PATHS });
    const seccomp = seccompFor(sc?.seccompProfile ?? podSpec.securityContext?.seccompProfile, {
      capabilities: caps,
      privileged,
      ...(facts.seccompDir !== undefined ? { profileDir: facts.seccompDir } : {}),
    });
    if (seccomp) linux.seccomp = seccomp;
  }
  const oom = Math.max(oomScoreAdj(launch.pod, container, facts.machineMemoryBytes ?? totalmem()), facts.oomScoreAdjFloor ?? -1000);
  const noNewPrivileges = noNewPrivilegesOf(launch, caps, privileged);
  return {
    ociVersion: '1.0.2',
    process: {
      // tty: a terminal from conmon (-t, conmon-runtime.ts), as the kubelet asks of its runtime
      terminal: container.tty === true,
      user,
      args,
      env,
      cwd: container.workingDir || launch.image.WorkingDir || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: rlimits(facts),
      noNewPrivileges,
      oomScoreAdj: oom,
      ...lsmLabels(launch, facts, privileged),
    },
    root: { path: 'rootfs', readonly: sc?.readOnlyRootFilesystem === true },
    ...(podSpec.hostNetwork ? {} : { hostname: launch.hostname }),
    mounts: [...defaultMounts(privileged), ...withIdmap(bindMounts(launch, privileged), launch.userns)],
    annotations: annotationsOf(launch),
    linux,
  };
}
