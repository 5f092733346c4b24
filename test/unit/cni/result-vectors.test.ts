/**
 * Result conversion with the shapes of libcni's `pkg/types/{020,040,100}/types_test.go`
 * (routes with gateways, full dns, interfaces referenced by index, both families), both ways.
 * Values are berth's own.
 */
import { describe, expect, it } from 'vitest';
import { convertResult, parseResult } from '../../../src/cni/index.js';

const dns = {
  nameservers: ['10.198.7.4', 'fd00:198::cafe'],
  domain: 'example.test',
  search: ['a.example.test', 'b.example.test'],
  options: ['ndots:2', 'edns0'],
};
const v020 = {
  cniVersion: '0.2.0',
  ip4: { ip: '10.198.7.30/24', gateway: '10.198.7.1', routes: [{ dst: '10.198.8.0/24', gw: '10.198.7.8' }, { dst: '0.0.0.0/0' }] },
  ip6: { ip: 'fd00:198::30/64', gateway: 'fd00:198::1', routes: [{ dst: 'fd00:199::/80', gw: 'fd00:198::aaaa' }] },
  dns,
};
const ifaces = [
  { name: 'berth-tcn5x', mac: '02:00:00:00:07:01' },
  { name: 'veth0', mac: '02:00:00:00:07:02' },
  { name: 'eth0', mac: '02:00:00:00:07:03', sandbox: '/run/netns/berth-tcn5-x' },
];
const v040 = {
  cniVersion: '0.4.0',
  interfaces: ifaces,
  ips: [
    { version: '4', interface: 2, address: '10.198.7.30/24', gateway: '10.198.7.1' },
    { version: '6', interface: 2, address: 'fd00:198::30/64', gateway: 'fd00:198::1' },
  ],
  routes: [{ dst: '10.198.8.0/24', gw: '10.198.7.8' }, { dst: '0.0.0.0/0' }, { dst: 'fd00:199::/80', gw: 'fd00:198::aaaa' }],
  dns,
};
const v100 = { ...v040, cniVersion: '1.0.0', ips: v040.ips.map(({ version: _v, ...ip }) => ip) };
const v110 = {
  ...v100,
  cniVersion: '1.1.0',
  interfaces: [ifaces[0], ifaces[1], { ...ifaces[2], mtu: 1450, socketPath: '/run/berth-tcn5.sock', pciID: '0000:00:1f.6' }],
  routes: [
    { dst: '10.198.8.0/24', gw: '10.198.7.8', mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 },
    { dst: '0.0.0.0/0' },
    { dst: 'fd00:199::/80', gw: 'fd00:198::aaaa' },
  ],
};

describe('CNI-23 conversion, pkg/types shapes', () => {
  it.each<[string, object, string, object]>([
    ['0.4.0 → 1.0.0', v040, '1.0.0', v100],
    ['1.0.0 → 0.4.0', v100, '0.4.0', v040],
    ['1.0.0 → 0.3.0', v100, '0.3.0', { ...v040, cniVersion: '0.3.0' }],
    ['0.3.1 → 1.1.0', { ...v040, cniVersion: '0.3.1' }, '1.1.0', { ...v100, cniVersion: '1.1.0' }],
    ['1.1.0 → 1.0.0 (drops the 1.1.0 fields)', v110, '1.0.0', v100],
    ['1.1.0 → 0.4.0', v110, '0.4.0', v040],
    ['1.1.0 → 1.1.0 keeps everything', v110, '1.1.0', v110],
    // 0.2.0 has no interfaces; routes go to the family of their destination
    ['1.0.0 → 0.2.0', v100, '0.2.0', v020],
    [
      '0.2.0 → 0.4.0',
      v020,
      '0.4.0',
      { cniVersion: '0.4.0', ips: v040.ips.map(({ interface: _i, ...ip }) => ip), routes: v040.routes, dns },
    ],
    ['0.2.0 → 0.1.0', v020, '0.1.0', { ...v020, cniVersion: '0.1.0' }],
  ])('%s', (_what, from, to, want) => {
    expect(convertResult(parseResult(from, ''), to)).toEqual(want);
  });

  it('a result without cniVersion takes the config version; unknown keys pass through', () => {
    const r = parseResult(JSON.stringify({ ips: [{ version: '4', address: '10.198.7.2/24' }], custom: { a: 1 } }), '0.4.0');
    expect(convertResult(r, '1.0.0')).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.198.7.2/24' }], custom: { a: 1 } });
  });
});
