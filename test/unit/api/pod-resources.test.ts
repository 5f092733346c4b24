import { describe, expect, it } from 'vitest';
import { parseFile } from '../../../src/api/index.js';
import { aggregateContainerRequests, podLevelResources } from '../../../src/api/pod-resources.js';
import { errors } from './helpers.js';

/** A pod with pod-level resources and two apps (a sidecar and an init container when asked). */
function podText(podRes: string, apps: string[], inits: string[] = []): string {
  const ctr = (name: string, res: string, extra = '') =>
    `    - name: ${name}\n      image: busybox\n${extra}${res ? `      resources: ${res}\n` : ''}`;
  return [
    'apiVersion: v1',
    'kind: Pod',
    'metadata: {name: p}',
    'spec:',
    `  resources: ${podRes}`,
    ...(inits.length ? ['  initContainers:', ...inits] : []),
    '  containers:',
    ...apps.map((r, i) => ctr(`app${i}`, r)),
  ].join('\n');
}
const init = (name: string, res: string, sidecar = false) =>
  `    - name: ${name}\n      image: busybox\n${sidecar ? '      restartPolicy: Always\n' : ''}      resources: ${res}\n`;
const problems = (text: string) => errors(parseFile(text, 'p.yaml').issues).map((i) => `${i.path}: ${i.message}`);

describe('pod-level resources: the API server checks', () => {
  it('accepts the Kubernetes documentation example', () => {
    expect(
      problems(
        podText('{limits: {cpu: "1", memory: 200Mi}, requests: {cpu: "1", memory: 100Mi}}', [
          '{limits: {cpu: "0.5", memory: 100Mi}, requests: {cpu: "0.5", memory: 50Mi}}',
          '',
        ]),
      ),
    ).toEqual([]);
  });

  it.each([
    [
      'a resource other than cpu and memory',
      '{limits: {ephemeral-storage: 1Gi}}',
      [],
      'spec.resources.limits["ephemeral-storage"]',
      'not supported at pod level',
    ],
    [
      'requests above limits',
      '{limits: {memory: 64Mi}, requests: {memory: 128Mi}}',
      [],
      'spec.resources.requests.memory',
      'must be less than or equal to memory limit of 64Mi',
    ],
    [
      'a container limit above the pod limit',
      '{limits: {memory: 64Mi}}',
      ['{limits: {memory: 128Mi}}'],
      'spec.containers[0].resources.limits.memory',
      'must be less than or equal to pod limits of 64Mi',
    ],
    [
      'container requests above the pod request',
      '{requests: {cpu: 500m}}',
      ['{requests: {cpu: 300m}}', '{requests: {cpu: 300m}}'],
      'spec.resources.requests.cpu',
      'must be greater than or equal to aggregate container requests of 600m',
    ],
    [
      'container requests above a pod limit (the defaulted request)',
      '{limits: {cpu: 500m}}',
      ['{requests: {cpu: 300m}}', '{requests: {cpu: 300m}}'],
      'spec.resources.limits.cpu',
      'aggregate container requests of 600m',
    ],
    ['a negative quantity', '{limits: {cpu: "-1"}}', [], 'spec.resources.limits.cpu', 'greater than or equal to 0'],
  ])('refuses %s', (_what, podRes, apps, path, message) => {
    const list = apps.length ? apps : [''];
    const found = problems(podText(podRes, list));
    expect(
      found.find((p) => p.startsWith(`${path}:`)),
      found.join('\n'),
    ).toContain(message);
  });

  it('counts sidecars with the apps and an init container on its own (the kubelet aggregate)', () => {
    const pod = parseFile(
      podText(
        '{limits: {memory: 1Gi}}',
        ['{requests: {memory: 100Mi}}'],
        [init('side', '{requests: {memory: 50Mi}}', true), init('setup', '{requests: {memory: 400Mi}}')],
      ),
      'p.yaml',
    ).pods[0]!.pod;
    expect(aggregateContainerRequests(pod).memory).toBe(450 * 2 ** 20); // setup (400) + side started before it (50) > apps (100) + side (50)
    expect(aggregateContainerRequests(pod).cpu).toBeUndefined();
  });

  it('defaults pod requests to the containers aggregate, else to the pod limit', () => {
    const pod = parseFile(podText('{limits: {cpu: "2", memory: 1Gi}}', ['{requests: {cpu: 250m}}']), 'p.yaml').pods[0]!.pod;
    expect(podLevelResources(pod)).toEqual({ limits: { cpu: 2, memory: 2 ** 30 }, requests: { cpu: 0.25, memory: 2 ** 30 } });
  });
});
