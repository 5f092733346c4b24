/**
 * Files a pod's apps see that berth writes: /etc/hosts, /etc/hostname, /etc/resolv.conf
 * (bind-mounted read-only), and the pod's emptyDir volumes.
 */
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomic, makeDirs } from '../common/fs.js';
import type { Pod } from '../api/pod.js';
import { podFqdn, podOwnHostname } from '../api/pod-api-checks.js';

export interface EtcFiles {
  '/etc/hosts': string;
  '/etc/hostname': string;
  '/etc/resolv.conf': string;
}

/**
 * The pod's hostname, as the kubelet sets it: the node's for hostNetwork pods (they share its
 * UTS namespace), else spec.hostname or the pod name (cut to 63 characters); with
 * setHostnameAsFQDN and a subdomain, the FQDN (hostname.subdomain.namespace.svc.cluster.local).
 */
export function podHostname(pod: Pod): string {
  if (pod.spec.hostNetwork) return hostname();
  const own = podOwnHostname(pod);
  return (pod.spec.setHostnameAsFQDN && podFqdn(pod, own)) || own;
}

/** The node's name, as the kubelet reports it in spec.nodeName of a static pod: its hostname, lowercase. */
export function nodeName(): string {
  return hostname().toLowerCase();
}

/** The interfaces of the default routes (IPv4 from /proc/net/route, IPv6 from /proc/net/ipv6_route). */
function defaultRouteInterfaces(): string[] {
  const out: string[] = [];
  const read = (path: string): string[] => {
    try {
      return readFileSync(path, 'utf8').split('\n');
    } catch {
      return []; // no IPv6 (no ipv6_route) or no /proc: no default route of that family
    }
  };
  for (const line of read('/proc/net/route').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === '00000000' && f[7] === '00000000' && f[0]) out.push(f[0]);
  }
  for (const line of read('/proc/net/ipv6_route')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === '0'.repeat(32) && f[1] === '00' && f[9] && f[9] !== 'lo') out.push(f[9]);
  }
  return [...new Set(out)];
}

/**
 * The node's IPs (status.hostIP(s)), as the kubelet picks its node IP without --node-ip: the
 * addresses of the interface of the default route (IPv4 first, link-local IPv6 left out), so
 * that pod bridges and veths never count; without a default route, every non-loopback address.
 */
export function nodeIPs(): string[] {
  const ifaces = networkInterfaces();
  const routed = defaultRouteInterfaces().filter((n) => ifaces[n]?.length);
  const pick = routed.length ? routed : Object.keys(ifaces);
  const all = pick.flatMap((n) => ifaces[n] ?? []);
  const usable = all.filter((a) => !a.internal && !(a.family === 'IPv6' && /^fe80:/i.test(a.address)));
  const v4 = usable.filter((a) => a.family === 'IPv4').map((a) => a.address);
  const v6 = usable.filter((a) => a.family === 'IPv6').map((a) => a.address);
  return [...new Set([...v4, ...v6])];
}

/**
 * /etc/hosts as the kubelet writes it: for a pod with its own network localhost, each pod IP
 * with the FQDN (when the pod has a subdomain) and the hostname, then the hostAliases; for a
 * hostNetwork pod the node's own /etc/hosts (`nodeHosts`), then the hostAliases.
 */
export function hostsFile(pod: Pod, ips: string[], nodeHosts?: string): string {
  if (pod.spec.hostNetwork && nodeHosts !== undefined) {
    const aliases = (pod.spec.hostAliases ?? []).map((a) => `${a.ip}\t${a.hostnames.join(' ')}`);
    const base = nodeHosts.endsWith('\n') || nodeHosts === '' ? nodeHosts : `${nodeHosts}\n`;
    return aliases.length ? `${base}\n# Entries added by HostAliases.\n${aliases.join('\n')}\n` : base;
  }
  const name = pod.spec.hostNetwork ? hostname() : podOwnHostname(pod);
  const fqdn = pod.spec.hostNetwork ? undefined : podFqdn(pod, name);
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const ip of ips) lines.push(fqdn ? `${ip}\t${fqdn}\t${name}` : `${ip}\t${name}`);
  for (const a of pod.spec.hostAliases ?? []) lines.push(`${a.ip}\t${a.hostnames.join(' ')}`);
  return `# written by berth\n${lines.join('\n')}\n`;
}

export async function resolvConf(pod: Pod, hostResolv = '/etc/resolv.conf'): Promise<string> {
  const dns = pod.spec.dnsConfig;
  let base = '';
  if (pod.spec.dnsPolicy !== 'None') base = (await readTextIfExists(hostResolv)) ?? '';
  if (!dns) return base;
  const lines = base.split('\n').filter((l) => l.trim() && !(dns.nameservers?.length && l.startsWith('nameserver')));
  for (const ns of dns.nameservers ?? []) lines.push(`nameserver ${ns}`);
  if (dns.searches?.length) lines.push(`search ${dns.searches.join(' ')}`);
  if (dns.options?.length) lines.push(`options ${dns.options.map((o) => (o.value ? `${o.name}:${o.value}` : o.name)).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** Write the pod's etc files under `dir`; returns container path → host path. */
export async function writeEtcFiles(dir: string, pod: Pod, ips: string[], nodeHostsPath = '/etc/hosts'): Promise<Record<string, string>> {
  await makeDirs(dir);
  const nodeHosts = pod.spec.hostNetwork ? await readTextIfExists(nodeHostsPath) : undefined;
  const files: EtcFiles = {
    '/etc/hosts': hostsFile(pod, ips, nodeHosts),
    '/etc/hostname': `${podHostname(pod)}\n`,
    '/etc/resolv.conf': await resolvConf(pod),
  };
  const out: Record<string, string> = {};
  for (const [target, content] of Object.entries(files)) {
    const host = join(dir, target.slice('/etc/'.length));
    await writeFileAtomic(host, content);
    out[target] = host;
  }
  return out;
}
