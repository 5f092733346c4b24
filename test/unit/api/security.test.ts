import { describe, expect, it } from 'vitest';
import { parseFile } from '../../../src/api/index.js';
import { errors, podYaml, warnings } from './helpers.js';

const withContainer = (lines: string) => podYaml('p').replace('image: busybox\n', `image: busybox\n${lines}\n`);
const withSpec = (lines: string) => podYaml('p', { spec: lines });

/** A Pod that passes the Pod Security Standard "restricted" (v1.32). */
const RESTRICTED = `apiVersion: v1
kind: Pod
metadata:
  name: restricted
  creationTimestamp: null
spec:
  securityContext:
    runAsNonRoot: true
    runAsUser: 65534
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: app
      image: busybox
      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
        seccompProfile: {type: RuntimeDefault}
        procMount: Default
`;

describe('security fields of the Pod API', () => {
  it('accepts a Pod of the restricted Pod Security Standard, and read-only metadata', () => {
    const parsed = parseFile(RESTRICTED, 'r.yaml');
    expect(parsed.issues).toEqual([]);
    expect(parsed.pods[0]?.pod.spec.securityContext?.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  });

  it('accepts appArmorProfile, seLinuxOptions, Localhost seccomp and safe sysctls', () => {
    const parsed = parseFile(
      withSpec(`  securityContext:
    appArmorProfile: {type: Localhost, localhostProfile: k8s-apparmor-example}
    seLinuxOptions: {level: "s0:c123,c456"}
    seccompProfile: {type: Localhost, localhostProfile: profiles/audit.json}
    sysctls: [{name: net.ipv4.ping_group_range, value: "0 1000"}, {name: kernel/shm_rmid_forced, value: "1"}]`),
      's.yaml',
    );
    expect(errors(parsed.issues)).toEqual([]);
  });

  it.each([
    [
      'an unsafe sysctl',
      withSpec('  securityContext: {sysctls: [{name: kernel.msgmax, value: "1"}]}'),
      'spec.securityContext.sysctls[0].name',
      'sysctl "kernel.msgmax" is not supported by berth',
    ],
    [
      'a net sysctl with hostNetwork',
      withSpec('  hostNetwork: true\n  securityContext: {sysctls: [{name: net.ipv4.tcp_syncookies, value: "1"}]}'),
      'spec.securityContext.sysctls[0].name',
      'hostNetwork',
    ],
    [
      'a malformed sysctl name',
      withSpec('  securityContext: {sysctls: [{name: "Kernel..x", value: "1"}]}'),
      'spec.securityContext.sysctls[0].name',
      'not a valid sysctl name',
    ],
    [
      'Localhost without a profile',
      withContainer('      securityContext: {seccompProfile: {type: Localhost}}'),
      'spec.containers[0].securityContext.seccompProfile',
      'localhostProfile must be set',
    ],
    [
      'a profile outside the profile dir',
      withContainer('      securityContext: {seccompProfile: {type: Localhost, localhostProfile: ../../etc/x.json}}'),
      'spec.containers[0].securityContext.seccompProfile.localhostProfile',
      "must not contain '..'",
    ],
    [
      'localhostProfile with RuntimeDefault',
      withSpec('  securityContext: {seccompProfile: {type: RuntimeDefault, localhostProfile: a.json}}'),
      'spec.securityContext.seccompProfile.localhostProfile',
      'must not be set',
    ],
    [
      "procMount Unmasked in the host's user namespace",
      withContainer('      securityContext: {procMount: Unmasked}'),
      'spec.containers[0].securityContext.procMount',
      '`hostUsers` must be false to use `Unmasked`',
    ],
    [
      'privileged without privilege escalation',
      withContainer('      securityContext: {privileged: true, allowPrivilegeEscalation: false}'),
      'spec.containers[0].securityContext.allowPrivilegeEscalation',
      'cannot set allowPrivilegeEscalation to false and privileged to true',
    ],
    [
      'windowsOptions',
      withContainer('      securityContext: {windowsOptions: {runAsUserName: x}}'),
      'spec.containers[0].securityContext.windowsOptions',
      'Windows containers',
    ],
    [
      'a liveness probe with successThreshold 2',
      withContainer('      livenessProbe: {exec: {command: [true]}, successThreshold: 2}'),
      'spec.containers[0].livenessProbe.successThreshold',
      'must be 1 for a liveness probe',
    ],
    [
      'hostUsers: false with hostNetwork',
      withSpec('  hostUsers: false\n  hostNetwork: true'),
      'spec.hostNetwork',
      'may not be true when `hostUsers` is false',
    ],
    [
      'hostUsers: false with hostPID',
      withSpec('  hostUsers: false\n  hostPID: true'),
      'spec.hostPID',
      'may not be true when `hostUsers` is false',
    ],
    [
      'hostUsers: false with hostIPC',
      withSpec('  hostUsers: false\n  hostIPC: true'),
      'spec.hostIPC',
      'may not be true when `hostUsers` is false',
    ],
    [
      'shareProcessNamespace with hostPID',
      withSpec('  shareProcessNamespace: true\n  hostPID: true'),
      'spec.shareProcessNamespace',
      'ShareProcessNamespace and HostPID cannot both be enabled',
    ],
    [
      'shareProcessNamespace with hostUsers: false',
      withSpec('  shareProcessNamespace: true\n  hostUsers: false'),
      'spec.shareProcessNamespace',
      'is not supported by berth together with `hostUsers: false`',
    ],
    [
      'Bidirectional propagation without privileged',
      podYaml('p', { spec: '  volumes: [{name: v, emptyDir: {}}]' }).replace(
        'image: busybox\n',
        'image: busybox\n      volumeMounts: [{name: v, mountPath: /v, mountPropagation: Bidirectional}]\n',
      ),
      'spec.containers[0].volumeMounts[0].mountPropagation',
      'only to privileged containers',
    ],
    ['os windows', withSpec('  os: {name: windows}'), 'spec.os.name', 'Linux pods only'],
  ])('refuses %s naming the field', (_what, text, path, message) => {
    const issues = errors(parseFile(text, 'c.yaml').issues);
    expect(issues.map((i) => i.path)).toContain(path);
    expect(issues.find((i) => i.path === path)?.message).toContain(message);
    expect(issues.map((i) => i.message).join('\n')).not.toMatch(/unknown field/);
  });

  it("accepts procMount Unmasked in a user namespace of the pod's own", () => {
    const parsed = parseFile(
      withContainer('      securityContext: {procMount: Unmasked}').replace('spec:\n', 'spec:\n  hostUsers: false\n'),
      'u.yaml',
    );
    expect(errors(parsed.issues)).toEqual([]);
  });

  it('accepts hostPID, hostIPC, hostUsers: true, os linux and enableServiceLinks', () => {
    const parsed = parseFile(
      withSpec('  hostPID: true\n  hostIPC: true\n  hostUsers: true\n  os: {name: linux}\n  enableServiceLinks: false'),
      'h.yaml',
    );
    expect(errors(parsed.issues)).toEqual([]);
  });

  it('accepts shareProcessNamespace', () => {
    expect(errors(parseFile(withSpec('  shareProcessNamespace: true'), 'h.yaml').issues)).toEqual([]);
  });

  it('warns about controller metadata', () => {
    const parsed = parseFile(podYaml('p').replace('  name: p', '  name: p\n  ownerReferences: [{kind: Node, name: n}]'), 'o.yaml');
    expect(errors(parsed.issues)).toEqual([]);
    expect(warnings(parsed.issues).map((w) => w.path)).toEqual(['metadata.ownerReferences']);
  });

  it('still says unknown field for a typo', () => {
    const issues = errors(parseFile(withContainer('      securityContext: {runAsNonroot: true}'), 't.yaml').issues);
    expect(issues[0]?.message).toMatch(/unknown field "runAsNonroot"/);
  });
});
