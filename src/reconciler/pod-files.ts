/**
 * Files a pod's apps see that berth writes: /etc/hosts, /etc/hostname, /etc/resolv.conf
 * (bind-mounted read-only), and the pod's emptyDir volumes.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/fs.js';
import type { Pod } from '../spec/pod.js';
import { podFqdn, podOwnHostname } from '../spec/pod-api-checks.js';

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

/**
 * The node's IPs (status.hostIP(s)): the addresses of its non-loopback interfaces, IPv4 first
 * (the kubelet's node IP family order), link-local IPv6 left out.
 */
export function nodeIPs(): string[] {
  const all = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  const usable = all.filter((a) => !a.internal && !(a.family === 'IPv6' && /^fe80:/i.test(a.address)));
  const v4 = usable.filter((a) => a.family === 'IPv4').map((a) => a.address);
  const v6 = usable.filter((a) => a.family === 'IPv6').map((a) => a.address);
  return [...new Set([...v4, ...v6])];
}

/**
 * /etc/hosts as the kubelet writes it for a pod with its own network: localhost, each pod IP
 * with the FQDN (when the pod has a subdomain) and the hostname, then the hostAliases.
 */
export function hostsFile(pod: Pod, ips: string[]): string {
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
  if (pod.spec.dnsPolicy !== 'None') base = await readFile(hostResolv, 'utf8').catch(() => '');
  if (!dns) return base;
  const lines = base.split('\n').filter((l) => l.trim() && !(dns.nameservers?.length && l.startsWith('nameserver')));
  for (const ns of dns.nameservers ?? []) lines.push(`nameserver ${ns}`);
  if (dns.searches?.length) lines.push(`search ${dns.searches.join(' ')}`);
  if (dns.options?.length) lines.push(`options ${dns.options.map((o) => (o.value ? `${o.name}:${o.value}` : o.name)).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** Write the pod's etc files under `dir`; returns container path → host path. */
export async function writeEtcFiles(dir: string, pod: Pod, ips: string[]): Promise<Record<string, string>> {
  await mkdir(dir, { recursive: true });
  const files: EtcFiles = {
    '/etc/hosts': hostsFile(pod, ips),
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
