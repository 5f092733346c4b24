/**
 * What the API server refuses about probes and lifecycle hooks (k8s.io/kubernetes
 * pkg/apis/core/validation: validateProbe, validateLifecycle, validateInitContainers), checked
 * on the raw document so that berth, which runs them, never runs what a cluster would refuse:
 * - liveness and startup probes need successThreshold 1 (0 is defaulted to 1, as the API server does);
 * - a readiness probe has no terminationGracePeriodSeconds (it never kills);
 * - init containers that run to completion have no probes and no lifecycle (sidecars,
 *   restartPolicy: Always, may);
 * - tcpSocket lifecycle handlers are kept by the API for compatibility but the kubelet does
 *   not run them ("invalid handler"): refused here instead of failing every start.
 */
import type { FieldPath } from './path.js';
import type { RawIssue } from './unsupported.js';

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

const PROBES = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;

export function probeIssues(list: 'containers' | 'initContainers', ci: number, c: Record<string, unknown>): RawIssue[] {
  const issues: RawIssue[] = [];
  const at = (...p: Array<string | number>): FieldPath => ['spec', list, ci, ...p];
  const sidecar = list === 'initContainers' && c['restartPolicy'] === 'Always';
  if (list === 'initContainers' && !sidecar) {
    for (const f of [...PROBES, 'lifecycle'] as const) {
      if (f in c)
        issues.push({
          severity: 'error',
          path: at(f),
          message: `${f} must not be set for init containers that run to completion (only for sidecars, restartPolicy: Always)`,
          atKey: true,
        });
    }
    return issues;
  }
  for (const f of PROBES) {
    const p = c[f];
    if (!isObject(p)) continue;
    if (f !== 'readinessProbe' && p['successThreshold'] !== undefined && p['successThreshold'] !== 1 && p['successThreshold'] !== 0) {
      issues.push({
        severity: 'error',
        path: at(f, 'successThreshold'),
        message: `must be 1 for a ${f === 'livenessProbe' ? 'liveness' : 'startup'} probe`,
      });
    }
    if (f === 'readinessProbe' && 'terminationGracePeriodSeconds' in p) {
      issues.push({
        severity: 'error',
        path: at(f, 'terminationGracePeriodSeconds'),
        message: 'must not be set for a readiness probe (it never stops the app)',
        atKey: true,
      });
    }
  }
  const lc = c['lifecycle'];
  if (isObject(lc)) {
    for (const hook of ['postStart', 'preStop'] as const) {
      const h = lc[hook];
      if (isObject(h) && 'tcpSocket' in h) {
        issues.push({
          severity: 'error',
          path: at('lifecycle', hook, 'tcpSocket'),
          message:
            'tcpSocket is not supported by berth as a lifecycle handler: the kubelet does not run it either (the API keeps it for compatibility only); use exec, httpGet or sleep',
          atKey: true,
        });
      }
    }
  }
  return issues;
}
