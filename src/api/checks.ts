/**
 * Checks across the fields of one validated Pod, the ones a schema cannot express: names
 * that must be unique or must refer to something declared, one-of choices, and the networks
 * annotation.
 */
import { Validator } from 'ip-num';
import { parseNetworksAnnotation } from './annotation.js';
import { EGRESS_BANDWIDTH_ANNOTATION, INGRESS_BANDWIDTH_ANNOTATION, parseBandwidth } from './capability-args.js';
import type { FieldPath } from './path.js';
import { NETWORKS_ANNOTATION, type Container, type Pod } from './pod.js';
import type { PodNetworkRef } from './types.js';
import { checkSecurity, descendingPathProblem } from './security.js';
import type { RawIssue } from './unsupported.js';
import { checkVolumes, DOWNWARD_RESOURCES, VOLUME_SOURCES } from './volume-checks.js';
import { bindsAnyIP, describeHostPort, hostPortsClash, hostPortsOf, type HostPortUse } from './host-ports.js';

export interface PodCheckResult {
  issues: RawIssue[];
  /** the annotation's networks; undefined when the pod has no networks annotation */
  networks?: PodNetworkRef[];
}

export function checkPod(pod: Pod): PodCheckResult {
  const issues: RawIssue[] = [];
  const error = (path: FieldPath, message: string, atKey = false): void => {
    issues.push({ severity: 'error', path, message, ...(atKey ? { atKey } : {}) });
  };
  const spec = pod.spec;
  const lists: Array<['containers' | 'initContainers', Container[]]> = [
    ['initContainers', spec.initContainers ?? []],
    ['containers', spec.containers],
  ];
  const allNames = new Set(lists.flatMap(([, cs]) => cs.map((c) => c.name)));

  // Volumes: unique names, exactly one source.
  const volumes = new Map<string, number>();
  (spec.volumes ?? []).forEach((v, i) => {
    const first = volumes.get(v.name);
    if (first !== undefined) error(['spec', 'volumes', i, 'name'], `duplicate volume name "${v.name}" (also spec.volumes[${first}])`);
    else volumes.set(v.name, i);
    const sources = VOLUME_SOURCES.filter((s) => v[s] !== undefined);
    if (sources.length === 0)
      error(['spec', 'volumes', i], `volume "${v.name}" needs a source: hostPath or emptyDir (or ${VOLUME_SOURCES.slice(2).join(', ')})`);
    if (sources.length > 1)
      error(['spec', 'volumes', i], `volume "${v.name}" has more than one source (${sources.join(', ')}): give exactly one`);
  });
  checkVolumes(pod, error);

  // Containers: unique names across containers and initContainers, mounts, env, ports, probes.
  const names = new Map<string, string>();
  for (const [list, containers] of lists) {
    containers.forEach((c, ci) => {
      const at = (...rest: Array<string | number>): FieldPath => ['spec', list, ci, ...rest];
      const first = names.get(c.name);
      if (first !== undefined) error(at('name'), `duplicate container name "${c.name}" (also ${first})`);
      else names.set(c.name, `spec.${list}[${ci}]`);

      const mountPaths = new Set<string>();
      (c.volumeMounts ?? []).forEach((m, mi) => {
        if (!volumes.has(m.name)) error(at('volumeMounts', mi, 'name'), `no volume named "${m.name}" in spec.volumes`);
        if (mountPaths.has(m.mountPath)) error(at('volumeMounts', mi, 'mountPath'), `"${m.mountPath}" is mounted twice`);
        mountPaths.add(m.mountPath);
        // As the API server: a local descending path, never absolute, never '..'.
        for (const field of ['subPath', 'subPathExpr'] as const) {
          const problem = descendingPathProblem(m[field]);
          if (problem) error(at('volumeMounts', mi, field), problem);
        }
        if (m.subPath && m.subPathExpr) error(at('volumeMounts', mi, 'subPathExpr'), 'subPathExpr and subPath are mutually exclusive');
      });

      (c.env ?? []).forEach((e, ei) => {
        if (e.valueFrom === undefined) return;
        if (e.value !== undefined) error(at('env', ei), `env "${e.name}" has both value and valueFrom: give one`);
        const { fieldRef, resourceFieldRef } = e.valueFrom;
        if (fieldRef === undefined && resourceFieldRef === undefined) {
          error(at('env', ei, 'valueFrom'), 'valueFrom needs fieldRef or resourceFieldRef');
        } else if (fieldRef !== undefined && resourceFieldRef !== undefined) {
          error(at('env', ei, 'valueFrom'), 'valueFrom has both fieldRef and resourceFieldRef: give one');
        }
        // fieldPath: pod-api-checks.ts
        if (fieldRef !== undefined) {
          if (fieldRef.apiVersion !== undefined && fieldRef.apiVersion !== 'v1') {
            error(at('env', ei, 'valueFrom', 'fieldRef', 'apiVersion'), `apiVersion must be "v1"`);
          }
        }
        if (resourceFieldRef !== undefined) {
          if (!(DOWNWARD_RESOURCES as readonly string[]).includes(resourceFieldRef.resource)) {
            error(at('env', ei, 'valueFrom', 'resourceFieldRef', 'resource'), `resource must be one of ${DOWNWARD_RESOURCES.join(', ')}`);
          }
          if (resourceFieldRef.containerName !== undefined && !allNames.has(resourceFieldRef.containerName)) {
            error(
              at('env', ei, 'valueFrom', 'resourceFieldRef', 'containerName'),
              `no container named "${resourceFieldRef.containerName}"`,
            );
          }
        }
      });

      (c.ports ?? []).forEach((p, pi) => {
        if (p.hostIP !== undefined && !Validator.isValidIPv4String(p.hostIP)[0] && !Validator.isValidIPv6String(p.hostIP)[0]) {
          error(at('ports', pi, 'hostIP'), `"${p.hostIP}" is not an IP address`);
        }
        if (p.hostPort === undefined) return;
        if (spec.hostNetwork && p.hostPort !== p.containerPort) {
          error(at('ports', pi, 'hostPort'), `with hostNetwork, hostPort must equal containerPort (${p.containerPort})`);
        }
      });

      for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
        const pr = c[probe];
        if (pr === undefined) continue;
        const handlers = (['exec', 'httpGet', 'tcpSocket', 'grpc'] as const).filter((h) => pr[h] !== undefined);
        if (handlers.length !== 1)
          error(
            at(probe),
            `a probe needs exactly one of exec, httpGet, tcpSocket, grpc${handlers.length ? ` (has ${handlers.join(', ')})` : ''}`,
          );
      }
      for (const hook of ['postStart', 'preStop'] as const) {
        const h = c.lifecycle?.[hook];
        if (h === undefined) continue;
        const handlers = (['exec', 'httpGet', 'tcpSocket', 'sleep'] as const).filter((k) => h[k] !== undefined);
        if (handlers.length !== 1)
          error(
            at('lifecycle', hook),
            `a lifecycle hook needs exactly one of exec, httpGet, tcpSocket, sleep${handlers.length ? ` (has ${handlers.join(', ')})` : ''}`,
          );
      }
    });
  }

  // Host ports of the pod: one socket each (0.0.0.0 and "" overlap every IP, as across pods: host-ports.ts).
  const taken: HostPortUse[] = [];
  for (const use of hostPortsOf(pod)) {
    const other = taken.find((t) => hostPortsClash(t, use));
    if (other)
      issues.push({
        severity: 'error',
        path: use.field,
        message: `hostPort ${describeHostPort(use)} is already used by ${other.path.replace(/\.(hostPort|containerPort)$/, '')}${bindsAnyIP(other.hostIP) === bindsAnyIP(use.hostIP) ? '' : ` (${describeHostPort(other)})`}`,
      });
    else taken.push(use);
  }

  // Bandwidth annotations (the bandwidth capability, in bits per second).
  for (const key of [INGRESS_BANDWIDTH_ANNOTATION, EGRESS_BANDWIDTH_ANNOTATION]) {
    const v = pod.metadata.annotations?.[key];
    if (v === undefined) continue;
    const parsed = parseBandwidth(v);
    if ('error' in parsed) error(['metadata', 'annotations', key], parsed.error);
    else if (spec.hostNetwork)
      issues.push({
        severity: 'warning',
        path: ['metadata', 'annotations', key],
        message: 'ignored: a pod with hostNetwork: true has no CNI attachment to shape',
      });
  }

  // Networks annotation.
  const annotationPath: FieldPath = ['metadata', 'annotations', NETWORKS_ANNOTATION];
  const annotation = pod.metadata.annotations?.[NETWORKS_ANNOTATION];
  let networks: PodNetworkRef[] | undefined;
  if (annotation !== undefined) {
    if (spec.hostNetwork) {
      error(
        annotationPath,
        'a pod with hostNetwork: true uses the host network and joins no other network: remove the annotation or hostNetwork',
      );
    } else {
      const parsed = parseNetworksAnnotation(annotation);
      for (const message of parsed.errors) error(annotationPath, message);
      networks = parsed.networks;
    }
  }
  issues.push(...checkSecurity(pod));
  return networks === undefined ? { issues } : { issues, networks };
}
