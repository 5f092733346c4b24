/**
 * Capability arguments a pod offers its attachments (CNI-07, CONVENTIONS.md) and the network
 * validation before the host is touched (ranges, gateways, bandwidth annotations, plugin path).
 */
import { describe, expect, it } from 'vitest';
import { buildPluginConfig, parseNetworkConfigList } from '../../../src/cni/index.js';
import { attachmentsOf } from '../../../src/reconciler/attachments.js';
import { networkPluginProblems } from '../../../src/reconciler/index.js';
import { bandwidthBurst, formatIssue, parseBandwidth, parseFile, resolveDesired, type Pod } from '../../../src/api/index.js';
import { createCni } from '../../../src/cni/index.js';
import { FakeCniExec } from './fake-cni-exec.js';

const podYaml = (annotations: Record<string, string>, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations:
${Object.entries(annotations)
  .map(([k, v]) => `    ${k}: '${v}'`)
  .join('\n')}
spec:
  containers:
    - name: app
      image: oci:/x
      ports:
        - {containerPort: 80, hostPort: 8080}
        - {containerPort: 53, hostPort: 5353, protocol: UDP, hostIP: 127.0.0.1}
${extra}`;

const NETS = `apiVersion: berth.dev/v1
kind: Network
metadata: {name: berth-tcn5-a}
spec:
  plugins:
    - {type: bridge, bridge: berth-tcn5a, ipam: {type: host-local, ranges: [[{subnet: 10.198.1.0/24}]]}}
    - {type: portmap, capabilities: {portMappings: true}}
    - {type: bandwidth, capabilities: {bandwidth: true}}
    - {type: tuning, capabilities: {mac: true, dns: true}}
---
apiVersion: berth.dev/v1
kind: Network
metadata: {name: berth-tcn5-b}
spec:
  plugins:
    - {type: macvlan, master: berth-tcn5d, ipam: {type: static}, capabilities: {ips: true, mac: true}}
`;

function recordOf(podText: string) {
  const desired = resolveDesired([parseFile(NETS, 'nets.yaml'), parseFile(podText, 'web.yaml')]);
  expect(desired.issues.filter((i) => i.severity === 'error').map(formatIssue)).toEqual([]);
  const pod = desired.pods[0]!;
  const networks = pod.networks.map((n) => ({ ...n, conflist: JSON.stringify(desired.networks.find((x) => x.name === n.name)!.conflist) }));
  return { pod: pod.pod as Pod, networks };
}

describe('capability arguments of a pod', () => {
  const annotations = {
    'k8s.v1.cni.cncf.io/networks':
      '[{"name":"berth-tcn5-a"},{"name":"berth-tcn5-b","interface":"net1","ips":["10.197.1.5/24"],"mac":"02:00:00:00:05:01"}]',
    'kubernetes.io/ingress-bandwidth': '10M',
    'kubernetes.io/egress-bandwidth': '1Mi',
  };
  const dns = `  dnsConfig:
    nameservers: [10.198.1.53]
    searches: [svc.example]
    options: [{name: ndots, value: '2'}, {name: edns0}]
`;

  it('portMappings and bandwidth on the first network, ips/mac on theirs, dns on each', () => {
    const att = attachmentsOf(recordOf(podYaml(annotations, dns)));
    expect(att.map((a) => [a.list.name, a.ifName])).toEqual([
      ['berth-loopback', 'lo'],
      ['berth-tcn5-a', 'eth0'],
      ['berth-tcn5-b', 'net1'],
    ]);
    const dnsCap = { servers: ['10.198.1.53'], searches: ['svc.example'], options: ['ndots:2', 'edns0'] };
    expect(att[0]!.caps).toEqual({});
    expect(att[1]!.caps).toEqual({
      portMappings: [
        { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
      ],
      bandwidth: { ingressRate: 10_000_000, ingressBurst: bandwidthBurst(10_000_000), egressRate: 1_048_576, egressBurst: 64 * 1024 * 8 },
      dns: dnsCap,
    });
    expect(att[2]!.caps).toEqual({ ips: ['10.197.1.5/24'], mac: '02:00:00:00:05:01', dns: dnsCap });

    // Each plugin gets only what it declares (runtimeConfig), as libcni filters it.
    const a = att[1]!;
    const rc = a.list.plugins.map((p) => buildPluginConfig(a.list, p, undefined, a.caps).runtimeConfig);
    expect(rc).toEqual([undefined, { portMappings: att[1]!.caps.portMappings }, { bandwidth: att[1]!.caps.bandwidth }, { dns: dnsCap }]);
    const b = att[2]!;
    expect(buildPluginConfig(b.list, b.list.plugins[0]!, undefined, b.caps).runtimeConfig).toEqual({
      ips: ['10.197.1.5/24'],
      mac: '02:00:00:00:05:01',
    });
  });

  it('bandwidth quantities: bits per second within 1k…1P', () => {
    expect(parseBandwidth('10M')).toEqual({ bps: 10_000_000 });
    expect(parseBandwidth('1Gi')).toEqual({ bps: 2 ** 30 });
    expect(parseBandwidth('1.5k')).toEqual({ bps: 1500 });
    expect(parseBandwidth('100')).toMatchObject({ error: expect.stringContaining('below the minimum') });
    expect(parseBandwidth('2E')).toMatchObject({ error: expect.stringContaining('above the maximum') });
    expect(parseBandwidth('fast')).toMatchObject({ error: expect.stringContaining('not a quantity') });
    expect(bandwidthBurst(80_000_000)).toBe(10_000_000);
  });

  it('an invalid bandwidth annotation is an error naming file and field', () => {
    const f = parseFile(podYaml({ 'kubernetes.io/egress-bandwidth': '10 megabit' }), 'web.yaml');
    expect(f.issues.map(formatIssue)).toEqual([
      expect.stringMatching(
        /^web\.yaml:\d+:\d+: error: metadata\.annotations\["kubernetes\.io\/egress-bandwidth"\]: "10 megabit" is not a quantity/,
      ),
    ]);
  });
});

describe('network validation before the host is touched', () => {
  const net = (ipam: string) => `apiVersion: berth.dev/v1
kind: Network
metadata: {name: berth-tcn5-v}
spec:
  plugins:
    - type: bridge
      bridge: berth-tcn5v
      ipam: ${ipam}
`;

  it.each([
    [
      '{type: host-local, ranges: [[{subnet: 10.198.2.0/24, gateway: 10.198.3.1}]]}',
      'spec.plugins[0].ipam.ranges[0][0].gateway: gateway 10.198.3.1 is outside subnet 10.198.2.0/24',
    ],
    [
      '{type: host-local, ranges: [[{subnet: 10.198.2.0/24, rangeStart: 10.198.2.10, rangeEnd: 10.198.4.1}]]}',
      'spec.plugins[0].ipam.ranges[0][0].rangeEnd: rangeEnd 10.198.4.1 is outside subnet 10.198.2.0/24',
    ],
    [
      '{type: host-local, subnet: 10.198.2.0/24, rangeStart: 10.198.1.1}',
      'spec.plugins[0].ipam.rangeStart: rangeStart 10.198.1.1 is outside subnet 10.198.2.0/24',
    ],
    [
      '{type: host-local, ranges: [[{subnet: 10.198.2.0/24, rangeStart: 10.198.2.50, rangeEnd: 10.198.2.10}]]}',
      'spec.plugins[0].ipam.ranges[0][0].rangeEnd: rangeEnd 10.198.2.10 comes before rangeStart 10.198.2.50',
    ],
    [
      '{type: host-local, ranges: [[{subnet: "fd00:198::/64", gateway: 10.198.2.1}]]}',
      'spec.plugins[0].ipam.ranges[0][0].gateway: gateway 10.198.2.1 is outside subnet fd00:198::/64',
    ],
    [
      '{type: host-local, ranges: [[{subnet: 10.198.2.0/24, gateway: nope}]]}',
      'spec.plugins[0].ipam.ranges[0][0].gateway: gateway "nope" is not an IP address',
    ],
  ])('%s', (ipam, message) => {
    const f = parseFile(net(ipam), 'net.yaml');
    expect(f.networks).toEqual([]);
    expect(f.issues.map(formatIssue)).toEqual([
      expect.stringMatching(new RegExp(`^net\\.yaml:\\d+:\\d+: error: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)),
    ]);
  });

  it('a range inside its subnet passes', () => {
    const f = parseFile(
      net('{type: host-local, ranges: [[{subnet: 10.198.2.0/24, gateway: 10.198.2.1, rangeStart: 10.198.2.10, rangeEnd: 10.198.2.20}]]}'),
      'net.yaml',
    );
    expect(f.issues).toEqual([]);
    expect(f.networks).toHaveLength(1);
  });

  it('unknown plugin types (not in the plugin path) are errors naming file and field; the network is left out', async () => {
    const exec = new FakeCniExec();
    exec.available = new Set(['bridge']);
    exec.on('bridge', 'VERSION', JSON.stringify({ cniVersion: '1.0.0', supportedVersions: ['0.4.0', '1.0.0'] }));
    const cni = createCni({ cacheDir: '/nonexistent', pluginPaths: ['/opt/cni/bin'], exec });
    const files = [parseFile(net('{type: host-lokal, subnet: 10.198.2.0/24}'), 'net.yaml')];
    const conflist = parseNetworkConfigList(
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'berth-tcn5-f',
        plugins: [{ type: 'bridge', bridge: 'berth-tcn5f' }, { type: 'portmapp' }],
      }),
    );
    const extra = [
      {
        kind: 'Network' as const,
        name: conflist.name,
        network: {
          apiVersion: 'berth.dev/v1' as const,
          kind: 'Network' as const,
          metadata: { name: conflist.name },
          spec: { default: false, cniVersion: '1.0.0', plugins: conflist.plugins },
        },
        source: { file: '/etc/cni/net.d/10-f.conflist', doc: 0, line: 1, column: 1 },
        conflist: JSON.parse(conflist.bytes) as Record<string, unknown>,
      },
    ];
    const problems = await networkPluginProblems(cni, [...files[0]!.networks, ...extra], new Set(extra));
    const desired = resolveDesired(files, { extraNetworks: extra, networkProblems: (n) => problems.get(n) ?? [] });
    expect(desired.networks.map((n) => n.name)).toEqual(['berth']);
    expect(desired.issues.map(formatIssue)).toEqual([
      expect.stringMatching(
        /^net\.yaml:\d+:\d+: error: spec\.plugins\[0\]\.ipam\.type: unknown IPAM plugin type "host-lokal": failed to find plugin "host-lokal" in path \[\/opt\/cni\/bin\]$/,
      ),
      '/etc/cni/net.d/10-f.conflist:1:1: error: plugins[1].type: unknown plugin type "portmapp": failed to find plugin "portmapp" in path [/opt/cni/bin]',
    ]);
  });
});
