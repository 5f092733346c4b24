/** hostUsers: false in config.json: the pod's user namespace joined, its mapping, every bind mount idmapped. */
import { describe, expect, it } from 'vitest';
import { Pod } from '../../../src/api/pod.js';
import { buildOciSpec, type AppLaunch, type BundleFacts } from '../../../src/runtime/index.js';

function launch(userns?: AppLaunch['userns']): AppLaunch {
  const pod = Pod.parse({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'prod' },
    spec: { hostUsers: userns ? false : true, containers: [{ name: 'app', image: 'busybox' }] },
  });
  return {
    containerId: 'berth-u-1-app',
    podUid: 'u-1',
    namespace: 'prod',
    podName: 'web',
    appName: 'app',
    execution: 0,
    bundleDir: '/b',
    rootfsLower: '/nonexistent-rootfs',
    image: { Entrypoint: ['/ep'], User: '0' },
    container: pod.spec.containers[0]!,
    pod,
    netnsPath: '/run/netns/berth-x',
    ...(userns ? { userns } : {}),
    hostname: 'web',
    logPath: '/l/0.log',
    etcFiles: { '/etc/hosts': '/p/etc/hosts' },
    mounts: [{ destination: '/data', source: '/p/volumes/data', readOnly: false }],
  };
}

const facts: BundleFacts = { cgroupMode: 'v1', userDb: { passwd: [], group: [] } };
type Spec = {
  linux: { namespaces: Array<{ type: string; path?: string }>; uidMappings?: unknown; gidMappings?: unknown };
  mounts: Array<{ destination: string; type: string; uidMappings?: unknown; gidMappings?: unknown }>;
  process: { user: { uid: number } };
};

describe('config.json of an app with hostUsers: false', () => {
  const userns = { hostId: 131072, size: 65536, path: '/p/userns.ns' };
  const spec = buildOciSpec(launch(userns), facts) as unknown as Spec;
  const mapping = [{ containerID: 0, hostID: 131072, size: 65536 }];

  it("joins the pod's pinned user namespace with its mapping, for UIDs and GIDs alike", () => {
    expect(spec.linux.namespaces).toContainEqual({ type: 'user', path: '/p/userns.ns' });
    expect(spec.linux.uidMappings).toEqual(mapping);
    expect(spec.linux.gidMappings).toEqual(mapping);
  });

  it('keeps the process user as the container sees it (runAsUser and the image user are container IDs)', () => {
    expect(spec.process.user.uid).toBe(0);
  });

  it('idmaps every bind mount (volumes and /etc files) with the same mapping, and no kernel filesystem', () => {
    const binds = spec.mounts.filter((m) => m.type === 'bind');
    expect(binds.map((m) => m.destination).sort()).toEqual(['/data', '/etc/hosts']);
    for (const m of binds) expect([m.uidMappings, m.gidMappings]).toEqual([mapping, mapping]);
    for (const m of spec.mounts.filter((x) => x.type !== 'bind')) expect(m.uidMappings).toBeUndefined();
  });

  it('masks nothing in /proc for procMount: Unmasked, and keeps the masks otherwise', () => {
    const l = launch(userns);
    expect((spec.linux as Record<string, unknown>).maskedPaths).toContain('/proc/kcore');
    const unmasked = buildOciSpec(
      { ...l, container: { ...l.container, securityContext: { procMount: 'Unmasked' } } },
      facts,
    ) as unknown as Spec;
    expect((unmasked.linux as Record<string, unknown>).maskedPaths).toBeUndefined();
    expect((unmasked.linux as Record<string, unknown>).readonlyPaths).toBeUndefined();
  });

  it("says nothing of user namespaces for a pod in the host's", () => {
    const host = buildOciSpec(launch(), facts) as unknown as Spec;
    expect(host.linux.namespaces.map((n) => n.type)).not.toContain('user');
    expect(host.linux.uidMappings).toBeUndefined();
    expect(host.mounts.some((m) => m.uidMappings !== undefined)).toBe(false);
  });
});
