import { describe, expect, it } from 'vitest';
import { parseFile, parseNetworksAnnotation } from '../../../src/api/index.js';
import { podYaml } from './helpers.js';

describe('the k8s.v1.cni.cncf.io/networks annotation', () => {
  it.each([
    ['one name', 'podnet', [{ name: 'podnet', interface: 'eth0' }]],
    [
      'a comma list',
      'a, b,c',
      [
        { name: 'a', interface: 'eth0' },
        { name: 'b', interface: 'net1' },
        { name: 'c', interface: 'net2' },
      ],
    ],
    ['the Multus short form', 'a@eth1', [{ name: 'a', interface: 'eth1' }]],
    [
      'a namespace (ignored)',
      'team/a@lan0, b',
      [
        { name: 'a', interface: 'lan0' },
        { name: 'b', interface: 'net1' },
      ],
    ],
    [
      'a JSON list',
      '[{"name": "a"}, {"name": "b", "interface": "stor0", "ips": ["10.1.0.5/24", "fd00::5"], "mac": "02:00:00:00:00:01"}]',
      [
        { name: 'a', interface: 'eth0' },
        { name: 'b', interface: 'stor0', ips: ['10.1.0.5/24', 'fd00::5'], mac: '02:00:00:00:00:01' },
      ],
    ],
    ['a JSON list with namespace (ignored)', '[{"name": "a", "namespace": "default"}]', [{ name: 'a', interface: 'eth0' }]],
    [
      'JSON defaults by position',
      '[{"name": "a", "interface": "x0"}, {"name": "b"}]',
      [
        { name: 'a', interface: 'x0' },
        { name: 'b', interface: 'net1' },
      ],
    ],
  ])('reads %s', (_what, value, networks) => {
    expect(parseNetworksAnnotation(value)).toEqual({ networks, errors: [] });
  });

  it.each([
    ['duplicate interfaces', 'a@eth1, b@eth1', 'both use interface "eth1"'],
    ['a default interface taken explicitly', 'a, b@eth0', 'both use interface "eth0"'],
    ['an empty value', '  ', 'is empty'],
    ['a stray comma', 'a,,b', 'network 2 is empty'],
    ['a bad network name', 'a b', 'not a network name'],
    ['a too long interface name', 'a@averyveryverylongname', 'not an interface name'],
    ['invalid JSON', '[{"name": "a"', 'not valid JSON'],
    ['a JSON object, not a list', '{"name": "a"}', 'must be a JSON list'],
    ['an empty JSON list', '[]', 'empty list'],
    ['an unknown JSON field', '[{"name": "a", "interfce": "x"}]', 'unknown field "interfce"'],
    ['a JSON entry without a name', '[{"interface": "x"}]', '"name" must be a string'],
    ['a bad IP', '[{"name": "a", "ips": ["10.1.0.300/24"]}]', 'not an IP address or CIDR'],
    ['a bad MAC', '[{"name": "a", "mac": "02:00"}]', '"mac" must be a MAC address'],
  ])('rejects %s', (_what, value, message) => {
    const { errors } = parseNetworksAnnotation(value);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('\n')).toContain(message);
  });

  it('gives the parsed pod its annotation networks, and no networks otherwise (filled in by resolveDesired)', () => {
    const [withAnnotation] = parseFile(podYaml('p', { annotation: 'a, b@eth5' }), 'a.yaml').pods;
    expect(withAnnotation?.networks).toEqual([
      { name: 'a', interface: 'eth0' },
      { name: 'b', interface: 'eth5' },
    ]);
    const [plain] = parseFile(podYaml('p'), 'a.yaml').pods;
    expect(plain?.networks).toEqual([]);
  });
});
