import { availableParallelism, hostname, totalmem } from 'node:os';
import { describe, expect, it } from 'vitest';
import { containerEnv } from '../../../src/runtime/oci-spec.js';
import type { AppLaunch } from '../../../src/runtime/index.js';
import { Pod } from '../../../src/api/pod.js';

/** env valueFrom as the kubelet fills it (fieldRef paths, resourceFieldRef with divisor and node allocatable). */
function launchWith(env: unknown[], more: { containers?: unknown[]; resources?: unknown } = {}): AppLaunch {
  const pod = Pod.parse({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'prod', labels: { 'app.kubernetes.io/name': 'web' }, annotations: { 'example.com/owner': 'ops' } },
    spec: {
      containers: [
        { name: 'app', image: 'busybox', env, ...(more.resources ? { resources: more.resources } : {}) },
        ...(more.containers ?? []),
      ],
    },
  });
  return {
    containerId: 'berth-u-1-app',
    podUid: 'u-1',
    namespace: 'prod',
    podName: 'web',
    appName: 'app',
    execution: 0,
    bundleDir: '/',
    rootfsLower: '/nonexistent',
    image: {},
    container: pod.spec.containers[0]!,
    pod,
    hostname: 'web',
    logPath: '/l',
    podIPs: ['10.88.0.7', 'fd00::7'],
    hostIPs: ['192.0.2.10', '2001:db8::10'],
  };
}
const ref = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
const res = (name: string, resource: string, extra: Record<string, unknown> = {}) => ({
  name,
  valueFrom: { resourceFieldRef: { resource, ...extra } },
});
const envOf = (l: AppLaunch) => Object.fromEntries(containerEnv(l.container, l));

describe('env fieldRef', () => {
  it('fills every path the kubelet supports', () => {
    const l = launchWith([
      ref('NAME', 'metadata.name'),
      ref('NS', 'metadata.namespace'),
      ref('UID', 'metadata.uid'),
      ref('APP', "metadata.labels['app.kubernetes.io/name']"),
      ref('OWNER', "metadata.annotations['example.com/owner']"),
      ref('MISSING', "metadata.labels['nope']"),
      ref('NODE', 'spec.nodeName'),
      ref('SA', 'spec.serviceAccountName'),
      ref('HOST_IP', 'status.hostIP'),
      ref('HOST_IPS', 'status.hostIPs'),
      ref('POD_IP', 'status.podIP'),
      ref('POD_IPS', 'status.podIPs'),
    ]);
    expect(envOf(l)).toEqual({
      NAME: 'web',
      NS: 'prod',
      UID: 'u-1',
      APP: 'web',
      OWNER: 'ops',
      MISSING: '',
      NODE: hostname().toLowerCase(),
      SA: '',
      HOST_IP: '192.0.2.10',
      HOST_IPS: '192.0.2.10,2001:db8::10',
      POD_IP: '10.88.0.7',
      POD_IPS: '10.88.0.7,fd00::7',
    });
  });
});

describe('env resourceFieldRef', () => {
  it('divides by the divisor and rounds up, cpu in cores or millicores', () => {
    const l = launchWith(
      [
        res('CPU_L', 'limits.cpu'),
        res('CPU_L_M', 'limits.cpu', { divisor: '1m' }),
        res('CPU_R', 'requests.cpu'),
        res('MEM_L', 'limits.memory'),
        res('MEM_R_MI', 'requests.memory', { divisor: '1Mi' }),
      ],
      { resources: { requests: { cpu: '125m', memory: '32Mi' }, limits: { cpu: '250m', memory: '64Mi' } } },
    );
    expect(envOf(l)).toEqual({ CPU_L: '1', CPU_L_M: '250', CPU_R: '1', MEM_L: String(64 * 2 ** 20), MEM_R_MI: '32' });
  });

  it("reads another container's resources with containerName", () => {
    const l = launchWith([res('OTHER', 'limits.memory', { containerName: 'side', divisor: '1Mi' })], {
      containers: [{ name: 'side', image: 'busybox', resources: { limits: { memory: '16Mi' } } }],
    });
    expect(envOf(l)).toEqual({ OTHER: '16' });
  });

  it("gives the node's allocatable for a limit that is not set, the limit for a request not set, else 0", () => {
    const l = launchWith(
      [res('CPU_L', 'limits.cpu'), res('MEM_L', 'limits.memory'), res('CPU_R', 'requests.cpu'), res('MEM_R', 'requests.memory')],
      { resources: { limits: { memory: '1Gi' } } },
    );
    expect(envOf(l)).toEqual({ CPU_L: String(availableParallelism()), MEM_L: String(2 ** 30), CPU_R: '0', MEM_R: String(2 ** 30) });
    expect(Number(envOf(launchWith([res('M', 'limits.memory')])).M)).toBe(totalmem());
  });
});
