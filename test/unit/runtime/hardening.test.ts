/**
 * The hardened defaults of a bundle (issue 8): what an unprivileged app gets and what
 * `privileged` changes, next to containerd's and podman's defaults.
 */
import { describe, expect, it } from 'vitest';
import { hasCode } from '../../../src/common/index.js';
import { Pod } from '../../../src/api/pod.js';
import {
  buildOciSpec,
  bundleWarnings,
  MASKED_PATHS,
  oomScoreAdj,
  qosClass,
  type AppLaunch,
  type BundleFacts,
} from '../../../src/runtime/index.js';

type Obj = Record<string, unknown>;

function launchOf(container: Obj = {}, podSpec: Obj = {}, image: Obj = { Cmd: ['/bin/sh'] }): AppLaunch {
  const pod = Pod.parse({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'prod' },
    spec: { containers: [{ name: 'app', image: 'busybox', ...container }], ...podSpec },
  });
  return {
    containerId: 'berth-x-app',
    podUid: 'u-1',
    namespace: 'prod',
    podName: 'web',
    appName: 'app',
    execution: 0,
    bundleDir: '/b',
    rootfsLower: '/nonexistent-rootfs',
    image,
    container: pod.spec.containers[0]!,
    pod,
    hostname: 'web',
    logPath: '/l/0.log',
    mounts: [{ destination: '/data', source: '/v/data', readOnly: false }],
  };
}

const GiB = 2 ** 30;
const facts: BundleFacts = { cgroupMode: 'v1', machineMemoryBytes: 8 * GiB, userDb: { passwd: [], group: [] } };
const specOf = (l: AppLaunch, f: BundleFacts = facts) =>
  buildOciSpec(l, f) as unknown as Obj & { process: Obj; linux: Obj; mounts: Array<{ destination: string; options: string[] }> };

describe('unprivileged defaults', () => {
  const spec = specOf(launchOf());

  it('seccomp RuntimeDefault is on unless the spec says Unconfined', () => {
    expect((spec.linux.seccomp as { defaultAction: string }).defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(specOf(launchOf({ securityContext: { seccompProfile: { type: 'Unconfined' } } })).linux.seccomp).toBeUndefined();
    expect(specOf(launchOf({}, { securityContext: { seccompProfile: { type: 'Unconfined' } } })).linux.seccomp).toBeUndefined();
    // the container's setting wins over the pod's
    const both = launchOf(
      { securityContext: { seccompProfile: { type: 'RuntimeDefault' } } },
      { securityContext: { seccompProfile: { type: 'Unconfined' } } },
    );
    expect(specOf(both).linux.seccomp).toBeDefined();
  });

  it('masks the union of containerd and podman paths, powercap and block devices included', () => {
    expect(spec.linux.maskedPaths).toEqual(MASKED_PATHS);
    expect(MASKED_PATHS).toEqual(
      expect.arrayContaining(['/sys/devices/virtual/powercap', '/sys/dev/block', '/proc/kcore', '/proc/keys', '/sys/firmware']),
    );
    expect(spec.linux.readonlyPaths).toEqual(
      expect.arrayContaining(['/proc/sys', '/proc/sysrq-trigger', '/proc/bus', '/proc/fs', '/proc/irq']),
    );
  });

  it('limits pids (2048 by default, configurable, 0 for none)', () => {
    expect((spec.linux.resources as Obj).pids).toEqual({ limit: 2048 });
    expect((specOf(launchOf(), { ...facts, pidsLimit: 100 }).linux.resources as Obj).pids).toEqual({ limit: 100 });
    expect((specOf(launchOf(), { ...facts, pidsLimit: 0 }).linux.resources as Obj).pids).toBeUndefined();
  });

  it('mounts volumes nosuid,nodev and keeps /sys read-only', () => {
    const vol = spec.mounts.find((m) => m.destination === '/data')!;
    expect(vol.options).toEqual(expect.arrayContaining(['nosuid', 'nodev', 'rw']));
    expect(spec.mounts.find((m) => m.destination === '/sys')!.options).toContain('ro');
    expect((spec.linux.resources as { devices: unknown }).devices).toEqual([{ allow: false, access: 'rwm' }]);
  });

  it('maps mountPropagation as the kubelet does (rprivate, rslave, rshared)', () => {
    const l = launchOf();
    l.mounts = [
      { destination: '/a', source: '/v/a', readOnly: false },
      { destination: '/b', source: '/v/b', readOnly: true, propagation: 'HostToContainer' },
      { destination: '/c', source: '/v/c', readOnly: false, propagation: 'Bidirectional' },
    ];
    const opts = (d: string) => specOf(l).mounts.find((m) => m.destination === d)!.options;
    expect(opts('/a')).toContain('rprivate');
    expect(opts('/b')).toEqual(expect.arrayContaining(['rslave', 'ro']));
    expect(opts('/c')).toContain('rshared');
  });

  it('gives a cgroup namespace on cgroup v2 hosts only', () => {
    const types = (f: BundleFacts) => (specOf(launchOf(), f).linux.namespaces as Array<{ type: string }>).map((n) => n.type);
    expect(types(facts)).not.toContain('cgroup');
    expect(types({ ...facts, cgroupMode: 'v2' })).toContain('cgroup');
  });

  it('hostPID and hostIPC leave out those namespaces', () => {
    const types = (podSpec: Obj) => (specOf(launchOf({}, podSpec)).linux.namespaces as Array<{ type: string }>).map((n) => n.type);
    expect(types({})).toEqual(['pid', 'ipc', 'uts', 'mount']);
    expect(types({ hostPID: true, hostIPC: true })).toEqual(['uts', 'mount']);
  });

  it('applies the pod sysctls, / separators normalised', () => {
    const s = specOf(
      launchOf(
        {},
        {
          securityContext: {
            sysctls: [
              { name: 'net/ipv4/ping_group_range', value: '0 1000' },
              { name: 'kernel.shm_rmid_forced', value: '1' },
            ],
          },
        },
      ),
    );
    expect(s.linux.sysctl).toEqual({ 'net.ipv4.ping_group_range': '0 1000', 'kernel.shm_rmid_forced': '1' });
    expect(spec.linux.sysctl).toBeUndefined();
  });
});

describe('runAsNonRoot', () => {
  it('refuses an app that would run as root, with the kubelet message', () => {
    let err: unknown;
    try {
      buildOciSpec(launchOf({ securityContext: { runAsNonRoot: true } }), facts);
    } catch (e) {
      err = e;
    }
    expect(hasCode(err, 'InvalidArgument')).toBe(true);
    expect(String(err)).toContain('container has runAsNonRoot and image will run as root (pod: "prod/web", container: app)');
    expect((err as { details?: Obj }).details?.reason).toBe('CreateContainerConfigError');
    // the pod-level setting applies too; runAsUser 0 is root as well
    expect(() => buildOciSpec(launchOf({ securityContext: { runAsUser: 0 } }, { securityContext: { runAsNonRoot: true } }), facts)).toThrow(
      /runAsNonRoot/,
    );
  });

  it('lets a non-root user run, from the spec or from the image', () => {
    expect(specOf(launchOf({ securityContext: { runAsNonRoot: true, runAsUser: 1000 } })).process.user).toMatchObject({ uid: 1000 });
    expect(
      specOf(launchOf({ securityContext: { runAsNonRoot: true } }, {}, { Cmd: ['/x'], User: '65534:65534' })).process.user,
    ).toMatchObject({ uid: 65534 });
  });
});

describe('oomScoreAdj by QoS class (kubelet)', () => {
  const guaranteed = { resources: { limits: { cpu: '1', memory: '1Gi' } } };
  const burstable = { resources: { requests: { memory: '2Gi' } } };

  it('classifies pods', () => {
    expect(qosClass(launchOf().pod)).toBe('BestEffort');
    expect(qosClass(launchOf(guaranteed).pod)).toBe('Guaranteed');
    expect(qosClass(launchOf(burstable).pod)).toBe('Burstable');
    expect(qosClass(launchOf({ resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m' } } }).pod)).toBe('Burstable');
  });

  it('computes the score', () => {
    expect(oomScoreAdj(launchOf().pod, launchOf().container, 8 * GiB)).toBe(1000);
    expect(oomScoreAdj(launchOf(guaranteed).pod, launchOf(guaranteed).container, 8 * GiB)).toBe(-997);
    const b = launchOf(burstable);
    expect(oomScoreAdj(b.pod, b.container, 8 * GiB)).toBe(750);
    const huge = launchOf({ resources: { requests: { memory: '8Gi' } } });
    expect(oomScoreAdj(huge.pod, huge.container, 8 * GiB)).toBe(2);
  });

  it('is set on the process, never below what the host lets the runtime set', () => {
    expect(specOf(launchOf()).process.oomScoreAdj).toBe(1000);
    expect(specOf(launchOf(guaranteed)).process.oomScoreAdj).toBe(-997);
    expect(specOf(launchOf(guaranteed), { ...facts, oomScoreAdjFloor: 0 }).process.oomScoreAdj).toBe(0);
  });
});

describe('privileged', () => {
  const dev = { path: '/dev/sda', type: 'b' as const, major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 };
  const spec = specOf(launchOf({ securityContext: { privileged: true } }), { ...facts, hostDevices: [dev] });

  it('gets every capability, host devices, writable /sys, no seccomp, no masks', () => {
    expect((spec.process.capabilities as { bounding: string[] }).bounding).toContain('CAP_SYS_ADMIN');
    expect(spec.linux.devices).toEqual([dev]);
    expect((spec.linux.resources as { devices: unknown }).devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(spec.mounts.find((m) => m.destination === '/sys')!.options).toContain('rw');
    expect(spec.linux.seccomp).toBeUndefined();
    expect(spec.linux.maskedPaths).toBeUndefined();
    expect(spec.linux.readonlyPaths).toBeUndefined();
    expect(spec.mounts.find((m) => m.destination === '/data')!.options).not.toContain('nosuid');
  });

  it('is the only way to get them', () => {
    const caps = specOf(launchOf({ securityContext: { capabilities: { add: ['NET_ADMIN'] } } }));
    expect(caps.linux.devices).toBeUndefined();
    expect(caps.linux.seccomp).toBeDefined();
    expect(caps.mounts.find((m) => m.destination === '/sys')!.options).toContain('ro');
  });
});

describe('LSM settings', () => {
  it('are warned about, naming the field, on a host without the module', () => {
    const l = launchOf({ securityContext: { appArmorProfile: { type: 'RuntimeDefault' }, seLinuxOptions: { level: 's0:c1' } } });
    expect(bundleWarnings(l, { ...facts, lsm: { apparmor: false, selinux: false } })).toEqual([
      'securityContext.appArmorProfile RuntimeDefault not applied: this host does not run AppArmor',
      'securityContext.seLinuxOptions not applied: this host does not run SELinux',
    ]);
    expect(specOf(l).process.apparmorProfile).toBeUndefined();
  });

  it('are applied where the host has the module', () => {
    const l = launchOf({
      securityContext: {
        appArmorProfile: { type: 'Localhost', localhostProfile: 'my-prof' },
        seLinuxOptions: { user: 'system_u', role: 'system_r', type: 'container_t', level: 's0:c1,c2' },
      },
    });
    const s = specOf(l, { ...facts, lsm: { apparmor: true, selinux: true } });
    expect(s.process.apparmorProfile).toBe('my-prof');
    expect(s.process.selinuxLabel).toBe('system_u:system_r:container_t:s0:c1,c2');
    expect(bundleWarnings(l, { ...facts, lsm: { apparmor: true, selinux: true } })).toEqual([]);
  });
});
