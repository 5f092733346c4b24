import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { hostsFile, podHostname } from '../../../src/reconciler/pod-files.js';
import { Pod } from '../../../src/spec/pod.js';

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
