import { describe, expect, it } from 'vitest';
import { buildOciSpec, type BundleFacts } from '../../../src/runtime/index.js';
import { qosClass } from '../../../src/runtime/qos.js';
import {
  cpuQuotaUs,
  cpuShares,
  cpuWeight,
  v1ControllerMounts,
  v1PodCgroupFiles,
  v2PodCgroupFiles,
} from '../../../src/runtime/pod-cgroup.js';
import { infraLaunch } from '../../../src/reconciler/pod-infra.js';
import type { PodRecord } from '../../../src/reconciler/records.js';
import { Pod } from '../../../src/api/pod.js';

const facts: BundleFacts = { cgroupMode: 'v1', rlimits: { RLIMIT_NOFILE: { soft: 1024, hard: 20000 } } };

function podOf(spec: Record<string, unknown>) {
  return Pod.parse({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'prod' },
    spec: { containers: [{ name: 'app', image: 'busybox', command: ['sleep', '1'] }], ...spec },
  });
}
const recOf = (pod: ReturnType<typeof podOf>) =>
  ({
    uid: '0123456789ab-cdef',
    namespace: 'prod',
    name: 'web',
    key: 'prod/web',
    pod,
    netns: '/run/netns/berth-0123456789ab',
  }) as unknown as PodRecord;

describe('pod cgroup values (the kubelet formulas)', () => {
  it('cpu shares, weight and quota', () => {
    expect(cpuShares(0.25)).toBe(256);
    expect(cpuShares(0.001)).toBe(2);
    expect(cpuWeight(2)).toBe(1);
    expect(cpuWeight(1024)).toBe(39);
    expect(cpuWeight(262144)).toBe(10000);
    expect(cpuQuotaUs(0.5)).toBe(50_000);
    expect(cpuQuotaUs(0.001)).toBe(1000);
  });

  it('v1 and v2 files of limits and requests', () => {
    const res = { limits: { cpu: 0.5, memory: 64 * 2 ** 20 }, requests: { cpu: 0.25, memory: 32 * 2 ** 20 } };
    expect(v1PodCgroupFiles(res)).toEqual({
      cpu: [
        ['cpu.shares', '256'],
        ['cpu.cfs_period_us', '100000'],
        ['cpu.cfs_quota_us', '50000'],
      ],
      memory: [['memory.limit_in_bytes', String(64 * 2 ** 20)]],
    });
    expect(v2PodCgroupFiles(res)).toEqual([
      ['cpu.weight', '10'],
      ['cpu.max', '50000 100000'],
      ['memory.max', String(64 * 2 ** 20)],
    ]);
    // only a memory limit: no cpu files
    expect(v1PodCgroupFiles({ limits: { memory: 1024 }, requests: { memory: 1024 } }).cpu).toEqual([]);
  });

  it('finds each v1 controller hierarchy from the super options', () => {
    const info = [
      '31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
      '34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
    ].join('\n');
    const m = v1ControllerMounts(info);
    expect(m.get('cpu')).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(m.get('memory')).toBe('/sys/fs/cgroup/memory');
    expect(m.has('unified')).toBe(false);
  });
});

describe('QoS class from pod-level resources (the kubelet ComputePodQOS)', () => {
  it('pod limits equal to the (defaulted) requests for cpu and memory: Guaranteed, whatever the containers say', () => {
    expect(qosClass(podOf({ resources: { limits: { cpu: '1', memory: '64Mi' } } }))).toBe('Guaranteed');
    expect(qosClass(podOf({ resources: { limits: { cpu: '1', memory: '64Mi' }, requests: { cpu: '500m' } } }))).toBe('Burstable');
    expect(qosClass(podOf({ resources: { limits: { memory: '64Mi' } } }))).toBe('Burstable');
  });
});

describe('the pod infra process and the apps of a shared PID namespace', () => {
  it('the infra runs /pause as nobody, no capabilities, read-only, seccomp, in the pod netns and cgroup', () => {
    const pod = podOf({
      shareProcessNamespace: true,
      resources: { limits: { memory: '64Mi' } },
      securityContext: { supplementalGroups: [5], sysctls: [{ name: 'net.ipv4.ping_group_range', value: '0 1' }] },
    });
    const spec = buildOciSpec(infraLaunch(recOf(pod), '/pods/u', '/infra/x'), facts);
    expect(spec.process.args).toEqual(['/pause']);
    expect(spec.process.user).toEqual({ uid: 65534, gid: 65534 });
    expect(spec.process).toMatchObject({ noNewPrivileges: true, capabilities: { bounding: [], effective: [], permitted: [] } });
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    const linux = spec.linux as {
      namespaces: Array<{ type: string; path?: string }>;
      cgroupsPath: string;
      seccomp?: unknown;
      sysctl?: unknown;
    };
    expect(linux.namespaces).toContainEqual({ type: 'pid' });
    expect(linux.namespaces).toContainEqual({ type: 'network', path: '/run/netns/berth-0123456789ab' });
    expect(linux.cgroupsPath).toBe('/berth/pod-0123456789ab/berth-0123456789ab-POD');
    expect(linux.seccomp).toBeDefined();
    expect(linux.sysctl).toBeUndefined(); // the apps' (they set them in the shared netns)
  });

  it('an app joins the PID namespace by path and its cgroup is below the pod cgroup', () => {
    const pod = podOf({ shareProcessNamespace: true });
    const launch = {
      ...infraLaunch(recOf(pod), '/pods/u', '/nonexistent'),
      containerId: 'berth-x-app',
      container: pod.spec.containers[0]!,
      appName: 'app',
      pod,
      pidNamespacePath: '/proc/42/ns/pid',
      podCgroup: 'pod-x',
    };
    const linux = buildOciSpec(launch, facts).linux as { namespaces: Array<{ type: string; path?: string }>; cgroupsPath: string };
    expect(linux.namespaces.filter((n) => n.type === 'pid')).toEqual([{ type: 'pid', path: '/proc/42/ns/pid' }]);
    expect(linux.cgroupsPath).toBe('/berth/pod-x/berth-x-app');
  });
});
