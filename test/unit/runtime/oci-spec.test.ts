import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isInvalid } from '../../../src/common/index.js';
import { Pod } from '../../../src/api/pod.js';
import {
  buildOciSpec,
  capabilitySet,
  DEFAULT_CAPABILITIES,
  expandVars,
  processArgs,
  type AppLaunch,
  type BundleFacts,
  type ImageProcessConfig,
} from '../../../src/runtime/index.js';

type ContainerIn = Record<string, unknown>;

function launchOf(
  container: ContainerIn = {},
  opts: { image?: ImageProcessConfig; podSpec?: Record<string, unknown>; lower?: string; netnsPath?: string } = {},
): AppLaunch {
  const pod = Pod.parse({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'prod', uid: 'u-1', labels: { tier: 'front' } },
    spec: { containers: [{ name: 'app', image: 'busybox', ...container }], ...(opts.podSpec ?? {}) },
  });
  return {
    containerId: 'berth-u-1-app',
    podUid: 'u-1',
    namespace: 'prod',
    podName: 'web',
    appName: 'app',
    execution: 2,
    bundleDir: '/b',
    rootfsLower: opts.lower ?? '/nonexistent-rootfs',
    image: opts.image ?? { Entrypoint: ['/ep'], Cmd: ['c1', 'c2'] },
    container: pod.spec.containers[0]!,
    pod,
    ...(opts.netnsPath ? { netnsPath: opts.netnsPath } : {}),
    hostname: 'web',
    logPath: '/l/2.log',
  };
}

const facts: BundleFacts = { cgroupMode: 'v1', rlimits: { RLIMIT_NOFILE: { soft: 1024, hard: 20000 } } };
const proc = (l: AppLaunch, f: BundleFacts = facts) =>
  buildOciSpec(l, f).process as Record<string, unknown> & { args: string[]; env: string[] };

describe('process.args (IMG-21)', () => {
  it.each([
    ['neither', { Entrypoint: ['/ep'], Cmd: ['c1'] }, {}, ['/ep', 'c1']],
    ['command only', { Entrypoint: ['/ep'], Cmd: ['c1'] }, { command: ['/k'] }, ['/k']],
    ['args only', { Entrypoint: ['/ep'], Cmd: ['c1'] }, { args: ['a1'] }, ['/ep', 'a1']],
    ['both', { Entrypoint: ['/ep'], Cmd: ['c1'] }, { command: ['/k'], args: ['a1'] }, ['/k', 'a1']],
    ['no entrypoint: Cmd[0] runs', { Cmd: ['/bin/sh', '-c', 'x'] }, {}, ['/bin/sh', '-c', 'x']],
    ['entrypoint [""] is unset', { Entrypoint: [''], Cmd: ['/c'] }, {}, ['/c']],
    ['entrypoint null', { Entrypoint: null, Cmd: ['/c'] }, {}, ['/c']],
    ['args only without entrypoint', { Cmd: ['/c'] }, { args: ['/a', 'x'] }, ['/a', 'x']],
    ['empty args list replaces Cmd', { Entrypoint: ['/ep'], Cmd: ['c1'] }, { args: [] }, ['/ep']],
  ] as const)('%s', (_name, image, container, expected) => {
    expect(processArgs(image as unknown as ImageProcessConfig, launchOf(container as ContainerIn).container)).toEqual(expected);
  });

  it.each([
    ['nothing at all', {}, {}],
    ['entrypoint [""] and no Cmd', { Entrypoint: [''] }, {}],
    ['empty command', { Cmd: ['/c'] }, { command: [] }],
  ])('"no command specified" for %s', (_n, image, container) => {
    expect(() => processArgs(image as ImageProcessConfig, launchOf(container).container)).toThrow(/no command specified/);
    try {
      processArgs(image as ImageProcessConfig, launchOf(container).container);
    } catch (err) {
      expect(isInvalid(err)).toBe(true);
    }
  });

  it('expands $(VAR) from the container env in command and args, not in image Cmd', () => {
    const l = launchOf(
      {
        command: ['echo', '$(GREETING)', '$$(GREETING)', '$(MISSING)'],
        args: ['$(WHO)!'],
        env: [
          { name: 'GREETING', value: 'hi' },
          { name: 'WHO', value: 'you' },
        ],
      },
      { image: { Cmd: ['$(GREETING)'] } },
    );
    expect(proc(l).args).toEqual(['echo', 'hi', '$(GREETING)', '$(MISSING)', 'you!']);
    const l2 = launchOf({ env: [{ name: 'GREETING', value: 'hi' }] }, { image: { Cmd: ['/c', '$(GREETING)'] } });
    expect(proc(l2).args).toEqual(['/c', '$(GREETING)']);
  });
});

describe('expandVars', () => {
  const vars: Record<string, string> = { A: 'x', B: 'y' };
  const look = (n: string) => vars[n];
  it.each([
    ['$(A)', 'x'],
    ['$(A)$(B)', 'xy'],
    ['$$(A)', '$(A)'],
    ['$$', '$'],
    ['$$$(A)', '$x'],
    ['$(C)', '$(C)'],
    ['$(A', '$(A'],
    ['a$', 'a$'],
    ['$A', '$A'],
    ['pre-$(A)-post', 'pre-x-post'],
    ['', ''],
  ])('%j → %j', (input, out) => expect(expandVars(input, look)).toBe(out));
});

describe('process.env', () => {
  it('image Env first, container env wins, HOSTNAME set, $(VAR) refers to earlier container vars only', () => {
    const l = launchOf(
      {
        env: [
          { name: 'B', value: 'container' },
          { name: 'C', value: '$(B)-$(A)-$(D)' },
          { name: 'D', value: 'late' },
          { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'TIER', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
        ],
      },
      { image: { Cmd: ['/c'], Env: ['A=image', 'B=image', 'PATH=/bin'] } },
    );
    expect(proc(l).env).toEqual([
      'HOSTNAME=web',
      'A=image',
      'B=container',
      'PATH=/bin',
      'C=container-$(A)-$(D)',
      'D=late',
      'POD=web',
      'NS=prod',
      'TIER=front',
    ]);
  });

  it('defaults PATH when neither image nor container sets it', () => {
    const env = proc(launchOf({}, { image: { Cmd: ['/c'] } })).env;
    expect(env).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  });

  it('the container may override HOSTNAME and PATH', () => {
    const env = proc(
      launchOf({
        env: [
          { name: 'HOSTNAME', value: 'h' },
          { name: 'PATH', value: '/x' },
        ],
      }),
    ).env;
    expect(env.filter((e) => e.startsWith('HOSTNAME=') || e.startsWith('PATH='))).toEqual(['HOSTNAME=h', 'PATH=/x']);
  });
});

describe('cwd', () => {
  it.each([
    ['container workingDir wins', { workingDir: '/w' }, { Cmd: ['/c'], WorkingDir: '/img' }, '/w'],
    ['image WorkingDir', {}, { Cmd: ['/c'], WorkingDir: '/img' }, '/img'],
    ['default /', {}, { Cmd: ['/c'] }, '/'],
  ])('%s', (_n, c, image, cwd) => {
    expect(proc(launchOf(c, { image: image as ImageProcessConfig })).cwd).toBe(cwd);
  });
});

describe('user (IMG-19)', () => {
  let root = '';
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-unit-rootfs-'));
    await mkdir(join(root, 'etc'), { recursive: true });
    await mkdir(join(root, 'data'), { recursive: true });
    await writeFile(
      join(root, 'data/passwd'),
      'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n',
    );
    // an absolute symlink must resolve inside the rootfs, not to the host's /data/passwd
    await symlink('/data/passwd', join(root, 'etc/passwd'));
    await writeFile(join(root, 'etc/group'), 'root:x:0:\napp:x:1001:\nstaff:x:50:app,other\nwheel:x:10:app\nnogroup:x:65534:\n');
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const user = (imageUser: string | undefined, c: ContainerIn = {}, podSpec?: Record<string, unknown>) =>
    proc(
      launchOf(c, {
        lower: root,
        image: { Cmd: ['/c'], ...(imageUser !== undefined ? { User: imageUser } : {}) },
        ...(podSpec ? { podSpec } : {}),
      }),
    ).user;

  it.each([
    ['unset → root', undefined, { uid: 0, gid: 0 }],
    ['empty → root', '', { uid: 0, gid: 0 }],
    ['name', 'app', { uid: 1000, gid: 1001, additionalGids: [50, 10] }],
    ['uid of a known user', '1000', { uid: 1000, gid: 1001, additionalGids: [50, 10] }],
    ['unknown uid verbatim', '4242', { uid: 4242, gid: 0 }],
    ['name:group', 'app:staff', { uid: 1000, gid: 50 }],
    ['uid:gid', '4242:4343', { uid: 4242, gid: 4343 }],
    ['uid:group', '1000:wheel', { uid: 1000, gid: 10 }],
    ['name:gid', 'app:7', { uid: 1000, gid: 7 }],
  ])('%s', (_n, spec, expected) => {
    expect(user(spec)).toEqual(expected);
  });

  it.each([['ghost'], ['app:ghosts'], ['a:b:c']])('unknown or malformed %s is InvalidArgument', (spec) => {
    expect(() => user(spec)).toThrow();
    try {
      user(spec);
    } catch (err) {
      expect(isInvalid(err)).toBe(true);
    }
  });

  it('securityContext runAsUser/runAsGroup override the image user; supplementalGroups and fsGroup are added', () => {
    expect(user('app', { securityContext: { runAsUser: 2000, runAsGroup: 3000 } })).toEqual({ uid: 2000, gid: 3000 });
    expect(user('nobody', { securityContext: { runAsUser: 1000 } })).toEqual({ uid: 1000, gid: 1001 });
    expect(user(undefined, {}, { securityContext: { runAsUser: 5, runAsGroup: 6, supplementalGroups: [7, 8], fsGroup: 9 } })).toEqual({
      uid: 5,
      gid: 6,
      additionalGids: [7, 8, 9],
    });
    // container securityContext beats the pod's
    expect(user(undefined, { securityContext: { runAsUser: 11 } }, { securityContext: { runAsUser: 5, runAsGroup: 6 } })).toEqual({
      uid: 11,
      gid: 6,
    });
  });

  it("supplementalGroupsPolicy: Merge (default) keeps the image's /etc/group memberships, Strict only the pod's groups", () => {
    const sc = { supplementalGroups: [7], fsGroup: 9 };
    expect(user('app', {}, { securityContext: sc })).toEqual({ uid: 1000, gid: 1001, additionalGids: [50, 10, 7, 9] });
    expect(user('app', {}, { securityContext: { ...sc, supplementalGroupsPolicy: 'Merge' } })).toEqual({
      uid: 1000,
      gid: 1001,
      additionalGids: [50, 10, 7, 9],
    });
    expect(user('app', {}, { securityContext: { ...sc, supplementalGroupsPolicy: 'Strict' } })).toEqual({
      uid: 1000,
      gid: 1001,
      additionalGids: [7, 9],
    });
  });

  it('image volumes are mounted noexec, other volumes are not', () => {
    const launch: AppLaunch = {
      ...launchOf({}),
      mounts: [
        { destination: '/img', source: '/pin/0', readOnly: true, noexec: true },
        { destination: '/data', source: '/pin/1', readOnly: false },
      ],
    };
    const mounts = (buildOciSpec(launch, facts).mounts as Array<{ destination: string; options: string[] }>).filter(
      (m) => m.destination === '/img' || m.destination === '/data',
    );
    expect(mounts.map((m) => [m.destination, m.options.join(',')])).toEqual([
      ['/img', 'rbind,rprivate,ro,nosuid,nodev,noexec'],
      ['/data', 'rbind,rprivate,rw,nosuid,nodev'],
    ]);
  });
});

describe('namespaces, mounts, hostname, annotations', () => {
  it('joins the pod netns by path', () => {
    const spec = buildOciSpec(launchOf({}, { netnsPath: '/run/netns/berth-x' }), facts);
    const ns = (spec.linux as { namespaces: Array<{ type: string; path?: string }> }).namespaces;
    expect(ns).toEqual([
      { type: 'pid' },
      { type: 'ipc' },
      { type: 'uts' },
      { type: 'mount' },
      { type: 'network', path: '/run/netns/berth-x' },
    ]);
  });

  it("host network: no network or UTS namespace (the hostname is the node's)", () => {
    const spec = buildOciSpec(launchOf({}, { podSpec: { hostNetwork: true } }), facts);
    const ns = (spec.linux as { namespaces: Array<{ type: string }> }).namespaces.map((n) => n.type);
    expect(ns).not.toContain('network');
    expect(ns).toEqual(['pid', 'ipc', 'mount']);
    expect(spec.hostname).toBeUndefined();
  });

  it('default mounts, then etc files read-only, then volumes', () => {
    const l = {
      ...launchOf(),
      etcFiles: { '/etc/hosts': '/p/hosts' },
      mounts: [
        { destination: '/data', source: '/v/data', readOnly: false },
        { destination: '/cfg', source: '/v/cfg', readOnly: true },
      ],
    };
    const mounts = buildOciSpec(l, facts).mounts as Array<{ destination: string; type: string; source: string; options: string[] }>;
    expect(mounts.map((m) => m.destination)).toEqual([
      '/proc',
      '/dev',
      '/dev/pts',
      '/dev/shm',
      '/dev/mqueue',
      '/sys',
      '/sys/fs/cgroup',
      '/etc/hosts',
      '/data',
      '/cfg',
    ]);
    expect(mounts.find((m) => m.destination === '/sys')!.options).toContain('ro');
    expect(mounts[7]).toMatchObject({ type: 'bind', source: '/p/hosts' });
    expect(mounts[7]!.options).toContain('ro');
    expect(mounts[8]!.options).toContain('rw');
    expect(mounts[9]!.options).toContain('ro');
  });

  it('identity: hostname, cgroupsPath under the berth parent, annotations, ociVersion', () => {
    const spec = buildOciSpec(launchOf({}, { image: { Cmd: ['/c'], StopSignal: 'SIGQUIT' } }), facts);
    expect(spec.ociVersion).toBe('1.0.2');
    expect(spec.hostname).toBe('web');
    expect(spec.root).toEqual({ path: 'rootfs', readonly: false });
    expect((spec.linux as { cgroupsPath: string }).cgroupsPath).toBe('/berth/berth-u-1-app');
    expect(buildOciSpec(launchOf(), { ...facts, cgroupParent: 'berth-trt' }).linux).toMatchObject({
      cgroupsPath: '/berth-trt/berth-u-1-app',
    });
    expect(spec.annotations).toMatchObject({
      'io.kubernetes.pod.name': 'web',
      'io.kubernetes.pod.namespace': 'prod',
      'io.kubernetes.pod.uid': 'u-1',
      'io.kubernetes.container.name': 'app',
      'berth.dev/pod-uid': 'u-1',
      'berth.dev/app': 'app',
      'berth.dev/execution': '2',
      'org.opencontainers.image.stopSignal': 'SIGQUIT',
    });
    expect((spec.linux as { maskedPaths: string[] }).maskedPaths).toContain('/proc/kcore');
    expect((spec.linux as { readonlyPaths: string[] }).readonlyPaths).toContain('/proc/sys');
  });
});

describe('security', () => {
  it.each([
    ['default set', {}, DEFAULT_CAPABILITIES],
    [
      'add and drop',
      { capabilities: { add: ['NET_ADMIN', 'CAP_SYS_TIME'], drop: ['KILL', 'cap_net_raw'] } },
      [...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_KILL' && c !== 'CAP_NET_RAW'), 'CAP_NET_ADMIN', 'CAP_SYS_TIME'],
    ],
    ['drop ALL, add one', { capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } }, ['CAP_NET_BIND_SERVICE']],
  ])('capabilities: %s', (_n, sc, expected) => {
    const l = launchOf({ securityContext: sc });
    expect(capabilitySet(l.container)).toEqual(expected);
    const caps = proc(l).capabilities as Record<string, string[]>;
    expect(caps.bounding).toEqual(expected);
    expect(caps.effective).toEqual(expected);
    expect(caps.permitted).toEqual(expected);
  });

  it('privileged gets everything the host bounding set allows, and no masked paths', () => {
    const l = launchOf({ securityContext: { privileged: true } });
    const bounding = ['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_NET_ADMIN'];
    const spec = buildOciSpec(l, { ...facts, boundingCapabilities: bounding });
    expect((spec.process.capabilities as Record<string, string[]>).bounding).toEqual(['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN']);
    expect((spec.linux as Record<string, unknown>).maskedPaths).toBeUndefined();
    expect(capabilitySet(l.container).length).toBeGreaterThan(38);
  });

  it('capabilities outside the host bounding set are dropped', () => {
    const l = launchOf({ securityContext: { capabilities: { add: ['SYS_RESOURCE'] } } });
    const withBound = capabilitySet(l.container, DEFAULT_CAPABILITIES);
    expect(withBound).not.toContain('CAP_SYS_RESOURCE');
  });

  it('allowPrivilegeEscalation false → noNewPrivileges; readOnlyRootFilesystem → readonly root', () => {
    const spec = buildOciSpec(launchOf({ securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true } }), facts);
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    // stricter than the kubelet's default (off) and like containerd's base spec: on unless allowed
    expect(proc(launchOf()).noNewPrivileges).toBe(true);
    expect(proc(launchOf({ securityContext: { allowPrivilegeEscalation: true } })).noNewPrivileges).toBe(false);
    expect(proc(launchOf({ securityContext: { capabilities: { add: ['SYS_ADMIN'] } } })).noNewPrivileges).toBe(false);
    expect(proc(launchOf({ securityContext: { privileged: true } })).noNewPrivileges).toBe(false);
  });
});

describe('rlimits and resources', () => {
  it.each([
    ['capped at the host hard limit', 20000, 20000],
    ['1048576 when the host allows more', 4_000_000, 1_048_576],
    ['1048576 when the host is unlimited', Infinity, 1_048_576],
  ])('RLIMIT_NOFILE %s', (_n, hard, expected) => {
    const p = proc(launchOf(), { cgroupMode: 'v2', rlimits: { RLIMIT_NOFILE: { soft: 1024, hard } } });
    expect(p.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: expected, soft: expected }]);
  });

  it('cpu and memory limits, shares from requests', () => {
    const spec = buildOciSpec(launchOf({ resources: { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '250m' } } }), facts);
    expect((spec.linux as { resources: Record<string, unknown> }).resources).toMatchObject({
      cpu: { period: 100000, quota: 50000, shares: 256 },
      memory: { limit: 64 * 1024 * 1024 },
    });
    const none = buildOciSpec(launchOf(), facts);
    expect((none.linux as { resources: Record<string, unknown> }).resources).toEqual({
      devices: [{ allow: false, access: 'rwm' }],
      pids: { limit: 2048 },
    });
  });
});
