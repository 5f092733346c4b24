import { describe, expect, it } from 'vitest';
import { builtinDefaultNetwork, Network, networkConflist, parseFile } from '../../../src/api/index.js';
import { errors, parseFixture, warnings } from './helpers.js';

describe('networkConflist', () => {
  it('builds a CNI network configuration list, passing plugins through unchanged', () => {
    const [podnet, storage] = parseFixture('valid/networks.yaml').networks;
    expect(podnet?.conflist).toEqual({
      cniVersion: '1.0.0',
      name: 'podnet',
      plugins: [
        {
          type: 'bridge',
          bridge: 'berth1',
          isGateway: true,
          ipMasq: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.88.0.0/16' }]] },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    });
    expect(storage?.conflist).toEqual({
      cniVersion: '1.0.0',
      name: 'storage',
      plugins: [{ type: 'macvlan', master: 'eth1', ipam: { type: 'host-local', subnet: '192.168.50.0/24' } }],
    });
  });

  it('carries the optional list keys, in the conflist order', () => {
    const net = Network.parse({
      apiVersion: 'berth.dev/v1',
      kind: 'Network',
      metadata: { name: 'n' },
      spec: {
        cniVersion: '1.0.0',
        cniVersions: ['0.4.0', '1.0.0'],
        disableCheck: 'TRUE',
        disableGC: false,
        plugins: [{ type: 'ptp', mtu: 1400, 'x-custom': { a: 1 } }],
      },
    });
    const list = networkConflist(net);
    expect(list).toEqual({
      cniVersion: '1.0.0',
      cniVersions: ['0.4.0', '1.0.0'],
      name: 'n',
      disableCheck: true,
      disableGC: false,
      plugins: [{ type: 'ptp', mtu: 1400, 'x-custom': { a: 1 } }],
    });
    expect(Object.keys(list)).toEqual(['cniVersion', 'cniVersions', 'name', 'disableCheck', 'disableGC', 'plugins']);
  });
});

describe('builtinDefaultNetwork', () => {
  it('is the berth0 bridge on 10.87.0.0/16 with portmap', () => {
    const net = builtinDefaultNetwork();
    expect(net).toMatchObject({
      kind: 'Network',
      name: 'berth',
      source: { file: '<builtin>' },
      network: { spec: { default: true, cniVersion: '1.0.0' } },
    });
    expect(net.conflist).toEqual({
      cniVersion: '1.0.0',
      name: 'berth',
      plugins: [
        {
          type: 'bridge',
          bridge: 'berth0',
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.87.0.0/16' }]], routes: [{ dst: '0.0.0.0/0' }] },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    });
  });

  it('puts host-local state in the given dataDir', () => {
    const plugins = builtinDefaultNetwork({ ipamDataDir: '/var/lib/berth/cni/networks' }).conflist['plugins'] as Array<{
      ipam?: { dataDir?: string };
    }>;
    expect(plugins[0]?.ipam?.dataDir).toBe('/var/lib/berth/cni/networks');
  });
});

describe('Network documents', () => {
  const net = (spec: string): string => `apiVersion: berth.dev/v1\nkind: Network\nmetadata: {name: n}\nspec:\n${spec}\n`;
  it.each([
    ['no plugins', '  plugins: []', 'spec.plugins', 'at least one plugin'],
    ['a plugin type with a path', '  plugins: [{type: ../bridge}]', 'spec.plugins[0].type', 'path separator'],
    [
      'a bad subnet',
      '  plugins: [{type: bridge, ipam: {type: host-local, subnet: 10.0.0.0/33}}]',
      'spec.plugins[0].ipam.subnet',
      'not a subnet in CIDR notation',
    ],
    [
      'an unknown spec field',
      '  plugins: [{type: bridge}]\n  defualt: true',
      'spec.defualt',
      'unknown field "defualt" (did you mean "default"?)',
    ],
  ])('rejects %s', (_what, spec, path, message) => {
    const issues = errors(parseFile(net(spec), 'n.yaml').issues);
    expect(issues.map((i) => i.path)).toEqual([path]);
    expect(issues[0]?.message).toContain(message);
    expect(issues[0]?.key).toBe('n');
  });

  it('warns about reserved plugin keys', () => {
    const parsed = parseFile(net('  plugins: [{type: bridge, runtimeConfig: {a: 1}}]'), 'n.yaml');
    expect(parsed.networks).toHaveLength(1);
    expect(warnings(parsed.issues).map((i) => i.path)).toEqual(['spec.plugins[0].runtimeConfig']);
  });
});
