import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatIssue, parseFile, resolveDesired } from '../../../src/api/index.js';
import { FIXTURES } from './helpers.js';

/**
 * Public Pod manifests no one here wrote (kubeadm static pods, Kubernetes documentation
 * examples, podman play-kube tests; sources in each file's header, images swapped for the
 * local example image): a Pod the kubelet would run either validates, or is refused only
 * with "… is not supported by berth…", never "unknown field" or another error.
 */
const DIR = `${FIXTURES}public/`;
const names = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const parse = (name: string) => parseFile(readFileSync(DIR + name, 'utf8'), `public/${name}`);

describe('public Pod manifests', () => {
  it('has a representative set', () => {
    expect(names.filter((n) => n.startsWith('kubeadm-')).length).toBeGreaterThanOrEqual(8);
    expect(names.filter((n) => n.startsWith('k8s-docs-')).length).toBeGreaterThanOrEqual(15);
    expect(names.filter((n) => n.startsWith('podman-')).length).toBeGreaterThanOrEqual(4);
    for (const n of names) expect(readFileSync(DIR + n, 'utf8')).toMatch(/^# Source: https:\/\/github\.com\//);
  });

  it.each(names)('%s validates or is refused only as "not supported by berth"', (name) => {
    const parsed = parse(name);
    const errors = parsed.issues.filter((i) => i.severity === 'error');
    for (const e of errors) expect(formatIssue(e)).toMatch(/ is not supported by berth/);
    for (const i of parsed.issues) expect(i.message).not.toMatch(/unknown field/);
    expect(parsed.pods.length).toBe(errors.length === 0 ? 1 : 0);
  });

  it.each([
    'k8s-docs-dapi-envars-pod.yaml', // every env fieldRef the kubelet fills, spec.serviceAccountName included
    'k8s-docs-dapi-envars-container.yaml', // resourceFieldRef
    'k8s-docs-pod-resize.yaml', // resizePolicy
    'k8s-docs-hostaliases-pod.yaml',
    'k8s-docs-custom-dns.yaml',
    'podman-kube-generate-bind-mount.yaml', // creationTimestamp as podman writes it
    'podman-play-kube-hostport-tcp.yaml',
    'k8s-docs-pod-level-resources.yaml', // spec.resources: a pod cgroup
    'podman-play-kube-shared-namespace.yaml', // shareProcessNamespace: the pause infra process
  ])('%s validates', (name) => {
    expect(
      parse(name)
        .issues.filter((i) => i.severity === 'error')
        .map(formatIssue),
    ).toEqual([]);
  });

  it('kubeadm static pods are refused for nothing but fields berth does not run yet', () => {
    for (const name of names.filter((n) => n.startsWith('kubeadm-'))) {
      const refused = new Set(
        parse(name)
          .issues.filter((i) => i.severity === 'error')
          .map((i) => i.path.replace(/^spec\.containers\[\d+\]\./, '')),
      );
      // creationTimestamp, status, hostNetwork, seccompProfile, hostPath types, priority: all taken
      for (const p of refused) expect(['livenessProbe', 'readinessProbe', 'startupProbe']).toContain(p);
    }
  });

  it('the pods that validate resolve together without a hostPort clash', () => {
    const parsed = names.map(parse).filter((p) => p.pods.length > 0);
    const desired = resolveDesired(parsed);
    expect(desired.invalidKeys).toEqual([]);
  });
});
