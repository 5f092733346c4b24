/**
 * The files of a `downwardAPI` volume, as the kubelet writes them (pure):
 * - `metadata.labels` / `metadata.annotations`: one `key="value"` line per entry, sorted by
 *   key, the value quoted as Go's `%q` does, no newline after the last (fieldpath.FormatMap);
 * - `metadata.labels['k']`, `metadata.annotations['k']`, `metadata.name`, `.namespace`,
 *   `.uid`: the value as it is;
 * - `resourceFieldRef`: the named container's limit or request divided by the divisor
 *   (default 1) and rounded up; cpu in cores (divisor 1) or millicores (divisor 1m). A
 *   limit that is not set is the node's allocatable (berth reserves nothing: all CPUs, all
 *   memory, the size of the filesystem of the pod dir), and a request not set is the limit
 *   when one is set (the API server's defaulting), else 0.
 * File modes: the item's `mode`, else `defaultMode`, else 0644.
 */
import { BerthError } from '../common/errors.js';
import { parseCpuMillis, parseQuantity } from '../runtime/quantity.js';
import type { Container, Pod, Volume } from '../api/pod.js';
import { downwardPathProblem, subscriptOf } from '../api/volume-checks.js';

export const DEFAULT_DOWNWARD_MODE = 0o644;

export interface PodIdentity {
  name: string;
  namespace: string;
  uid: string;
}

/** The node's allocatable resources (limits the containers leave unset). */
export interface NodeAllocatable {
  cpuCores: number;
  memoryBytes: number;
  ephemeralStorageBytes: number;
}

export interface DownwardFile {
  /** relative path inside the volume (checked: no `..`, not absolute) */
  path: string;
  data: string;
  mode: number;
}

/** Go's `strconv.Quote` for the strings of pod metadata. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if ((cp >= 0x80 && cp < 0xa0) || cp === 0xad || (cp >= 0xd800 && cp < 0xe000) || cp === 0xfeff || (cp >= 0x2028 && cp <= 0x2029)) {
      out += cp > 0xffff ? `\\U${cp.toString(16).padStart(8, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}

/** kubelet fieldpath.FormatMap. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${goQuote(m![k]!)}`)
    .join('\n');
}

function fieldValue(pod: Pod, id: PodIdentity, fieldPath: string): string {
  const sub = subscriptOf(fieldPath);
  if (sub) return pod.metadata[sub.map]?.[sub.key] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return id.name;
    case 'metadata.namespace':
      return id.namespace;
    case 'metadata.uid':
      return id.uid;
    case 'metadata.labels':
      return formatMap(pod.metadata.labels);
    case 'metadata.annotations':
      return formatMap(pod.metadata.annotations);
    default:
      throw new BerthError('InvalidArgument', `downwardAPI fieldRef "${fieldPath}" is not supported in a volume`);
  }
}

/** kubelet `ExtractContainerResourceValue` with node allocatable for unset limits. */
export function resourceValue(container: Container, resource: string, divisor: string | number | undefined, node: NodeAllocatable): string {
  const [kind, name] = resource.split('.') as [string, string];
  const limits = container.resources?.limits ?? {};
  const requests = container.resources?.requests ?? {};
  const isCpu = name === 'cpu';
  const allocatable = isCpu
    ? node.cpuCores
    : name === 'memory'
      ? node.memoryBytes
      : name === 'ephemeral-storage'
        ? node.ephemeralStorageBytes
        : undefined;
  if (allocatable === undefined || (kind !== 'limits' && kind !== 'requests'))
    throw new BerthError('InvalidArgument', `downwardAPI resource "${resource}" is not supported`);
  let q: string | number | undefined = kind === 'limits' ? limits[name] : (requests[name] ?? limits[name]);
  if (q === undefined) q = kind === 'limits' ? allocatable : 0;
  const d = divisor === undefined ? 1 : parseQuantity(divisor);
  if (!(d > 0)) throw new BerthError('InvalidArgument', `downwardAPI resource "${resource}": divisor must be positive`);
  if (isCpu) return String(Math.ceil(parseCpuMillis(q) / Math.round(d * 1000)));
  return String(Math.ceil(parseQuantity(q) / d));
}

/** The files of the volume `v` of `pod`. */
export function downwardApiFiles(pod: Pod, v: Volume, id: PodIdentity, node: NodeAllocatable): DownwardFile[] {
  const src = v.downwardAPI;
  if (!src) throw new BerthError('Internal', `volume ${v.name} is not a downwardAPI volume`);
  const containers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  return (src.items ?? []).map((item) => {
    const problem = downwardPathProblem(item.path);
    if (problem) throw new BerthError('InvalidArgument', `downwardAPI volume "${v.name}": path "${item.path}" ${problem}`);
    const path = item.path
      .split('/')
      .filter((p) => p !== '' && p !== '.')
      .join('/');
    const mode = item.mode ?? src.defaultMode ?? DEFAULT_DOWNWARD_MODE;
    if (item.fieldRef) return { path, mode, data: fieldValue(pod, id, item.fieldRef.fieldPath) };
    const r = item.resourceFieldRef;
    if (!r)
      throw new BerthError('InvalidArgument', `downwardAPI volume "${v.name}": item "${item.path}" needs fieldRef or resourceFieldRef`);
    const c = containers.find((x) => x.name === r.containerName);
    if (!c)
      throw new BerthError(
        'InvalidArgument',
        `downwardAPI volume "${v.name}": item "${item.path}": no container named "${r.containerName ?? ''}"`,
      );
    return { path, mode, data: resourceValue(c, r.resource, r.divisor, node) };
  });
}
