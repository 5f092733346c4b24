/** Probes and lifecycle hooks are accepted (berth runs them) and checked as the API server does. */
import { describe, expect, it } from 'vitest';
import { parseFile } from '../../../src/api/index.js';
import { errors, podYaml } from './helpers.js';

const withContainer = (lines: string) => podYaml('p').replace('image: busybox\n', `image: busybox\n${lines}\n`);
const withInit = (lines: string) =>
  podYaml('p').replace('  containers:\n', `  initContainers:\n    - name: init\n      image: busybox\n${lines}\n  containers:\n`);

describe('probe and lifecycle checks', () => {
  it('accepts every probe kind and exec/httpGet/sleep hooks', () => {
    const parsed = parseFile(
      withContainer(`      livenessProbe: {exec: {command: ["true"]}, initialDelaySeconds: 5, periodSeconds: 3, terminationGracePeriodSeconds: 2}
      readinessProbe: {httpGet: {path: /healthz, port: 8080}, successThreshold: 2}
      startupProbe: {tcpSocket: {port: 8080}, failureThreshold: 30}
      lifecycle:
        postStart: {exec: {command: [sh, -c, "echo hi"]}}
        preStop: {sleep: {seconds: 1}}`),
      'p.yaml',
    );
    expect(errors(parsed.issues)).toEqual([]);
  });

  it.each([
    [
      'liveness successThreshold 2',
      withContainer('      livenessProbe: {exec: {command: [true]}, successThreshold: 2}'),
      'spec.containers[0].livenessProbe.successThreshold',
      'must be 1',
    ],
    [
      'startup successThreshold 3',
      withContainer('      startupProbe: {exec: {command: [true]}, successThreshold: 3}'),
      'spec.containers[0].startupProbe.successThreshold',
      'must be 1',
    ],
    [
      'readiness terminationGracePeriodSeconds',
      withContainer('      readinessProbe: {exec: {command: [true]}, terminationGracePeriodSeconds: 3}'),
      'spec.containers[0].readinessProbe.terminationGracePeriodSeconds',
      'must not be set',
    ],
    [
      'a tcpSocket preStop',
      withContainer('      lifecycle: {preStop: {tcpSocket: {port: 80}}}'),
      'spec.containers[0].lifecycle.preStop.tcpSocket',
      'is not supported by berth',
    ],
    [
      'a probe on an init container',
      withInit('      readinessProbe: {exec: {command: [true]}}'),
      'spec.initContainers[0].readinessProbe',
      'must not be set for init containers',
    ],
    [
      'a hook on an init container',
      withInit('      lifecycle: {postStart: {exec: {command: [true]}}}'),
      'spec.initContainers[0].lifecycle',
      'must not be set for init containers',
    ],
  ])('refuses %s', (_what, text, path, message) => {
    const issues = errors(parseFile(text, 'p.yaml').issues);
    expect(issues.map((i) => i.path)).toContain(path);
    expect(issues.find((i) => i.path === path)?.message).toContain(message);
  });

  it('defaults counts set to 0 as the API server does (0 is unset for an int32), and refuses negatives', async () => {
    const { probeSettings } = await import('../../../src/state-machines/probe.machine.js');
    const parsed = parseFile(
      withContainer(
        '      livenessProbe: {exec: {command: ["true"]}, periodSeconds: 0, timeoutSeconds: 0, successThreshold: 0, failureThreshold: 0}',
      ),
      'p.yaml',
    );
    expect(errors(parsed.issues)).toEqual([]);
    const probe = parsed.pods[0]!.pod.spec.containers[0]!.livenessProbe;
    expect(probeSettings(probe)).toEqual({
      initialDelayMs: 0,
      periodMs: 10_000,
      timeoutMs: 1000,
      successThreshold: 1,
      failureThreshold: 3,
    });
    const bad = errors(parseFile(withContainer('      readinessProbe: {exec: {command: ["true"]}, periodSeconds: -1}'), 'p.yaml').issues);
    expect(bad.map((i) => i.path)).toContain('spec.containers[0].readinessProbe.periodSeconds');
  });
});
