/**
 * Checks of the volume sources the schema cannot express, as the API server makes them
 * (validation.go `validateDownwardAPIVolumeSource`, `validateLocalNonReservedPath`,
 * `validateContainerResourceDivisor`).
 */
import type { FieldPath } from './path.js';
import type { Pod } from './pod.js';
import { parseKubeQuantity } from './capability-args.js';

/** Volume sources berth mounts (checks.ts: exactly one per volume). */
export const VOLUME_SOURCES = ['hostPath', 'emptyDir', 'downwardAPI', 'image'] as const;

/** fieldRef paths of a downwardAPI volume file (the API server's list for volumes). */
export const DOWNWARD_VOLUME_FIELDS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'metadata.labels',
  'metadata.annotations',
] as const;

/** resourceFieldRef resources the kubelet fills in (hugepages are not offered by berth). */
export const DOWNWARD_RESOURCES = [
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'requests.cpu',
  'requests.memory',
  'requests.ephemeral-storage',
] as const;

const CPU_DIVISORS = ['1m', '1'];
const BYTE_DIVISORS = ['1', '1k', '1M', '1G', '1T', '1P', '1E', '1Ki', '1Mi', '1Gi', '1Ti', '1Pi', '1Ei'];

/** A downwardAPI file path: relative, no `..` element, not starting with `..` (reserved for the atomic writer). */
export function downwardPathProblem(path: string): string | undefined {
  if (path.startsWith('/')) return 'must be a relative path';
  if (path.split('/').includes('..')) return "must not contain '..'";
  if (path.startsWith('..')) return "must not start with '..'";
  if (path.includes('\0')) return 'must not contain NUL';
  if (path.split('/').every((p) => p === '' || p === '.')) return 'must name a file';
  return undefined;
}

/** `metadata.labels['key']` / `metadata.annotations['key']`, or undefined. */
export function subscriptOf(fieldPath: string): { map: 'labels' | 'annotations'; key: string } | undefined {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  return m ? { map: m[1] as 'labels' | 'annotations', key: m[2]! } : undefined;
}

export function checkVolumes(pod: Pod, error: (path: FieldPath, message: string) => void): void {
  const containers = new Set([...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c) => c.name));
  (pod.spec.volumes ?? []).forEach((v, vi) => {
    const d = v.downwardAPI;
    if (d) {
      (d.items ?? []).forEach((item, ii) => {
        const at = (...rest: Array<string | number>): FieldPath => ['spec', 'volumes', vi, 'downwardAPI', 'items', ii, ...rest];
        const problem = downwardPathProblem(item.path);
        if (problem) error(at('path'), problem);
        if (!!item.fieldRef === !!item.resourceFieldRef) error(at(), 'give exactly one of fieldRef and resourceFieldRef');
        if (item.fieldRef) {
          const fp = item.fieldRef.fieldPath;
          if (!(DOWNWARD_VOLUME_FIELDS as readonly string[]).includes(fp) && !subscriptOf(fp)) {
            error(
              at('fieldRef', 'fieldPath'),
              `"${fp}" is not supported in a downwardAPI volume: supported values: ${DOWNWARD_VOLUME_FIELDS.join(', ')}, metadata.labels['KEY'], metadata.annotations['KEY']`,
            );
          }
          if (item.fieldRef.apiVersion !== undefined && item.fieldRef.apiVersion !== 'v1')
            error(at('fieldRef', 'apiVersion'), 'must be v1');
        }
        const r = item.resourceFieldRef;
        if (r) {
          if (!r.containerName) error(at('resourceFieldRef', 'containerName'), 'required in a downwardAPI volume');
          else if (!containers.has(r.containerName))
            error(at('resourceFieldRef', 'containerName'), `no container named "${r.containerName}" in the pod`);
          if (!(DOWNWARD_RESOURCES as readonly string[]).includes(r.resource))
            error(
              at('resourceFieldRef', 'resource'),
              `"${r.resource}" is not supported: supported values: ${DOWNWARD_RESOURCES.join(', ')}`,
            );
          else if (r.divisor !== undefined) {
            const allowed = r.resource.endsWith('.cpu') ? CPU_DIVISORS : BYTE_DIVISORS;
            const d = parseKubeQuantity(String(r.divisor));
            const ok = d !== undefined && allowed.some((a) => parseKubeQuantity(a) === d);
            if (!ok) error(at('resourceFieldRef', 'divisor'), `must be one of ${allowed.join(', ')} for ${r.resource}`);
          }
        }
      });
    }
  });
}
