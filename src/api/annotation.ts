/**
 * The pod networks annotation `k8s.v1.cni.cncf.io/networks` (the Multus convention):
 * - short form: `"a, b"`, `"a@eth1"`, `"ns/a@eth1"` (the namespace is accepted and ignored);
 * - JSON form: `[{"name": "a", "interface": "eth1", "ips": ["10.1.0.5/24"], "mac": "…"}]`.
 * Interfaces default by position: the first network gets `eth0`, the next `net1`, `net2`…
 */
import { Validator } from 'ip-num';
import { CNI_NETWORK_NAME } from './network.js';
import type { PodNetworkRef } from './types.js';

export interface AnnotationResult {
  networks: PodNetworkRef[];
  errors: string[];
}

const JSON_KEYS = new Set(['name', 'namespace', 'interface', 'ips', 'mac']);
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The interface name used when the annotation names none, by position. */
export function defaultInterface(index: number): string {
  return index === 0 ? 'eth0' : `net${index}`;
}

/** A Linux interface name: 1–15 bytes, no "/", ":" or whitespace, not "." or "..". */
export function isValidIfName(name: string): boolean {
  return name.length > 0 && name.length <= 15 && !/[/:\s]/.test(name) && name !== '.' && name !== '..';
}

export function parseNetworksAnnotation(value: string): AnnotationResult {
  const text = value.trim();
  const errors: string[] = [];
  const entries: Array<{ name: string; interface?: string; ips?: string[]; mac?: string }> = [];
  if (text === '') {
    errors.push('is empty: name at least one network, or remove the annotation to use the default network');
    return { networks: [], errors };
  }
  if (text.startsWith('[') || text.startsWith('{')) parseJsonForm(text, entries, errors);
  else parseShortForm(text, entries, errors);

  const networks: PodNetworkRef[] = [];
  const seen = new Map<string, number>();
  entries.forEach((entry, index) => {
    const ref: PodNetworkRef = { name: entry.name, interface: entry.interface ?? defaultInterface(index) };
    if (entry.ips !== undefined) ref.ips = entry.ips;
    if (entry.mac !== undefined) ref.mac = entry.mac;
    const first = seen.get(ref.interface);
    if (first !== undefined) {
      errors.push(`networks ${first + 1} and ${index + 1} both use interface "${ref.interface}": interface names must be unique`);
    } else {
      seen.set(ref.interface, index);
    }
    networks.push(ref);
  });
  return { networks, errors };
}

function parseShortForm(text: string, out: Array<{ name: string; interface?: string }>, errors: string[]): void {
  text.split(',').forEach((raw, i) => {
    const item = raw.trim();
    const where = `network ${i + 1}`;
    if (item === '') {
      errors.push(`${where} is empty (a stray ",")`);
      return;
    }
    const m = /^(?:([^/@]+)\/)?([^/@]+)(?:@(.*))?$/.exec(item);
    if (!m) {
      errors.push(`${where} "${item}" is not of the form [namespace/]name[@interface]`);
      return;
    }
    const [, namespace, name = '', iface] = m;
    if (namespace !== undefined && !NAMESPACE.test(namespace)) errors.push(`${where}: namespace "${namespace}" is not a DNS-1123 label`);
    if (!checkName(name, where, errors)) return;
    if (iface !== undefined && !checkIfName(iface, where, errors)) return;
    out.push(iface === undefined ? { name } : { name, interface: iface });
  });
}

function parseJsonForm(
  text: string,
  out: Array<{ name: string; interface?: string; ips?: string[]; mac?: string }>,
  errors: string[],
): void {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    errors.push(`is not valid JSON: ${(err as Error).message}`);
    return;
  }
  if (!Array.isArray(data)) {
    errors.push('must be a JSON list of {name, interface, ips, mac} objects, or "a, b" names');
    return;
  }
  if (data.length === 0) {
    errors.push('is an empty list: name at least one network, or remove the annotation to use the default network');
    return;
  }
  data.forEach((item: unknown, i) => {
    const where = `network ${i + 1}`;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      errors.push(`${where} must be an object {name, interface, ips, mac}`);
      return;
    }
    const obj = item as Record<string, unknown>;
    let ok = true;
    for (const key of Object.keys(obj)) {
      if (!JSON_KEYS.has(key)) {
        errors.push(`${where}: unknown field "${key}" (berth supports name, namespace, interface, ips, mac)`);
        ok = false;
      }
    }
    const { name, namespace, interface: iface, ips, mac } = obj;
    if (typeof name !== 'string') {
      errors.push(`${where}: "name" must be a string`);
      return;
    }
    ok = checkName(name, where, errors) && ok;
    if (namespace !== undefined && (typeof namespace !== 'string' || !NAMESPACE.test(namespace))) {
      errors.push(`${where}: "namespace" must be a DNS-1123 label`);
      ok = false;
    }
    if (iface !== undefined) {
      if (typeof iface !== 'string') {
        errors.push(`${where}: "interface" must be a string`);
        ok = false;
      } else {
        ok = checkIfName(iface, where, errors) && ok;
      }
    }
    if (ips !== undefined) {
      if (!Array.isArray(ips) || ips.some((ip) => typeof ip !== 'string')) {
        errors.push(`${where}: "ips" must be a list of strings`);
        ok = false;
      } else {
        for (const ip of ips as string[]) {
          if (!isIpOrCidr(ip)) {
            errors.push(`${where}: "${ip}" is not an IP address or CIDR (e.g. 10.1.0.5/24)`);
            ok = false;
          }
        }
      }
    }
    if (mac !== undefined && (typeof mac !== 'string' || !MAC.test(mac))) {
      errors.push(`${where}: "mac" must be a MAC address such as 02:00:00:00:00:01`);
      ok = false;
    }
    if (!ok) return;
    const entry: { name: string; interface?: string; ips?: string[]; mac?: string } = { name };
    if (typeof iface === 'string') entry.interface = iface;
    if (ips !== undefined) entry.ips = [...(ips as string[])];
    if (typeof mac === 'string') entry.mac = mac;
    out.push(entry);
  });
}

function checkName(name: string, where: string, errors: string[]): boolean {
  if (name.length > 0 && name.length <= 63 && CNI_NETWORK_NAME.test(name)) return true;
  errors.push(`${where}: "${name}" is not a network name (letters, digits, "_", "." and "-")`);
  return false;
}

function checkIfName(name: string, where: string, errors: string[]): boolean {
  if (isValidIfName(name)) return true;
  errors.push(`${where}: "${name}" is not an interface name (1–15 characters, no "/", ":" or spaces)`);
  return false;
}

function isIpOrCidr(s: string): boolean {
  if (s.includes('/')) return Validator.isValidIPv4CidrNotation(s)[0] || Validator.isValidIPv6CidrNotation(s)[0];
  return Validator.isValidIPv4String(s)[0] || Validator.isValidIPv6String(s)[0];
}
