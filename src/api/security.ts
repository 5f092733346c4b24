/**
 * Checks of the pod's and containers' security settings that a schema cannot express, with
 * the API server's rules where it has them (seccomp/AppArmor profile types, privileged with
 * allowPrivilegeEscalation: false) and the kubelet's where berth decides what runs (sysctls).
 */
import type { FieldPath } from './path.js';
import type { Container, Pod } from './pod.js';
import type { RawIssue } from './unsupported.js';

/**
 * The sysctls the kubelet allows without `--allowed-unsafe-sysctls`
 * (kubernetes pkg/kubelet/sysctl/safe_sysctls.go, as of v1.32): namespaced, and isolated
 * from other pods on the node.
 */
export const SAFE_SYSCTLS = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
] as const;

/** The API server's sysctl name pattern (`.` or `/` as separators). */
const SYSCTL_NAME = /^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$/;

/** `net/ipv4/tcp_syncookies` → `net.ipv4.tcp_syncookies` (the kubelet's normalisation). */
export function normalizeSysctlName(name: string): string {
  const first = name.search(/[./]/);
  if (first < 0 || name[first] === '.') return name;
  return name.replace(/[./]/g, (c) => (c === '/' ? '.' : '/'));
}

/**
 * Why a path from a spec that must stay below its root (a subPath, a Localhost profile) is not
 * a local descending path, in the API server's words, or undefined. (NUL bytes are refused for
 * every string by limits.ts.)
 */
export function descendingPathProblem(p: string | undefined): string | undefined {
  if (!p) return undefined;
  if (p.startsWith('/')) return 'must be a relative path';
  if (p.split('/').includes('..')) return "must not contain '..'";
  return undefined;
}

type Profile = { type: string; localhostProfile?: string | undefined } | undefined;

function checkProfile(profile: Profile, path: FieldPath, error: (p: FieldPath, m: string) => void): void {
  if (profile === undefined) return;
  if (profile.type === 'Localhost') {
    if (profile.localhostProfile === undefined) error(path, 'localhostProfile must be set when type is Localhost');
    else {
      const bad = descendingPathProblem(profile.localhostProfile);
      if (bad) error([...path, 'localhostProfile'], bad);
    }
  } else if (profile.localhostProfile !== undefined) {
    error([...path, 'localhostProfile'], `must not be set when type is ${profile.type}`);
  }
}

export function checkSecurity(pod: Pod): RawIssue[] {
  const issues: RawIssue[] = [];
  const error = (path: FieldPath, message: string): void => void issues.push({ severity: 'error', path, message });
  const spec = pod.spec;
  const psc = spec.securityContext;

  checkProfile(psc?.seccompProfile, ['spec', 'securityContext', 'seccompProfile'], error);
  checkProfile(psc?.appArmorProfile, ['spec', 'securityContext', 'appArmorProfile'], error);

  const seen = new Set<string>();
  (psc?.sysctls ?? []).forEach((s, i) => {
    const at: FieldPath = ['spec', 'securityContext', 'sysctls', i, 'name'];
    if (!SYSCTL_NAME.test(s.name) || s.name.length > 253) {
      error(at, `"${s.name}" is not a valid sysctl name`);
      return;
    }
    const name = normalizeSysctlName(s.name);
    if (seen.has(name)) error(at, `sysctl "${name}" is set twice`);
    seen.add(name);
    if (!(SAFE_SYSCTLS as readonly string[]).includes(name)) {
      error(
        at,
        `sysctl "${name}" is not supported by berth: only the kubelet's safe sysctls are allowed (${SAFE_SYSCTLS.join(', ')}); others are not isolated from the host or other pods`,
      );
    } else if (spec.hostNetwork && name.startsWith('net.')) {
      error(at, `sysctl "${name}" cannot be set with hostNetwork: true: it would change the host's network namespace`);
    }
  });

  const lists: Array<['containers' | 'initContainers', Container[]]> = [
    ['initContainers', spec.initContainers ?? []],
    ['containers', spec.containers],
  ];
  for (const [list, containers] of lists) {
    containers.forEach((c, ci) => {
      const sc = c.securityContext;
      (c.volumeMounts ?? []).forEach((m, mi) => {
        if (m.mountPropagation === 'Bidirectional' && !sc?.privileged) {
          error(
            ['spec', list, ci, 'volumeMounts', mi, 'mountPropagation'],
            'Bidirectional mount propagation is available only to privileged containers',
          );
        }
      });
      if (!sc) return;
      const at = (...rest: Array<string | number>): FieldPath => ['spec', list, ci, 'securityContext', ...rest];
      checkProfile(sc.seccompProfile, at('seccompProfile'), error);
      checkProfile(sc.appArmorProfile, at('appArmorProfile'), error);
      if (sc.allowPrivilegeEscalation === false) {
        if (sc.privileged) error(at('allowPrivilegeEscalation'), 'cannot set allowPrivilegeEscalation to false and privileged to true');
        const adds = (sc.capabilities?.add ?? []).map((x) => x.toUpperCase().replace(/^CAP_/, ''));
        if (adds.includes('SYS_ADMIN'))
          error(at('allowPrivilegeEscalation'), 'cannot set allowPrivilegeEscalation to false and capabilities.add CAP_SYS_ADMIN');
      }
      // the API server's rule: an unmasked /proc only inside a user namespace of the pod's own
      if (sc.procMount === 'Unmasked' && pod.spec.hostUsers !== false)
        error(at('procMount'), '`hostUsers` must be false to use `Unmasked`');
    });
  }
  return issues;
}
