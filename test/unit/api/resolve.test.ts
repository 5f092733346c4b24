import { describe, expect, it } from 'vitest';
import { builtinDefaultNetwork, formatIssue, parseFile, resolveDesired } from '../../../src/api/index.js';
import type { LoadedNetwork } from '../../../src/api/index.js';
import { errors, networkYaml, parseFixture, podYaml } from './helpers.js';

const parse = (file: string, ...docs: string[]) => parseFile(docs.join('---\n'), file);

describe('resolveDesired: pods', () => {
  it('resolves the valid fixtures together', () => {
    const desired = resolveDesired(['valid/web.yaml', 'valid/networks.yaml', 'valid/multi-net.yaml'].map(parseFixture));
    expect(desired.issues).toEqual([]);
    expect(desired.networks.map((n) => n.name)).toEqual(['podnet', 'storage']);
    expect(Object.fromEntries(desired.pods.map((p) => [p.key, p.networks]))).toEqual({
      'default/db': [
        { name: 'podnet', interface: 'eth0' },
        { name: 'storage', interface: 'stor0', ips: ['192.168.50.10/24'] },
      ],
      'default/host-agent': [],
      'default/web': [{ name: 'podnet', interface: 'eth0' }],
      'jobs/worker': [{ name: 'podnet', interface: 'eth0' }],
    });
    expect(desired).toMatchObject({ conflicts: [], invalidKeys: [], invalidFiles: [] });
  });

  it.each([
    // [case, files in the order given, winner file, loser file]
    [
      'file name order, not argument order',
      [
        ['b.yaml', 'web'],
        ['a.yaml', 'web'],
      ],
      'a.yaml',
      'b.yaml',
    ],
    [
      'base name order across directories',
      [
        ['/z/a.yaml', 'web'],
        ['/a/b.yaml', 'web'],
      ],
      '/z/a.yaml',
      '/a/b.yaml',
    ],
  ])('first definition of a pod wins by %s', (_what, defs, winner, loser) => {
    const files = defs.map(([file, name]) => parse(file!, podYaml(name!)));
    const desired = resolveDesired(files);
    expect(desired.pods.map((p) => [p.key, p.source.file])).toEqual([['default/web', winner]]);
    expect(desired.conflicts).toHaveLength(1);
    const conflict = desired.conflicts[0]!;
    expect(conflict).toMatchObject({ severity: 'error', file: loser, line: 4, column: 9, path: 'metadata.name', key: 'default/web' });
    expect(conflict.message).toContain(`${winner}:4:9`);
    expect(formatIssue(conflict)).toMatch(new RegExp(`^${loser}:4:9: error: metadata.name: pod "default/web" is defined twice`));
    expect(desired.issues).toEqual([]);
    expect(desired.invalidKeys).toEqual([]);
  });

  it('reports a second definition in the same file as a conflict', () => {
    const desired = resolveDesired([parse('a.yaml', podYaml('web'), podYaml('web'))]);
    expect(desired.pods.map((p) => p.source.doc)).toEqual([0]);
    expect(desired.conflicts.map((c) => [c.line, c.column])).toEqual([[13, 9]]);
    expect(desired.conflicts[0]?.message).toContain('a.yaml:4:9');
  });

  it('lets an invalid first definition hold the pod (InvalidSpec), not the later valid one', () => {
    const desired = resolveDesired([
      parse('b.yaml', podYaml('web')),
      parse('a.yaml', podYaml('web', { spec: '  restartPolicy: Sometimes' })),
    ]);
    expect(desired.pods).toEqual([]);
    expect(desired.invalidKeys).toEqual(['default/web']);
    expect(desired.conflicts.map((c) => c.file)).toEqual(['b.yaml']);
  });

  it('does not pin the errors of a losing invalid document on the pod that owns the key', () => {
    const desired = resolveDesired([parse('a.yaml', podYaml('web')), parse('b.yaml', podYaml('web', { spec: '  bogus: 1' }))]);
    expect(desired.pods.map((p) => p.source.file)).toEqual(['a.yaml']);
    expect(desired.invalidKeys).toEqual([]);
    expect(desired.conflicts).toMatchObject([{ file: 'b.yaml', key: 'default/web' }]);
    expect(desired.issues).toMatchObject([{ file: 'b.yaml', path: 'spec.bogus' }]);
    expect(desired.issues[0]?.key).toBeUndefined();
  });

  it('lists invalid pods by key and unreadable files by name', () => {
    const desired = resolveDesired([
      parse('a.yaml', podYaml('ok'), podYaml('bad', { spec: '  bogus: 1' })),
      parseFixture('invalid/syntax.yaml'),
      parseFixture('invalid/typo.yaml'),
    ]);
    expect(desired.pods.map((p) => p.key)).toEqual(['default/ok']);
    expect(desired.invalidKeys.sort()).toEqual(['default/bad', 'default/typo']);
    expect(desired.invalidFiles).toEqual(['invalid/syntax.yaml']);
    expect(desired.issues.map((i) => i.file)).toEqual(['a.yaml', 'invalid/syntax.yaml', 'invalid/typo.yaml', 'invalid/typo.yaml']);
  });

  it.each([
    ['an unknown network', 'nope', 'unknown network "nope"'],
    ['one unknown among known ones', 'podnet, nope@eth1', 'unknown network "nope"'],
  ])('holds a pod that names %s', (_what, annotation, message) => {
    const desired = resolveDesired([
      parse('net.yaml', networkYaml('podnet', { default: true })),
      parse('pod.yaml', podYaml('p', { annotation })),
    ]);
    expect(desired.pods).toEqual([]);
    expect(desired.invalidKeys).toEqual(['default/p']);
    const issue = errors(desired.issues).find((i) => i.key === 'default/p');
    expect(issue).toMatchObject({ file: 'pod.yaml', line: 6, column: 34, path: 'metadata.annotations["k8s.v1.cni.cncf.io/networks"]' });
    expect(issue?.message).toContain(message);
  });

  it('gives pods without the annotation the default network on eth0, and hostNetwork pods none', () => {
    const desired = resolveDesired([
      parse('p.yaml', podYaml('a'), podYaml('h', { spec: '  hostNetwork: true' }), podYaml('n', { annotation: 'berth@eth7' })),
    ]);
    expect(desired.pods.map((p) => [p.name, p.networks])).toEqual([
      ['a', [{ name: 'berth', interface: 'eth0' }]],
      ['h', []],
      ['n', [{ name: 'berth', interface: 'eth7' }]],
    ]);
  });

  it('does not change the parsed files', () => {
    const file = parse('p.yaml', podYaml('a'));
    resolveDesired([file]);
    expect(file.pods[0]?.networks).toEqual([]);
  });
});

describe('resolveDesired: networks', () => {
  it('uses the builtin default when there are no Networks', () => {
    const desired = resolveDesired([]);
    expect(desired.networks.map((n) => [n.name, n.source.file])).toEqual([['berth', '<builtin>']]);
  });

  it('uses the builtin default next to Networks of which none is default', () => {
    const desired = resolveDesired([parse('n.yaml', networkYaml('lan'))]);
    expect(desired.networks.map((n) => n.name)).toEqual(['berth', 'lan']);
    expect(desired.issues).toEqual([]);
  });

  it('uses the Network marked default instead of the builtin', () => {
    const desired = resolveDesired([
      parse('n.yaml', networkYaml('lan'), networkYaml('podnet', { default: true, subnet: '10.87.0.0/16', bridge: 'berth0' })),
    ]);
    expect(desired.networks.map((n) => n.name)).toEqual(['lan', 'podnet']);
  });

  it('takes the builtin given in the options', () => {
    const builtin = builtinDefaultNetwork({ ipamDataDir: '/tmp/x' });
    expect(resolveDesired([], { builtinDefault: builtin }).networks[0]).toBe(builtin);
  });

  it.each([
    // [case, documents of n.yaml, blamed path, message fragment, networks kept]
    [
      'overlapping IPv4 subnets',
      [networkYaml('a', { default: true, subnet: '10.1.0.0/16' }), networkYaml('b', { subnet: '10.1.2.0/24' })],
      'spec.plugins[0].ipam.ranges[0][0].subnet',
      'subnet 10.1.2.0/24 overlaps subnet 10.1.0.0/16 of network "a" (n.yaml:11:28, spec.plugins[0].ipam.ranges[0][0].subnet)',
      ['a'],
    ],
    [
      'overlapping IPv6 subnets',
      [networkYaml('a', { default: true, subnet: 'fd00::/48' }), networkYaml('b', { subnet: 'fd00:0:0:1::/64' })],
      'spec.plugins[0].ipam.ranges[0][0].subnet',
      'overlaps subnet fd00::/48 of network "a"',
      ['a'],
    ],
    [
      'a subnet overlapping the builtin default',
      [networkYaml('b', { subnet: '10.87.1.0/24' })],
      'spec.plugins[0].ipam.ranges[0][0].subnet',
      'overlaps subnet 10.87.0.0/16 of network "berth" (<builtin>',
      ['berth'],
    ],
    [
      'duplicate network names',
      [networkYaml('a', { default: true }), networkYaml('a', { subnet: '10.2.0.0/16', bridge: 'other' })],
      'metadata.name',
      'network "a" is already defined in n.yaml:3:18',
      ['a'],
    ],
    [
      'two defaults',
      [networkYaml('a', { default: true }), networkYaml('b', { default: true, subnet: '10.2.0.0/16' })],
      'spec.default',
      'more than one default network: "a" (n.yaml:5:12) is already the default',
      ['a'],
    ],
    [
      'duplicate bridges',
      [networkYaml('a', { default: true, bridge: 'br0' }), networkYaml('b', { bridge: 'br0', subnet: '10.2.0.0/16' })],
      'spec.plugins[0].bridge',
      'bridge "br0" is already used by network "a"',
      ['a'],
    ],
  ])('rejects %s (blaming the later network)', (_what, docs, path, message, kept) => {
    const desired = resolveDesired([parse('n.yaml', ...docs)]);
    const issues = errors(desired.issues);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ file: 'n.yaml', path, line: expect.any(Number) as number });
    if (docs.length > 1) expect(issues[0]?.line).toBeGreaterThan(12); // in the later document
    expect(issues[0]?.message).toContain(message);
    expect(desired.networks.map((n) => n.name)).toEqual(kept);
  });

  it('finds subnets nested in any plugin and in ipam.subnet', () => {
    const nested = [
      'apiVersion: berth.dev/v1',
      'kind: Network',
      'metadata: {name: nested}',
      'spec:',
      '  plugins:',
      '    - type: wrapper',
      '      delegate: {ipam: {type: host-local, subnet: 10.87.200.0/24}}',
      '',
    ].join('\n');
    const issues = errors(resolveDesired([parse('n.yaml', nested)]).issues);
    expect(issues.map((i) => [i.path, i.line, i.column])).toEqual([['spec.plugins[0].delegate.ipam.subnet', 7, 51]]);
  });

  it('holds pods on a network that was rejected, naming why', () => {
    const desired = resolveDesired([
      parse('n.yaml', networkYaml('a', { default: true, subnet: '10.1.0.0/16' }), networkYaml('b', { subnet: '10.1.0.0/24' })),
      parse('p.yaml', podYaml('p', { annotation: 'b' })),
    ]);
    expect(desired.invalidKeys).toEqual(['default/p']);
    expect(errors(desired.issues).find((i) => i.key === 'default/p')?.message).toContain('network "b" is invalid (n.yaml:22:28)');
  });

  it('does not fall back to the builtin while a Network document is half-written', () => {
    const broken = networkYaml('podnet', { default: true }).replace('type: bridge', 'type: bridge\n      bogus: [');
    const parsed = parse('n.yaml', broken);
    expect(parsed.issues.length).toBeGreaterThan(0);
    expect(parsed.issues.every((i) => i.severity === 'error' && i.key === 'podnet')).toBe(true);
    const desired = resolveDesired([parsed, parse('p.yaml', podYaml('p'))]);
    expect(desired.networks).toEqual([]);
    expect(desired.pods).toEqual([]);
    expect(desired.invalidKeys).toEqual(['default/p']);
  });

  it('holds default-network pods when a Network document is invalid and none is default', () => {
    const invalid = networkYaml('podnet', { default: true }).replace('plugins:', 'plugin:');
    const desired = resolveDesired([parse('n.yaml', invalid), parse('p.yaml', podYaml('p'))]);
    expect(desired.networks).toEqual([]);
    expect(desired.invalidKeys).toEqual(['default/p']);
    expect(errors(desired.issues).find((i) => i.key === 'default/p')?.message).toMatch(
      /the pod joins the default network, but there is none: network "podnet" is invalid \(n\.yaml:\d+:\d+\)/,
    );
  });

  it('takes extra networks (host conflists) after the Network documents', () => {
    const extra: LoadedNetwork = {
      ...builtinDefaultNetwork(),
      name: 'hostnet',
      source: { file: '/etc/cni/net.d/10-host.conflist', doc: 0, line: 1, column: 1 },
    };
    extra.network = { ...extra.network, metadata: { name: 'hostnet' }, spec: { ...extra.network.spec, default: false } };
    const desired = resolveDesired([parse('n.yaml', networkYaml('podnet', { default: true, subnet: '10.88.0.0/16' }))], {
      extraNetworks: [extra],
    });
    // the extra list reuses the builtin's bridge and subnet, but nothing else has them here
    expect(desired.networks.map((n) => n.name)).toEqual(['podnet', 'hostnet']);
  });
});

describe('resolveDesired: hostPorts across pods', () => {
  const withPort = (name: string, port: string, spec = '') =>
    podYaml(name, spec ? { spec } : {}).replace('image: busybox\n', `image: busybox\n      ports: [${port}]\n`);

  it('gives a hostPort to the first pod by file order and holds the second as invalid, naming both', () => {
    const desired = resolveDesired([
      parse('b.yaml', withPort('second', '{containerPort: 80, hostPort: 8080}')),
      parse('a.yaml', withPort('first', '{containerPort: 80, hostPort: 8080}')),
    ]);
    expect(desired.pods.map((p) => p.key)).toEqual(['default/first']);
    expect(desired.invalidKeys).toEqual(['default/second']);
    const issue = errors(desired.issues)[0]!;
    expect(issue).toMatchObject({ file: 'b.yaml', path: 'spec.containers[0].ports[0].hostPort', key: 'default/second' });
    expect(issue.message).toContain('hostPort 8080/TCP is already used by pod "default/first"');
    expect(issue.message).toContain('a.yaml');
  });

  it.each([
    ['another protocol', '{containerPort: 53, hostPort: 53, protocol: UDP}', '{containerPort: 53, hostPort: 53, protocol: TCP}', true],
    ['two host IPs', '{containerPort: 80, hostPort: 80, hostIP: 127.0.0.1}', '{containerPort: 80, hostPort: 80, hostIP: 127.0.0.2}', true],
    ['a host IP and every address', '{containerPort: 80, hostPort: 80, hostIP: 127.0.0.1}', '{containerPort: 80, hostPort: 80}', false],
    ['the same IP', '{containerPort: 80, hostPort: 80, hostIP: 127.0.0.1}', '{containerPort: 81, hostPort: 80, hostIP: 127.0.0.1}', false],
  ])('%s', (_what, a, b, fine) => {
    const desired = resolveDesired([parse('a.yaml', withPort('a', a)), parse('b.yaml', withPort('b', b))]);
    expect(desired.pods.length).toBe(fine ? 2 : 1);
  });

  it('counts the containerPorts of hostNetwork pods as host ports', () => {
    const desired = resolveDesired([
      parse('a.yaml', withPort('a', '{containerPort: 9100}', '  hostNetwork: true')),
      parse('b.yaml', withPort('b', '{containerPort: 9100, hostPort: 9100}')),
    ]);
    expect(desired.invalidKeys).toEqual(['default/b']);
  });
});

describe('resolveDesired: image references', () => {
  it.each(['Busy Box:latest!!', 'registry.example.com:5000/App:1.0', 'dir:/x', 'docker.io/library/busybox@sha256:1234'])(
    'holds a pod whose image "%s" cannot be pulled as written',
    async (ref) => {
      const { imageProblem } = await import('../../../src/reconciler/desired.js');
      const doc = podYaml('p').replace('image: busybox', `image: ${JSON.stringify(ref)}`);
      const desired = resolveDesired([parse('a.yaml', doc)], { imageProblem });
      expect(desired.pods).toEqual([]);
      expect(desired.invalidKeys).toEqual(['default/p']);
      expect(errors(desired.issues)[0]).toMatchObject({ path: 'spec.containers[0].image', key: 'default/p', line: 8 });
    },
  );

  it.each([
    'busybox',
    'oci:/opt/x:latest',
    'aci:/x.aci',
    'appc:example.com/app:1.0,os=linux',
    'localhost:5000/a/b@sha256:' + 'a'.repeat(64),
  ])('accepts %s', async (ref) => {
    const { imageProblem } = await import('../../../src/reconciler/desired.js');
    expect(imageProblem(ref)).toBeUndefined();
  });
});
