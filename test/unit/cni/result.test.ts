import { describe, expect, it } from 'vitest';
import { convertResult, parseResult, toV1 } from '../../../src/cni/index.js';

// One attachment written in every version (CNI-23).
const r020 = {
  cniVersion: '0.2.0',
  ip4: { ip: '10.199.1.2/24', gateway: '10.199.1.1', routes: [{ dst: '0.0.0.0/0' }] },
  ip6: { ip: 'fd00:199::2/64', gateway: 'fd00:199::1', routes: [{ dst: '::/0' }] },
  dns: { nameservers: ['10.199.1.1'] },
};
const r040 = {
  cniVersion: '0.4.0',
  ips: [
    { version: '4', address: '10.199.1.2/24', gateway: '10.199.1.1' },
    { version: '6', address: 'fd00:199::2/64', gateway: 'fd00:199::1' },
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
  dns: { nameservers: ['10.199.1.1'] },
};
const r100 = {
  cniVersion: '1.0.0',
  ips: [
    { address: '10.199.1.2/24', gateway: '10.199.1.1' },
    { address: 'fd00:199::2/64', gateway: 'fd00:199::1' },
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
  dns: { nameservers: ['10.199.1.1'] },
};

describe('CNI-22/23 result conversion', () => {
  it.each<[string, object, string, object]>([
    ['0.2.0 → 0.4.0', r020, '0.4.0', r040],
    ['0.2.0 → 1.0.0', r020, '1.0.0', r100],
    ['0.4.0 → 1.0.0', r040, '1.0.0', r100],
    ['1.0.0 → 0.4.0', r100, '0.4.0', r040],
    ['1.0.0 → 0.3.1', r100, '0.3.1', { ...r040, cniVersion: '0.3.1' }],
    ['1.0.0 → 0.2.0', r100, '0.2.0', r020],
    ['0.4.0 → 0.2.0', r040, '0.2.0', r020],
    ['1.0.0 → 1.1.0', r100, '1.1.0', { ...r100, cniVersion: '1.1.0' }],
  ])('%s', (_what, from, to, want) => {
    expect(convertResult(parseResult(from, ''), to)).toEqual(want);
  });

  it('interfaces and ips[].interface survive 0.4.0 ⇄ 1.x', () => {
    const r = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'br' }, { name: 'eth0', mac: 'aa:bb:cc:dd:ee:ff', sandbox: '/run/netns/x' }],
      ips: [{ interface: 1, address: '10.199.1.2/24' }],
    };
    const down = convertResult(parseResult(r, ''), '0.4.0');
    expect(down).toEqual({ ...r, cniVersion: '0.4.0', ips: [{ version: '4', interface: 1, address: '10.199.1.2/24' }] });
    expect(convertResult(parseResult(down, ''), '1.0.0')).toEqual(r);
  });

  it('1.1.0 → 1.0.0 drops interface mtu/socketPath/pciID and route mtu/advmss/priority/table/scope', () => {
    const r110 = {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', mtu: 1400, socketPath: '/s', pciID: '0000:00:01.0', sandbox: '/run/netns/x' }],
      ips: [{ interface: 0, address: '10.199.1.2/24' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.199.1.1', mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 }],
    };
    expect(convertResult(parseResult(r110, ''), '1.1.0')).toEqual(r110);
    expect(convertResult(parseResult(r110, ''), '1.0.0')).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', sandbox: '/run/netns/x' }],
      ips: [{ interface: 0, address: '10.199.1.2/24' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.199.1.1' }],
    });
  });

  it('0.2.0 keeps only the first address of each family', () => {
    const many = { cniVersion: '1.0.0', ips: [{ address: '10.199.1.2/24' }, { address: '10.199.1.3/24' }] };
    expect(convertResult(parseResult(many, ''), '0.2.0')).toEqual({ cniVersion: '0.2.0', ip4: { ip: '10.199.1.2/24' } });
  });

  it('0.2.0 needs an address', () => {
    expect(() => convertResult(parseResult({ cniVersion: '1.0.0' }, ''), '0.2.0')).toThrow(/no valid IP addresses/);
  });

  it("CNI-22: the version is the result's own, else the config's; null and empty output are {}", () => {
    expect(parseResult('{"ips":[{"version":"4","address":"10.199.1.2/24"}]}', '0.4.0')).toEqual({
      cniVersion: '0.4.0',
      ips: [{ address: '10.199.1.2/24' }],
    });
    expect(parseResult('null', '1.0.0')).toEqual({ cniVersion: '1.0.0' });
    expect(parseResult('', '1.0.0')).toEqual({ cniVersion: '1.0.0' });
    expect(() => parseResult('{"cniVersion":"7.0.0"}', '1.0.0')).toThrow(/unsupported CNI result version/);
    expect(() => parseResult('{oops', '1.0.0')).toThrow(/failed to parse result/);
  });

  it('toV1 returns 1.x: 1.1.0 stays, 0.x becomes 1.0.0', () => {
    expect(toV1(parseResult(r020, ''))).toEqual(r100);
    expect(toV1(parseResult({ cniVersion: '1.1.0', ips: [] }, '')).cniVersion).toBe('1.1.0');
  });
});
