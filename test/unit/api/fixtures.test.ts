import { describe, expect, it } from 'vitest';
import { formatIssue, resolveDesired } from '../../../src/api/index.js';
import { parseFixture } from './helpers.js';

/** Fixture sets resolved together, and every message berth prints for them (compiler style). */
describe('fixtures, resolved together', () => {
  it.each<[string, string[], { pods: string[]; issues: string[]; conflicts?: string[]; invalidKeys?: string[] }]>([
    [
      'a conflict between two files',
      ['conflict/20-web-copy.yaml', 'conflict/10-web.yaml'],
      {
        pods: ['default/web@conflict/10-web.yaml'],
        issues: [],
        conflicts: [
          'conflict/20-web-copy.yaml:5:9: error: metadata.name: pod "default/web" is defined twice: here and in conflict/10-web.yaml:4:9, which comes first and wins; this definition is ignored',
        ],
      },
    ],
    [
      'overlapping IPv6 ranges',
      ['overlap/b-lab.yaml', 'overlap/a-podnet.yaml'],
      {
        pods: [],
        issues: [
          'overlap/b-lab.yaml:11:23: error: spec.plugins[0].ipam.ranges[0][0].subnet: subnet fd00:88::/56 overlaps subnet fd00:88::/64 of network "podnet" (overlap/a-podnet.yaml:9:77, spec.plugins[0].ipam.ranges[1][0].subnet)',
          'overlap/b-lab.yaml:18:34: error: metadata.annotations["k8s.v1.cni.cncf.io/networks"]: network "lab" is invalid (overlap/b-lab.yaml:11:23)',
        ],
        invalidKeys: ['default/lab-client'],
      },
    ],
    [
      'an unknown network',
      ['invalid/unknown-network.yaml', 'valid/networks.yaml'],
      {
        pods: [],
        issues: [
          'invalid/unknown-network.yaml:6:34: error: metadata.annotations["k8s.v1.cni.cncf.io/networks"]: unknown network "backup": no Network document or CNI configuration list defines it (known: podnet, storage)',
        ],
        invalidKeys: ['default/lost'],
      },
    ],
    [
      'scheduling fields',
      ['valid/scheduling.yaml'],
      {
        pods: ['default/pinned@valid/scheduling.yaml'],
        issues: [
          'valid/scheduling.yaml:7:3: warning: spec.nodeSelector: ignored: berth runs pods on this host only',
          'valid/scheduling.yaml:8:3: warning: spec.tolerations: ignored: berth runs pods on this host only',
          'valid/scheduling.yaml:10:3: warning: spec.priorityClassName: ignored: berth runs pods on this host only',
        ],
      },
    ],
  ])('%s', (_what, names, want) => {
    const desired = resolveDesired(names.map(parseFixture));
    expect(desired.pods.map((p) => `${p.key}@${p.source.file}`)).toEqual(want.pods);
    const issues = desired.issues.map(formatIssue);
    expect(issues).toEqual(want.issues);
    expect(desired.conflicts.map(formatIssue)).toEqual(want.conflicts ?? []);
    expect(desired.invalidKeys).toEqual(want.invalidKeys ?? []);
  });
});
