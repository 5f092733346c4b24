/**
 * The host ports a pod binds, and when two of them clash: one rule for the ports of one pod
 * (checks.ts) and for ports across pods (resolve.ts). A port is (protocol, host IP, port);
 * a host IP of "", 0.0.0.0 or :: binds every address, so it clashes with the same protocol
 * and port on any IP; two specific IPs clash only when equal. With hostNetwork every
 * containerPort is a port of the host.
 */
import { formatPath, type FieldPath } from './path.js';
import type { Pod } from './pod.js';

export interface HostPortUse {
  protocol: string;
  /** "" when the port binds every address */
  hostIP: string;
  port: number;
  /** the hostPort's field (containerPort with hostNetwork) */
  field: FieldPath;
  /** the same, formatted */
  path: string;
}

const ANY_IP = new Set(['', '0.0.0.0', '::']);

export const bindsAnyIP = (hostIP: string): boolean => ANY_IP.has(hostIP);

/** Whether two host port uses need the same socket. */
export function hostPortsClash(a: HostPortUse, b: HostPortUse): boolean {
  if (a.protocol !== b.protocol || a.port !== b.port) return false;
  return bindsAnyIP(a.hostIP) || bindsAnyIP(b.hostIP) || a.hostIP === b.hostIP;
}

/** The host ports of a pod, init containers first. */
export function hostPortsOf(pod: Pod): HostPortUse[] {
  const out: HostPortUse[] = [];
  const lists = [
    ['initContainers', pod.spec.initContainers ?? []],
    ['containers', pod.spec.containers],
  ] as const;
  for (const [list, containers] of lists) {
    containers.forEach((c, ci) => {
      (c.ports ?? []).forEach((p, pi) => {
        const port = p.hostPort ?? (pod.spec.hostNetwork ? p.containerPort : undefined);
        if (port === undefined) return;
        const field: FieldPath = ['spec', list, ci, 'ports', pi, p.hostPort !== undefined ? 'hostPort' : 'containerPort'];
        out.push({ protocol: p.protocol, hostIP: p.hostIP ?? '', port, field, path: formatPath(field) });
      });
    });
  }
  return out;
}

/** `8080/TCP`, with ` on IP` for a specific address. */
export function describeHostPort(u: HostPortUse): string {
  return `${u.port}/${u.protocol}${bindsAnyIP(u.hostIP) ? '' : ` on ${u.hostIP}`}`;
}
