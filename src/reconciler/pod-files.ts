/**
 * Files a pod's apps see that berth writes: /etc/hosts, /etc/hostname, /etc/resolv.conf
 * (bind-mounted read-only), and the pod's emptyDir volumes.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/fs.js';
import type { Pod } from '../spec/pod.js';

export interface EtcFiles {
  '/etc/hosts': string;
  '/etc/hostname': string;
  '/etc/resolv.conf': string;
}

/** The pod's hostname: the node's for hostNetwork pods (they share its UTS namespace), else hostname or the pod name. */
export function podHostname(pod: Pod): string {
  if (pod.spec.hostNetwork) return hostname();
  return (pod.spec.hostname ?? pod.metadata.name).slice(0, 63);
}

export function hostsFile(pod: Pod, ips: string[]): string {
  const name = podHostname(pod);
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const ip of ips) lines.push(`${ip}\t${name}`);
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
