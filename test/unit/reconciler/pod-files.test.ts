import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { hostsFile, nodeIPs, nodeName, podHostname } from '../../../src/reconciler/pod-files.js';
import { Pod } from '../../../src/api/pod.js';

const pod = (spec: Record<string, unknown> = {}) =>
  Pod.parse({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [{ name: 'a', image: 'busybox' }], ...spec } });

describe('pod hostname and /etc/hosts', () => {
  it('is spec.hostname, else the pod name', () => {
    expect(podHostname(pod())).toBe('web');
    expect(podHostname(pod({ hostname: 'front' }))).toBe('front');
  });

  it("is the node's for hostNetwork pods, which share its UTS namespace", () => {
    expect(podHostname(pod({ hostNetwork: true, hostname: 'ignored' }))).toBe(hostname());
  });

  it('lists the pod IPs under its hostname and the hostAliases', () => {
    const text = hostsFile(pod({ hostAliases: [{ ip: '10.1.2.3', hostnames: ['db', 'db.local'] }] }), ['10.87.0.5']);
    expect(text).toContain('10.87.0.5\tweb');
    expect(text).toContain('10.1.2.3\tdb db.local');
  });
});

describe('subdomain and setHostnameAsFQDN (the kubelet rules)', () => {
  const ns = (spec: Record<string, unknown>) =>
    Pod.parse({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { containers: [{ name: 'a', image: 'busybox' }], ...spec },
    });

  it('lists the FQDN hostname.subdomain.namespace.svc.cluster.local before the hostname in /etc/hosts', () => {
    const text = hostsFile(ns({ hostname: 'db-0', subdomain: 'db' }), ['10.87.0.5']);
    expect(text).toContain('10.87.0.5\tdb-0.db.shop.svc.cluster.local\tdb-0\n');
    expect(podHostname(ns({ hostname: 'db-0', subdomain: 'db' }))).toBe('db-0');
  });

  it('makes the FQDN the kernel hostname with setHostnameAsFQDN', () => {
    expect(podHostname(ns({ hostname: 'db-0', subdomain: 'db', setHostnameAsFQDN: true }))).toBe('db-0.db.shop.svc.cluster.local');
    // no subdomain: the FQDN is the hostname; hostNetwork: the node's name
    expect(podHostname(ns({ setHostnameAsFQDN: true }))).toBe('web');
    expect(podHostname(ns({ hostNetwork: true, subdomain: 'db', setHostnameAsFQDN: true }))).toBe(hostname());
  });

  it('cuts a long pod name to 63 characters without a trailing dash, as the kubelet does', () => {
    const long = `${'a'.repeat(62)}-b`;
    const p = Pod.parse({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: long },
      spec: { containers: [{ name: 'a', image: 'busybox' }] },
    });
    expect(podHostname(p)).toBe('a'.repeat(62));
  });

  it('knows the node IPs (status.hostIP) without loopback', () => {
    const ips = nodeIPs();
    expect(ips).not.toContain('127.0.0.1');
    expect(ips).not.toContain('::1');
    expect(nodeName()).toBe(hostname().toLowerCase());
  });
});

describe('a hostNetwork pod', () => {
  it("sees the node's /etc/hosts, with its hostAliases after it, as under the kubelet", () => {
    const node = '127.0.0.1\tlocalhost\n192.0.2.10\tnode-1\n';
    const p = pod({ hostNetwork: true, hostAliases: [{ ip: '10.1.2.3', hostnames: ['db', 'db.local'] }] });
    expect(hostsFile(p, [], node)).toBe(`${node}\n# Entries added by HostAliases.\n10.1.2.3\tdb db.local\n`);
    expect(hostsFile(pod({ hostNetwork: true }), [], node)).toBe(node);
  });
});
