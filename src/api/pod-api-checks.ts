/**
 * The API server's checks of a Pod that the schema cannot express, for the fields berth
 * honours (k8s pkg/apis/core/validation, read for its rules and limits, worded here):
 * port names (IANA_SVC_NAME) unique per container, resource names and requests ≤ limits,
 * hostAliases, dnsConfig (3 nameservers, 32 search domains, 2048 characters), probe
 * and hook ports (a named port must be declared by the container; successThreshold is
 * probe-checks.ts's), lifecycle.stopSignal, restartPolicy only on init
 * containers, env fieldRef paths, the FQDN length of setHostnameAsFQDN, pod-level resources
 * (pod-resources.ts) and shareProcessNamespace without hostPID.
 */
import { Validator } from 'ip-num';
import { parseKubeQuantity } from './capability-args.js';
import type { FieldPath } from './path.js';
import type { Container, Pod } from './pod.js';
import { qualifiedNameProblems } from './limits.js';
import { checkPodResources } from './pod-resources.js';
import type { RawIssue } from './unsupported.js';

/** The cluster domain of berth pods' FQDNs (`hostname.subdomain.namespace.svc.cluster.local`). */
export const CLUSTER_DOMAIN = 'cluster.local';
/** The kernel's limit on a hostname that setHostnameAsFQDN must respect (the kubelet's too). */
export const MAX_FQDN_LENGTH = 64;
export const MAX_DNS_NAMESERVERS = 3;
export const MAX_DNS_SEARCH_PATHS = 32;
export const MAX_DNS_SEARCH_LIST_CHARS = 2048;

/** fieldRef paths of container env the kubelet fills in (and berth with it). */
export const ENV_FIELD_PATHS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  "metadata.labels['<KEY>']",
  "metadata.annotations['<KEY>']",
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
] as const;
const PLAIN_ENV_FIELD_PATHS = new Set(ENV_FIELD_PATHS.filter((p) => !p.includes('[')));

/** Signals lifecycle.stopSignal takes on Linux (the API server's list). */
export const LINUX_STOP_SIGNALS = [
  'SIGABRT',
  'SIGALRM',
  'SIGBUS',
  'SIGCHLD',
  'SIGCLD',
  'SIGCONT',
  'SIGFPE',
  'SIGHUP',
  'SIGILL',
  'SIGINT',
  'SIGIO',
  'SIGIOT',
  'SIGKILL',
  'SIGPIPE',
  'SIGPOLL',
  'SIGPROF',
  'SIGPWR',
  'SIGQUIT',
  'SIGSEGV',
  'SIGSTKFLT',
  'SIGSTOP',
  'SIGSYS',
  'SIGTERM',
  'SIGTRAP',
  'SIGTSTP',
  'SIGTTIN',
  'SIGTTOU',
  'SIGURG',
  'SIGUSR1',
  'SIGUSR2',
  'SIGVTALRM',
  'SIGWINCH',
  'SIGXCPU',
  'SIGXFSZ',
  ...Array.from({ length: 15 }, (_, i) => `SIGRTMIN+${i + 1}`),
  'SIGRTMIN',
  ...Array.from({ length: 14 }, (_, i) => `SIGRTMAX-${14 - i}`),
  'SIGRTMAX',
] as const;

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const isIP = (s: string): boolean => Validator.isValidIPv4String(s)[0] || Validator.isValidIPv6String(s)[0];

/** Why `name` is not an IANA service name (a port name), in the API server's words, or undefined. */
export function portNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 15) return 'must be no more than 15 characters';
  if (!/^[-a-z0-9]+$/.test(name)) return 'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)';
  if (!/[a-z]/.test(name)) return 'must contain at least one letter (a-z)';
  if (name.includes('--')) return 'must not contain consecutive hyphens';
  if (name.startsWith('-') || name.endsWith('-')) return 'must not begin or end with a hyphen';
  return undefined;
}

/** Why `s` is not a DNS-1123 subdomain (≤ 253 characters), or undefined. */
export function subdomainProblem(s: string): string | undefined {
  if (s.length > 253) return 'must be no more than 253 characters';
  if (!DNS1123_SUBDOMAIN.test(s))
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
  return undefined;
}

/** `metadata.labels['k']` / `metadata.annotations['k']` → its parts. */
function subscript(fieldPath: string): { map: string; key: string } | undefined {
  const m = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(fieldPath);
  return m ? { map: m[1]!, key: m[2]! } : undefined;
}

/** Why an env fieldRef path is not one the kubelet fills in, or undefined. */
export function envFieldPathProblem(fieldPath: string): string | undefined {
  if (PLAIN_ENV_FIELD_PATHS.has(fieldPath as never)) return undefined;
  const sub = subscript(fieldPath);
  if (sub) {
    const bad = qualifiedNameProblems(sub.key.toLowerCase());
    return bad.length ? `invalid key "${sub.key}" in ${sub.map}: ${bad.join('; ')}` : undefined;
  }
  if (fieldPath === 'metadata.labels' || fieldPath === 'metadata.annotations') {
    return `fieldPath "${fieldPath}" is only valid in a downwardAPI volume; in env name one key: ${fieldPath}['<KEY>']`;
  }
  return `fieldPath "${fieldPath}" is not supported: the kubelet (and berth) fill in ${ENV_FIELD_PATHS.join(', ')}`;
}

/** The pod's FQDN as the kubelet makes it (hostname.subdomain.namespace.svc.cluster-domain), or undefined without subdomain. */
export function podFqdn(pod: Pod, hostname: string): string | undefined {
  if (!pod.spec.subdomain) return undefined;
  return `${hostname}.${pod.spec.subdomain}.${pod.metadata.namespace}.svc.${CLUSTER_DOMAIN}`;
}

/** The pod's own hostname (not hostNetwork): spec.hostname or the pod name, cut to 63 characters like the kubelet. */
export function podOwnHostname(pod: Pod): string {
  return (pod.spec.hostname ?? pod.metadata.name).slice(0, 63).replace(/[-.]+$/, '');
}

const STANDARD_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);
/** resourceFieldRef divisors the API server takes */
const CPU_DIVISORS = ['1m', '1'];
const BYTE_DIVISORS = ['1', '1k', '1M', '1G', '1T', '1P', '1E', '1Ki', '1Mi', '1Gi', '1Ti', '1Pi', '1Ei'];

export function checkPodApi(pod: Pod): RawIssue[] {
  const issues: RawIssue[] = [];
  const error = (path: FieldPath, message: string, atKey = false): void => {
    issues.push({ severity: 'error', path, message, ...(atKey ? { atKey } : {}) });
  };
  const spec = pod.spec;

  // a user namespace of the pod's own and the host's namespaces do not go together (the API server's validateHostUsers)
  if (spec.hostUsers === false) {
    for (const f of ['hostNetwork', 'hostPID', 'hostIPC'] as const)
      if (spec[f]) error(['spec', f], 'may not be true when `hostUsers` is false');
  }

  // hostname / FQDN
  if (spec.setHostnameAsFQDN && !spec.hostNetwork) {
    const fqdn = podFqdn(pod, podOwnHostname(pod));
    if (fqdn && fqdn.length > MAX_FQDN_LENGTH) {
      error(
        ['spec', 'setHostnameAsFQDN'],
        `the pod's FQDN "${fqdn}" is ${fqdn.length} characters; a hostname set from it can have at most ${MAX_FQDN_LENGTH} (shorten spec.hostname or spec.subdomain)`,
      );
    }
  }

  // hostAliases
  (spec.hostAliases ?? []).forEach((a, i) => {
    if (!isIP(a.ip)) error(['spec', 'hostAliases', i, 'ip'], `"${a.ip}" must be a valid IP address`);
    a.hostnames.forEach((h, hi) => {
      const bad = subdomainProblem(h);
      if (bad) error(['spec', 'hostAliases', i, 'hostnames', hi], bad);
    });
  });

  // DNS
  const dns = spec.dnsConfig;
  if (spec.dnsPolicy === 'None' && !dns?.nameservers?.length) {
    error(
      dns ? ['spec', 'dnsConfig', 'nameservers'] : ['spec', 'dnsPolicy'],
      'dnsPolicy None needs at least one nameserver in spec.dnsConfig.nameservers',
    );
  }
  if (dns) {
    const ns = dns.nameservers ?? [];
    if (ns.length > MAX_DNS_NAMESERVERS)
      error(['spec', 'dnsConfig', 'nameservers'], `must not have more than ${MAX_DNS_NAMESERVERS} nameservers (has ${ns.length})`);
    ns.forEach((n, i) => {
      if (!isIP(n)) error(['spec', 'dnsConfig', 'nameservers', i], `"${n}" must be a valid IP address`);
    });
    const searches = dns.searches ?? [];
    if (searches.length > MAX_DNS_SEARCH_PATHS)
      error(['spec', 'dnsConfig', 'searches'], `must not have more than ${MAX_DNS_SEARCH_PATHS} search paths (has ${searches.length})`);
    const chars = searches.join(' ').length;
    if (chars > MAX_DNS_SEARCH_LIST_CHARS)
      error(
        ['spec', 'dnsConfig', 'searches'],
        `must not have more than ${MAX_DNS_SEARCH_LIST_CHARS} characters (including spaces) in the search list (has ${chars})`,
      );
    searches.forEach((s, i) => {
      const bad = subdomainProblem(s.replace(/\.$/, ''));
      if (bad) error(['spec', 'dnsConfig', 'searches', i], bad);
    });
    (dns.options ?? []).forEach((o, i) => {
      if (o.name === '') error(['spec', 'dnsConfig', 'options', i, 'name'], 'must not be empty');
    });
  }

  // pod-level resources (pod-resources.ts); one PID namespace is the host's or the pod's
  checkPodResources(pod, error);
  if (spec.shareProcessNamespace && spec.hostPID)
    error(['spec', 'shareProcessNamespace'], 'ShareProcessNamespace and HostPID cannot both be enabled');
  // berth's pause runs in the host's user namespace: apps in a pod user namespace cannot join its PID namespace
  if (spec.shareProcessNamespace && spec.hostUsers === false)
    error(
      ['spec', 'shareProcessNamespace'],
      "is not supported by berth together with `hostUsers: false`: the pod's pause process (which holds the shared PID namespace) does not run in the pod's user namespace yet",
    );

  const lists: Array<['containers' | 'initContainers', Container[]]> = [
    ['initContainers', spec.initContainers ?? []],
    ['containers', spec.containers],
  ];
  for (const [list, containers] of lists) {
    containers.forEach((c, ci) => {
      const at = (...rest: Array<string | number>): FieldPath => ['spec', list, ci, ...rest];
      checkContainer(pod, c, list, at, error);
    });
  }
  return issues;
}

type ErrorFn = (path: FieldPath, message: string, atKey?: boolean) => void;

function checkContainer(
  pod: Pod,
  c: Container,
  list: 'containers' | 'initContainers',
  at: (...rest: Array<string | number>) => FieldPath,
  error: ErrorFn,
): void {
  // ports: names are IANA service names, unique in the container
  const portNames = new Map<string, number>();
  (c.ports ?? []).forEach((p, pi) => {
    if (p.name === undefined) return;
    const bad = portNameProblem(p.name);
    if (bad) error(at('ports', pi, 'name'), `"${p.name}" is not a valid port name: ${bad}`);
    const first = portNames.get(p.name);
    if (first !== undefined) error(at('ports', pi, 'name'), `duplicate port name "${p.name}" (also ports[${first}])`);
    else portNames.set(p.name, pi);
  });

  // resources: names berth knows, quantities ≥ 0, requests ≤ limits
  const limits = c.resources?.limits ?? {};
  const requests = c.resources?.requests ?? {};
  for (const [kind, values] of [
    ['limits', limits],
    ['requests', requests],
  ] as const) {
    for (const [name, q] of Object.entries(values)) {
      const path = at('resources', kind, name);
      if (!STANDARD_RESOURCES.has(name)) {
        if (name.startsWith('hugepages-')) error(path, `${name} is not supported by berth: it does not reserve huge pages for apps`, true);
        else if (name.includes('/'))
          error(path, `extended resource "${name}" is not supported by berth: it needs a device plugin, which berth does not run`, true);
        else error(path, `"${name}" is not a resource name: use cpu, memory or ephemeral-storage`, true);
        continue;
      }
      if (quantityValue(name, q) < 0) error(path, 'must be greater than or equal to 0');
    }
  }
  for (const [name, req] of Object.entries(requests)) {
    const lim = limits[name];
    if (lim === undefined || !STANDARD_RESOURCES.has(name)) continue;
    if (quantityValue(name, req) > quantityValue(name, lim))
      error(at('resources', 'requests', name), `must be less than or equal to ${name} limit of ${lim}`);
  }

  // restartPolicy: sidecars only
  if (c.restartPolicy !== undefined && list === 'containers')
    error(at('restartPolicy'), 'may not be set for non-init containers (a container restartPolicy makes an init container a sidecar)');

  // resizePolicy: one per resource, cpu or memory
  const resized = new Set<string>();
  (c.resizePolicy ?? []).forEach((r, ri) => {
    if (r.resourceName !== 'cpu' && r.resourceName !== 'memory')
      error(at('resizePolicy', ri, 'resourceName'), `must be "cpu" or "memory", not "${r.resourceName}"`);
    if (resized.has(r.resourceName)) error(at('resizePolicy', ri, 'resourceName'), `"${r.resourceName}" is listed twice`);
    resized.add(r.resourceName);
  });

  // probes
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
    const pr = c[probe];
    if (pr === undefined) continue;
    // successThreshold 1 and no grace on readiness probes: probe-checks.ts
    if (probe !== 'readinessProbe' && pr.terminationGracePeriodSeconds !== undefined && pr.terminationGracePeriodSeconds < 1) {
      error(at(probe, 'terminationGracePeriodSeconds'), 'must be greater than 0');
    }
    if (pr.httpGet) checkPort(c, pr.httpGet.port, at(probe, 'httpGet', 'port'), error);
    if (pr.tcpSocket) checkPort(c, pr.tcpSocket.port, at(probe, 'tcpSocket', 'port'), error);
  }
  for (const hook of ['postStart', 'preStop'] as const) {
    const h = c.lifecycle?.[hook];
    if (h?.httpGet) checkPort(c, h.httpGet.port, at('lifecycle', hook, 'httpGet', 'port'), error);
    if (h?.tcpSocket) checkPort(c, h.tcpSocket.port, at('lifecycle', hook, 'tcpSocket', 'port'), error);
    if (h?.sleep && h.sleep.seconds < 0) error(at('lifecycle', hook, 'sleep', 'seconds'), 'must be greater than or equal to 0');
  }
  const stop = c.lifecycle?.stopSignal;
  if (stop !== undefined) {
    if (!pod.spec.os) error(['spec', 'os', 'name'], 'must be set when lifecycle.stopSignal is used (the API server asks for it)');
    if (!(LINUX_STOP_SIGNALS as readonly string[]).includes(stop))
      error(at('lifecycle', 'stopSignal'), `"${stop}" is not a Linux signal name (e.g. SIGTERM, SIGINT, SIGQUIT, SIGUSR1)`);
  }

  // env fieldRef paths and resourceFieldRef divisors
  (c.env ?? []).forEach((e, ei) => {
    const f = e.valueFrom?.fieldRef;
    if (f) {
      const bad = envFieldPathProblem(f.fieldPath);
      if (bad) error(at('env', ei, 'valueFrom', 'fieldRef', 'fieldPath'), bad);
    }
    const r = e.valueFrom?.resourceFieldRef;
    if (r?.divisor !== undefined) {
      const allowed = r.resource.endsWith('.cpu') ? CPU_DIVISORS : BYTE_DIVISORS;
      if (!allowed.includes(String(r.divisor)))
        error(at('env', ei, 'valueFrom', 'resourceFieldRef', 'divisor'), `must be one of ${allowed.join(', ')} for ${r.resource}`);
    }
  });
}

/** A quantity as a number (cpu in cores); the schema has checked its syntax. */
function quantityValue(_name: string, q: string | number): number {
  return typeof q === 'number' ? q : (parseKubeQuantity(q) ?? 0);
}

/** A probe's or hook's port: 1–65535, or the name of one of the container's ports. */
function checkPort(c: Container, port: number | string, path: FieldPath, error: ErrorFn): void {
  if (typeof port === 'number') {
    if (port < 1 || port > 65535) error(path, 'must be between 1 and 65535, inclusive');
    return;
  }
  const bad = portNameProblem(port);
  if (bad) {
    error(path, `"${port}" is neither a port number nor a valid port name: ${bad}`);
    return;
  }
  if (!(c.ports ?? []).some((p) => p.name === port)) {
    const named = (c.ports ?? []).flatMap((p) => (p.name ? [p.name] : []));
    error(path, `no port named "${port}" in this container's ports${named.length ? ` (named: ${named.join(', ')})` : ''}`);
  }
}
