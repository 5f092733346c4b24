import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError, codeOf } from '../../../src/common/index.js';
import { DEFAULT_CAPABILITIES } from '../../../src/runtime/index.js';
import {
  allowedSyscallCount,
  convertProfile,
  kernelVersionOf,
  LOCALHOST_FIELD,
  MOBY_DEFAULT_PROFILE,
  parseSeccompProfile,
  resolveLocalhostProfile,
  seccompFor,
  type DockerSeccompProfile,
  type OciSeccomp,
} from '../../../src/runtime/seccomp/index.js';

const X64 = { arch: 'x64', kernelRelease: '6.18.44-amd64' };

/** The rules of a converted profile that name `syscall`. */
function rulesFor(s: OciSeccomp | undefined, syscall: string) {
  return (s?.syscalls ?? []).filter((r) => r.names.includes(syscall));
}

function allows(s: OciSeccomp | undefined, syscall: string): boolean {
  return rulesFor(s, syscall).some((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args?.length);
}

function errOf(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error('expected a BerthError');
}

describe('the default profile (Moby data)', () => {
  const def = seccompFor(undefined, { capabilities: DEFAULT_CAPABILITIES, privileged: false, ...X64 })!;

  it('is an allow-list that fails everything else with EPERM, for x86_64 with its x86 and x32 sub-architectures', () => {
    expect(def.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(def.defaultErrnoRet).toBe(1);
    expect(def.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(allows(def, 'read')).toBe(true);
    expect(allows(def, 'execve')).toBe(true);
    expect(allowedSyscallCount(def)).toBeGreaterThan(300);
    // the converted profile is plain OCI: no Docker-only keys left
    for (const r of def.syscalls!) expect(Object.keys(r).every((k) => ['names', 'action', 'errnoRet', 'args'].includes(k))).toBe(true);
  });

  it('undefined selection is RuntimeDefault', () => {
    expect(seccompFor({ type: 'RuntimeDefault' }, { capabilities: DEFAULT_CAPABILITIES, privileged: false, ...X64 })).toEqual(def);
  });

  it('denies keys, io_uring, userfaultfd, namespaces, mounts, modules, bpf and perf for the default capabilities', () => {
    for (const s of [
      'keyctl',
      'add_key',
      'request_key',
      'io_uring_setup',
      'io_uring_enter',
      'io_uring_register',
      'userfaultfd',
      'unshare',
      'setns',
      'mount',
      'umount2',
      'fsopen',
      'open_tree',
      'move_mount',
      'init_module',
      'finit_module',
      'delete_module',
      'bpf',
      'perf_event_open',
      'sethostname',
      'setdomainname',
      'reboot',
      'kexec_load',
      'open_by_handle_at',
      'clock_settime',
    ]) {
      expect(rulesFor(def, s), s).toEqual([]);
    }
  });

  it('clone3 fails with ENOSYS, clone is allowed only without namespace flags, socket not for AF_ALG/AF_VSOCK', () => {
    expect(rulesFor(def, 'clone3')).toEqual([{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
    expect(rulesFor(def, 'clone')).toEqual([
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, op: 'SCMP_CMP_MASKED_EQ' }] },
    ]);
    const socket = rulesFor(def, 'socket').map((r) => r.args);
    expect(socket).toEqual([
      [{ index: 0, value: 38, op: 'SCMP_CMP_LT' }],
      [{ index: 0, value: 39, op: 'SCMP_CMP_EQ' }],
      [{ index: 0, value: 40, op: 'SCMP_CMP_GT' }],
    ]);
  });

  it('capabilities include rules: CAP_SYS_ADMIN allows mount/unshare/clone3/bpf/perf and drops the clone3 ENOSYS and clone flag rules', () => {
    const admin = seccompFor(undefined, { capabilities: [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], privileged: false, ...X64 })!;
    for (const s of ['mount', 'unshare', 'setns', 'clone', 'clone3', 'bpf', 'perf_event_open', 'sethostname'])
      expect(allows(admin, s), s).toBe(true);
    expect(rulesFor(admin, 'clone3').some((r) => r.action === 'SCMP_ACT_ERRNO')).toBe(false);
    expect(rulesFor(admin, 'clone').some((r) => r.args)).toBe(false);
    expect(rulesFor(admin, 'keyctl')).toEqual([]); // no capability allows keys
  });

  it('single capabilities open only their own syscalls', () => {
    const caps = (extra: string[]) =>
      seccompFor(undefined, { capabilities: [...DEFAULT_CAPABILITIES, ...extra], privileged: false, ...X64 });
    expect(allows(caps(['CAP_SYS_MODULE']), 'finit_module')).toBe(true);
    expect(allows(caps(['CAP_SYS_MODULE']), 'mount')).toBe(false);
    expect(allows(caps(['CAP_BPF']), 'bpf')).toBe(true);
    expect(allows(caps(['CAP_PERFMON']), 'perf_event_open')).toBe(true);
    expect(allows(caps(['CAP_SYS_PTRACE']), 'kcmp')).toBe(true);
    expect(allows(caps([]), 'kcmp')).toBe(false);
    expect(allows(caps(['CAP_SYS_TIME']), 'clock_settime')).toBe(true);
  });

  it('dropping a default capability removes its rules (CAP_SYS_CHROOT → chroot)', () => {
    expect(allows(def, 'chroot')).toBe(true);
    const noChroot = seccompFor(undefined, {
      capabilities: DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_SYS_CHROOT'),
      privileged: false,
      ...X64,
    });
    expect(allows(noChroot, 'chroot')).toBe(false);
  });

  it('filters rules by architecture: arch_prctl on x64 only, arm syscalls on arm64 with AARCH64+ARM', () => {
    expect(allows(def, 'arch_prctl')).toBe(true);
    expect(allows(def, 'set_tls')).toBe(false);
    const arm = seccompFor(undefined, { capabilities: DEFAULT_CAPABILITIES, privileged: false, arch: 'arm64', kernelRelease: '6.1.0' })!;
    expect(arm.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(allows(arm, 'set_tls')).toBe(true);
    expect(allows(arm, 'arch_prctl')).toBe(false);
    expect(allows(arm, 'modify_ldt')).toBe(false);
    const s390 = seccompFor(undefined, { capabilities: DEFAULT_CAPABILITIES, privileged: false, arch: 's390x', kernelRelease: '6.1.0' })!;
    // s390 passes clone's flags in the second argument
    expect(rulesFor(s390, 'clone').map((r) => r.args?.[0]?.index)).toEqual([1]);
  });

  it('minKernel: ptrace and process_vm_* are allowed from 4.8 on, not before', () => {
    expect(allows(def, 'ptrace')).toBe(true);
    const old = seccompFor(undefined, {
      capabilities: DEFAULT_CAPABILITIES,
      privileged: false,
      arch: 'x64',
      kernelRelease: '4.4.0-210-generic',
    });
    expect(allows(old, 'ptrace')).toBe(false);
    expect(allows(old, 'process_vm_readv')).toBe(false);
  });

  it('privileged and Unconfined get no seccomp', () => {
    expect(seccompFor(undefined, { capabilities: DEFAULT_CAPABILITIES, privileged: true })).toBeUndefined();
    expect(seccompFor({ type: 'RuntimeDefault' }, { capabilities: DEFAULT_CAPABILITIES, privileged: true })).toBeUndefined();
    expect(seccompFor({ type: 'Unconfined' }, { capabilities: DEFAULT_CAPABILITIES, privileged: false })).toBeUndefined();
  });

  it('refuses an unknown type and a localhostProfile without type Localhost', () => {
    expect(codeOf(errOf(() => seccompFor({ type: 'Bogus' as 'Unconfined' }, { capabilities: [], privileged: false })))).toBe(
      'InvalidArgument',
    );
    const e = errOf(() => seccompFor({ type: 'RuntimeDefault', localhostProfile: 'x.json' }, { capabilities: [], privileged: false }));
    expect(e.message).toContain(LOCALHOST_FIELD);
  });

  it('kernel versions parse like Moby (distro suffixes ignored)', () => {
    expect(kernelVersionOf('6.18.44-amd64')).toEqual([6, 18]);
    expect(kernelVersionOf('3.12-1-amd64')).toEqual([3, 12]);
    expect(kernelVersionOf('weird')).toBeUndefined();
  });

  it('the data names its source', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL('../../../src/runtime/seccomp/default-profile.ts', import.meta.url), 'utf8');
    expect(text).toMatch(/github\.com\/moby\/profiles, file seccomp\/default\.json, tag seccomp\/v0\.2\.3/);
    expect(MOBY_DEFAULT_PROFILE.syscalls?.length).toBeGreaterThan(30);
  });
});

describe('Docker and OCI profile formats', () => {
  const base = { capabilities: ['CAP_CHOWN'], arch: 'x64', kernelRelease: '6.1.0' };

  it('converts the old single "name" form and keeps args and errnoRet', () => {
    const p = parseSeccompProfile(
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          { name: 'mkdir', action: 'SCMP_ACT_ERRNO', errnoRet: 13, comment: 'no dirs' },
          { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 8, op: 'SCMP_CMP_NE' }] },
        ],
      }),
      'p.json',
    );
    expect(convertProfile(p, base)).toEqual({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 8, op: 'SCMP_CMP_NE' }] },
      ],
    });
  });

  it('plain OCI architectures pass through; archMap picks the host entry', () => {
    const oci: DockerSeccompProfile = {
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }],
    };
    expect(convertProfile(oci, base).architectures).toEqual(['SCMP_ARCH_X86_64']);
    const docker: DockerSeccompProfile = {
      defaultAction: 'SCMP_ACT_ERRNO',
      archMap: [{ architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] }],
    };
    expect(convertProfile(docker, base).architectures).toBeUndefined(); // no entry for x86_64: native only
    expect(convertProfile(docker, { ...base, arch: 'arm64' }).architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  });

  it('excludes by capability and by arch', () => {
    const p: DockerSeccompProfile = {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['a'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_CHOWN'] } },
        { names: ['b'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['amd64'] } },
        { names: ['c'], action: 'SCMP_ACT_ALLOW', excludes: { minKernel: '6.0' } },
        { names: ['d'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_CHOWN'], minKernel: '5.10' } },
        { names: ['e'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_CHOWN', 'CAP_SYS_ADMIN'] } },
      ],
    };
    expect(convertProfile(p, base).syscalls?.map((r) => r.names[0])).toEqual(['d']);
  });

  it('refuses what a runtime here would refuse or berth cannot honour, naming the file', () => {
    const bad = (doc: unknown) =>
      errOf(() => convertProfile(parseSeccompProfile(JSON.stringify(doc), '/x/p.json'), base, 'seccomp profile /x/p.json'));
    expect(bad({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG'] }).message).toMatch(/p\.json: "flags".*runc/);
    expect(bad({ defaultAction: 'SCMP_ACT_ALLOW', defaultErrnoRet: 1 }).message).toMatch(/defaultErrnoRet/);
    expect(bad({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ALLOW', errnoRet: 1 }] }).message).toMatch(
      /syscalls\[0\]\.errnoRet/,
    );
    expect(bad({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['x'], action: 'SCMP_ACT_NOTIFY' }] }).message).toMatch(/NOTIFY/);
    expect(bad({ defaultAction: 'SCMP_ACT_ERRNO', listenerPath: '/run/agent.sock' }).message).toMatch(/listenerPath/);
    expect(bad({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ name: 'x', names: ['y'], action: 'SCMP_ACT_ALLOW' }] }).message).toMatch(
      /both "name" and "names"/,
    );
    expect(
      bad({
        defaultAction: 'SCMP_ACT_ERRNO',
        architectures: ['SCMP_ARCH_X86'],
        archMap: [{ architecture: 'SCMP_ARCH_X86', subArchitectures: null }],
      }).message,
    ).toMatch(/archMap/);
    expect(bad({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ALLOW', inclues: {} }] }).message).toMatch(
      /p\.json: syscalls\[0\].*inclues/,
    );
    expect(bad({ defaultAction: 'SCMP_ACT_NOPE' }).message).toMatch(/p\.json: defaultAction/);
    expect(errOf(() => parseSeccompProfile('{nope', '/x/p.json')).message).toMatch(/p\.json: not valid JSON/);
  });
});

describe('Localhost profiles stay inside the profile directory', () => {
  let dir = '';
  let profileDir = '';
  const opts = () => ({ capabilities: DEFAULT_CAPABILITIES, privileged: false, profileDir, ...X64 });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-seccomp-unit-'));
    profileDir = join(dir, 'config', 'seccomp');
    await mkdir(join(profileDir, 'team'), { recursive: true });
    await writeFile(
      join(profileDir, 'team', 'ok.json'),
      JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] }),
    );
    await writeFile(join(dir, 'outside.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW' }));
    await symlink('../../outside.json', join(profileDir, 'escape.json'));
    await symlink('team/ok.json', join(profileDir, 'inside-link.json'));
    await symlink(dir, join(profileDir, 'updir'));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads a relative path, also through a symlink that stays inside', () => {
    const want = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] };
    expect(seccompFor({ type: 'Localhost', localhostProfile: 'team/ok.json' }, opts())).toEqual(want);
    expect(seccompFor({ type: 'Localhost', localhostProfile: './team//ok.json' }, opts())).toEqual(want);
    expect(seccompFor({ type: 'Localhost', localhostProfile: 'inside-link.json' }, opts())).toEqual(want);
  });

  it('refuses absolute paths and ".." components, naming the field', () => {
    for (const p of ['/etc/passwd', join(profileDir, 'team/ok.json'), '../outside.json', 'team/../../outside.json', 'team/..']) {
      const e = errOf(() => seccompFor({ type: 'Localhost', localhostProfile: p }, opts()));
      expect(e.code, p).toBe('InvalidArgument');
      expect(e.message, p).toContain(LOCALHOST_FIELD);
    }
  });

  it('refuses symlinks that lead out of the directory', () => {
    for (const p of ['escape.json', 'updir/outside.json']) {
      const e = errOf(() => seccompFor({ type: 'Localhost', localhostProfile: p }, opts()));
      expect(e.code, p).toBe('InvalidArgument');
      expect(e.message, p).toMatch(/resolves outside/);
    }
  });

  it('a missing file is NotFound; a missing field or directory is refused', () => {
    expect(errOf(() => seccompFor({ type: 'Localhost', localhostProfile: 'nope.json' }, opts())).code).toBe('NotFound');
    expect(errOf(() => seccompFor({ type: 'Localhost' }, opts())).message).toMatch(/localhostProfile is required/);
    expect(
      errOf(() => seccompFor({ type: 'Localhost', localhostProfile: 'team/ok.json' }, { capabilities: [], privileged: false })).code,
    ).toBe('FailedPrecondition');
    expect(errOf(() => resolveLocalhostProfile(profileDir, 'team')).message).toMatch(/not a regular file/);
    expect(errOf(() => resolveLocalhostProfile(join(dir, 'missing'), 'x.json')).code).toBe('NotFound');
  });

  it('privileged skips the profile entirely (as containerd does)', () => {
    expect(seccompFor({ type: 'Localhost', localhostProfile: 'nope.json' }, { ...opts(), privileged: true })).toBeUndefined();
  });
});
