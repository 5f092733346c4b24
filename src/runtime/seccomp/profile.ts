/**
 * The OCI `linux.seccomp` of one app, from its `seccompProfile` selection: RuntimeDefault
 * (berth's default; Moby's default profile, ./default-profile.ts), Localhost (a file under
 * `<config-dir>/seccomp/`, Docker or OCI format) or Unconfined. A Docker-format profile is
 * converted the way Moby converts it: the architectures come from the `archMap` entry of the
 * host's architecture, and a rule is kept or dropped by its `includes`/`excludes` conditions
 * on the app's capabilities, the architecture and the kernel version. Privileged apps get no
 * seccomp filter, as with containerd's CRI and Kubernetes.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { isAbsolute, join, relative, sep } from 'node:path';
import { BerthError, errorMessage, errnoOf } from '../../common/index.js';
import { MOBY_DEFAULT_PROFILE } from './default-profile.js';
import {
  DockerSeccompProfileSchema,
  type DockerSeccompProfile,
  type DockerSeccompRule,
  type OciSeccomp,
  type OciSeccompSyscall,
  type SeccompSelection,
} from './types.js';

export const LOCALHOST_FIELD = 'securityContext.seccompProfile.localhostProfile';

export interface SeccompOptions {
  /** the app's capabilities (berth gives the same set as bounding, effective and permitted) */
  capabilities: string[];
  privileged: boolean;
  /** Node's `process.arch` of the host; default `process.arch` */
  arch?: string;
  /** `<config-dir>/seccomp`: where Localhost profiles live */
  profileDir?: string;
  /** the host kernel's release (`uname -r`) for `minKernel` conditions; default `os.release()` */
  kernelRelease?: string;
}

/** Node's process.arch → libseccomp's native architecture name (what `arches` conditions use). */
const NODE_TO_NATIVE: Record<string, string> = {
  x64: 'amd64',
  ia32: 'x86',
  arm: 'arm',
  arm64: 'arm64',
  ppc64: 'ppc64le', // Node on Linux supports only little-endian ppc64 and calls it ppc64
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

/** libseccomp's native name → the SCMP_ARCH_* constant an `archMap` entry is keyed by. */
const NATIVE_TO_SCMP: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64',
  x86: 'SCMP_ARCH_X86',
  arm: 'SCMP_ARCH_ARM',
  arm64: 'SCMP_ARCH_AARCH64',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64',
  loong64: 'SCMP_ARCH_LOONGARCH64',
  mips: 'SCMP_ARCH_MIPS',
  mipsle: 'SCMP_ARCH_MIPSEL',
};

export function nativeArch(nodeArch: string): string {
  return NODE_TO_NATIVE[nodeArch] ?? nodeArch;
}

/** "<kernel>.<major>" of a release string such as "6.18.44-amd64"; undefined when unreadable. */
export function kernelVersionOf(rel: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(rel.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function kernelAtLeast(rel: string, min: string): boolean {
  const have = kernelVersionOf(rel);
  const want = kernelVersionOf(min);
  if (!have || !want) throw new BerthError('FailedPrecondition', `cannot compare kernel release "${rel}" with minKernel "${min}"`);
  return have[0] !== want[0] ? have[0] > want[0] : have[1] >= want[1];
}

export interface ConvertOptions {
  capabilities: string[];
  arch?: string;
  kernelRelease?: string;
}

/** Whether a rule's includes/excludes conditions keep it for this app and host. */
function ruleApplies(rule: DockerSeccompRule, caps: Set<string>, native: string, kernel: string): boolean {
  const ex = rule.excludes;
  if (ex) {
    if (ex.arches?.includes(native)) return false;
    if (ex.caps?.some((c) => caps.has(c))) return false;
    if (ex.minKernel !== undefined && kernelAtLeast(kernel, ex.minKernel)) return false;
  }
  const inc = rule.includes;
  if (inc) {
    if (inc.arches?.length && !inc.arches.includes(native)) return false;
    if (inc.caps?.some((c) => !caps.has(c))) return false;
    if (inc.minKernel !== undefined && !kernelAtLeast(kernel, inc.minKernel)) return false;
  }
  return true;
}

/** Actions that take an errno (crun 1.8.1 refuses `errnoRet`/`defaultErrnoRet` on any other). */
const ERRNO_ACTIONS = new Set(['SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE']);

/**
 * What both runtimes here (crun 1.8.1, runc 1.1.5) would refuse or berth cannot honour,
 * refused up front so that an app never starts under one runtime and fails under the other:
 * - `flags`: runc 1.1.5 fails every non-empty list ("seccomp flags are not yet supported");
 * - an errno on an action other than ERRNO/TRACE: crun fails ("errno value specified for
 *   action SCMP_ACT_ALLOW"), runc ignores it;
 * - SCMP_ACT_NOTIFY and `listenerPath`: they need a seccomp agent, and berth runs none.
 * Syscall names the host's libseccomp (2.5.4 here) does not know, such as the newest ones in
 * the default profile, are skipped by both runtimes, as by Docker: they stay denied.
 */
function checkPortable(profile: DockerSeccompProfile, source: string): void {
  const refuse = (what: string) => {
    throw new BerthError('InvalidArgument', `${source}: ${what}`);
  };
  if (profile.architectures?.length && profile.archMap?.length) refuse('both "architectures" and "archMap" are given; use one of them');
  if (profile.flags?.length) refuse(`"flags" (${profile.flags.join(', ')}) is not supported by berth: runc 1.1 refuses seccomp flags`);
  if (profile.listenerPath !== undefined || profile.listenerMetadata !== undefined)
    refuse('"listenerPath" is not supported by berth: it runs no seccomp notify agent');
  if (profile.defaultErrnoRet !== undefined && !ERRNO_ACTIONS.has(profile.defaultAction)) {
    refuse(`"defaultErrnoRet" is only valid with defaultAction SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not ${profile.defaultAction}`);
  }
  if (profile.defaultAction === 'SCMP_ACT_NOTIFY')
    refuse('defaultAction SCMP_ACT_NOTIFY is not supported by berth: it runs no seccomp notify agent');
  (profile.syscalls ?? []).forEach((rule, i) => {
    if (rule.name !== undefined && rule.names?.length) refuse(`syscalls[${i}] has both "name" and "names"; use "names"`);
    if (rule.name === undefined && !rule.names?.length) refuse(`syscalls[${i}] names no syscall`);
    if (rule.errnoRet !== undefined && !ERRNO_ACTIONS.has(rule.action)) {
      refuse(`syscalls[${i}].errnoRet is only valid with action SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not ${rule.action}`);
    }
    if (rule.action === 'SCMP_ACT_NOTIFY')
      refuse(`syscalls[${i}].action SCMP_ACT_NOTIFY is not supported by berth: it runs no seccomp notify agent`);
  });
}

/**
 * A Docker- or OCI-format profile → OCI `linux.seccomp` for an app with these capabilities
 * on this architecture and kernel. `source` names the profile in error messages.
 */
export function convertProfile(profile: DockerSeccompProfile, opts: ConvertOptions, source = 'seccomp profile'): OciSeccomp {
  checkPortable(profile, source);
  const native = nativeArch(opts.arch ?? process.arch);
  const kernel = opts.kernelRelease ?? release();
  const caps = new Set(opts.capabilities.map((c) => c.toUpperCase()));
  const out: OciSeccomp = { defaultAction: profile.defaultAction };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  let architectures = profile.architectures ?? [];
  if (profile.archMap?.length) {
    const scmp = NATIVE_TO_SCMP[native];
    const entry = profile.archMap.find((a) => a.architecture === scmp);
    architectures = entry ? [entry.architecture, ...(entry.subArchitectures ?? [])] : [];
  }
  if (architectures.length) out.architectures = architectures;
  const syscalls: OciSeccompSyscall[] = [];
  for (const rule of profile.syscalls ?? []) {
    const names = rule.name !== undefined ? [rule.name] : (rule.names ?? []);
    if (!ruleApplies(rule, caps, native, kernel)) continue;
    const s: OciSeccompSyscall = { names: [...names], action: rule.action };
    if (rule.errnoRet !== undefined) s.errnoRet = rule.errnoRet;
    if (rule.args?.length) s.args = rule.args.map((a) => ({ ...a }));
    syscalls.push(s);
  }
  if (syscalls.length) out.syscalls = syscalls;
  return out;
}

/** Parse a profile file's text (Docker or OCI format); errors name the file and the field. */
export function parseSeccompProfile(text: string, file: string): DockerSeccompProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new BerthError('InvalidArgument', `seccomp profile ${file}: not valid JSON: ${errorMessage(err)}`);
  }
  const r = DockerSeccompProfileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
      .join('')
      .replace(/^\./, '');
    throw new BerthError('InvalidArgument', `seccomp profile ${file}: ${path || '(top level)'}: ${issue.message}`);
  }
  return r.data;
}

/**
 * The file a Localhost profile names, resolved inside `profileDir`: a relative path without
 * `..` components whose real path (symlinks followed) stays inside the directory.
 */
export function resolveLocalhostProfile(profileDir: string | undefined, localhostProfile: string | undefined): string {
  if (localhostProfile === undefined || localhostProfile === '') {
    throw new BerthError('InvalidArgument', `${LOCALHOST_FIELD} is required when seccompProfile.type is Localhost`);
  }
  if (isAbsolute(localhostProfile)) {
    throw new BerthError(
      'InvalidArgument',
      `${LOCALHOST_FIELD} "${localhostProfile}" must be a path relative to the seccomp profile directory, not absolute`,
    );
  }
  if (localhostProfile.split(/[/\\]/).includes('..')) {
    throw new BerthError('InvalidArgument', `${LOCALHOST_FIELD} "${localhostProfile}" must not contain ".." components`);
  }
  if (localhostProfile.includes('\0')) throw new BerthError('InvalidArgument', `${LOCALHOST_FIELD} contains a NUL byte`);
  if (!profileDir) {
    throw new BerthError(
      'FailedPrecondition',
      `${LOCALHOST_FIELD} "${localhostProfile}": no seccomp profile directory is configured (<config-dir>/seccomp)`,
    );
  }
  let root: string;
  let real: string;
  try {
    root = realpathSync(profileDir);
    real = realpathSync(join(root, localhostProfile));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') {
      throw new BerthError('NotFound', `${LOCALHOST_FIELD} "${localhostProfile}": no such profile in ${profileDir}`);
    }
    throw new BerthError('FailedPrecondition', `${LOCALHOST_FIELD} "${localhostProfile}": ${errorMessage(err)}`);
  }
  const rel = relative(root, real);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw new BerthError('InvalidArgument', `${LOCALHOST_FIELD} "${localhostProfile}" resolves outside ${profileDir} (through a symlink)`);
  }
  if (!statSync(real).isFile()) {
    throw new BerthError('InvalidArgument', `${LOCALHOST_FIELD} "${localhostProfile}" in ${profileDir} is not a regular file`);
  }
  return real;
}

/** Read, parse and convert a Localhost profile. */
export function loadLocalhostProfile(
  profileDir: string | undefined,
  localhostProfile: string | undefined,
  opts: ConvertOptions,
): OciSeccomp {
  const file = resolveLocalhostProfile(profileDir, localhostProfile);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BerthError(errnoOf(err) === 'ENOENT' ? 'NotFound' : 'FailedPrecondition', `seccomp profile ${file}: ${errorMessage(err)}`);
  }
  return convertProfile(parseSeccompProfile(text, file), opts, `seccomp profile ${file}`);
}

/**
 * The OCI `linux.seccomp` for one app, or undefined for none. No selection means
 * RuntimeDefault (berth's default, stricter than the kubelet's historical Unconfined);
 * privileged apps and Unconfined get none.
 */
export function seccompFor(sel: SeccompSelection | undefined, opts: SeccompOptions): OciSeccomp | undefined {
  if (opts.privileged) return undefined;
  const type = sel?.type ?? 'RuntimeDefault';
  if (type !== 'Localhost' && sel?.localhostProfile !== undefined) {
    throw new BerthError(
      'InvalidArgument',
      `${LOCALHOST_FIELD} may only be set when securityContext.seccompProfile.type is Localhost (it is ${type})`,
    );
  }
  const conv: ConvertOptions = {
    capabilities: opts.capabilities,
    ...(opts.arch !== undefined ? { arch: opts.arch } : {}),
    ...(opts.kernelRelease !== undefined ? { kernelRelease: opts.kernelRelease } : {}),
  };
  switch (type) {
    case 'Unconfined':
      return undefined;
    case 'RuntimeDefault':
      return convertProfile(MOBY_DEFAULT_PROFILE, conv, 'the default seccomp profile');
    case 'Localhost':
      return loadLocalhostProfile(opts.profileDir, sel?.localhostProfile, conv);
    default:
      throw new BerthError(
        'InvalidArgument',
        `securityContext.seccompProfile.type "${String(type)}" is not one of RuntimeDefault, Localhost, Unconfined`,
      );
  }
}

/** How many distinct syscalls a converted profile allows unconditionally (for reports). */
export function allowedSyscallCount(s: OciSeccomp): number {
  const names = new Set<string>();
  for (const r of s.syscalls ?? []) if (r.action === 'SCMP_ACT_ALLOW' && !r.args?.length) for (const n of r.names) names.add(n);
  return names.size;
}
