/**
 * Limits of a Pod document (issue 14.12), the ones a Kubernetes API server or the kernel
 * would enforce later and less clearly:
 * - the document's size (MAX_DOCUMENT_BYTES, as JSON: 1.5 MiB, etcd's default request
 *   limit, so the biggest Pod a cluster stores) and the annotations' total size (256 KiB);
 * - label and annotation keys, label values (the API server's qualified-name rules);
 * - strings that go to execve(2): one argument or environment string at most MAX_ARG_STRLEN
 *   (131072 bytes with its NUL), all of them at most EXEC_ARGS_LIMIT ("Argument list too
 *   long", E2BIG, would otherwise only show in the app's log as "exit code 1");
 * - a NUL byte in any string of the document (the kernel reads a C string up to the NUL: a
 *   command, path or hostname would be silently cut there);
 * - warnings, not errors: hostPath volumes of host system directories and container runtime
 *   sockets, privileged hostPorts, and durations longer than berth's timers can wait.
 */
import { posix } from 'node:path';
import { MAX_TIMER_MS } from '../common/timers.js';
import type { FieldPath } from './path.js';
import type { Container, Pod } from './pod.js';
import type { RawIssue } from './unsupported.js';

/** The largest Pod or Network document berth reads, as JSON bytes (1.5 MiB, etcd's default request limit). */
export const MAX_DOCUMENT_BYTES = 1536 * 1024;
/** The API server's limit on the total size of an object's annotations (keys and values). */
export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;
/** The kernel's limit on one argv or envp string, its terminating NUL included. */
export const MAX_ARG_STRLEN = 32 * 4096;
/**
 * What execve(2) takes for argv and envp together (strings, NULs and pointers): a quarter of
 * the stack rlimit, 2 MiB with the usual 8 MiB (apps inherit the agent's).
 */
export const EXEC_ARGS_LIMIT = 2 * 1024 * 1024;
/** Longest duration, in seconds, berth's timers can wait (about 24 days 20 h). */
export const MAX_WAIT_SECONDS = Math.floor(MAX_TIMER_MS / 1000);
/** NUL-byte issues reported per document, at most. */
const MAX_NUL_ISSUES = 20;

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

// ---- checks on the raw document (before the schema) ---------------------------------

/** Document size and NUL bytes, on the raw document (Pods and Networks). */
export function checkRawLimits(raw: Record<string, unknown>): RawIssue[] {
  const issues: RawIssue[] = [];
  const size = bytes(JSON.stringify(raw) ?? '');
  if (size > MAX_DOCUMENT_BYTES) {
    issues.push({
      severity: 'error',
      path: [],
      message: `the document is ${size} bytes as JSON; a document may have at most ${MAX_DOCUMENT_BYTES} bytes (1.5 MiB, the largest object a Kubernetes API server stores with etcd's default limit)`,
    });
  }
  findNuls(raw, [], issues);
  return issues;
}

function findNuls(v: unknown, path: Array<string | number>, out: RawIssue[]): void {
  if (out.length >= MAX_NUL_ISSUES) return;
  if (typeof v === 'string') {
    if (v.includes('\0'))
      out.push({
        severity: 'error',
        path,
        message: `contains a NUL byte (at character ${v.indexOf('\0')}): the kernel reads strings up to the first NUL, so the value would be cut there; remove it`,
      });
    return;
  }
  if (Array.isArray(v)) {
    v.forEach((x, i) => findNuls(x, [...path, i], out));
    return;
  }
  if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k.includes('\0'))
        out.push({ severity: 'error', path: [...path, k], message: 'the key contains a NUL byte: remove it', atKey: true });
      findNuls(x, [...path, k], out);
    }
  }
}

// ---- checks on the validated Pod -------------------------------------------------------

/** Labels, annotations, exec strings, and the warnings, on a Pod the schema accepted. */
export function checkPodLimits(pod: Pod): RawIssue[] {
  const issues: RawIssue[] = [];
  checkMetadata(pod, issues);
  const lists: Array<['containers' | 'initContainers', Container[]]> = [
    ['initContainers', pod.spec.initContainers ?? []],
    ['containers', pod.spec.containers],
  ];
  for (const [list, containers] of lists) {
    containers.forEach((c, ci) => {
      checkExecStrings(c, ['spec', list, ci], issues);
      checkHostPorts(c, ['spec', list, ci], issues);
      checkContainerDurations(c, ['spec', list, ci], issues);
    });
  }
  checkHostPaths(pod, issues);
  const grace = pod.spec.terminationGracePeriodSeconds;
  if (grace > MAX_WAIT_SECONDS)
    issues.push(longWait(['spec', 'terminationGracePeriodSeconds'], grace, 'berth sends the stop signal, waits that long, then SIGKILL'));
  return issues;
}

// The API server's rules (k8s.io/apimachinery validation: IsQualifiedName, IsValidLabelValue).
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_RULE = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/** Problems of a qualified name (`prefix/name` or `name`), as the API server words them. */
export function qualifiedNameProblems(key: string): string[] {
  const parts = key.split('/');
  let name = key;
  const out: string[] = [];
  if (parts.length > 2) return [`a qualified name ${NAME_RULE}, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) out.push('prefix part must be non-empty');
    else {
      if (prefix.length > 253) out.push('prefix part must be no more than 253 characters');
      if (!DNS1123_SUBDOMAIN.test(prefix))
        out.push(
          "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        );
    }
  }
  if (name.length === 0) out.push('name part must be non-empty');
  else {
    if (name.length > 63) out.push('name part must be no more than 63 characters');
    if (!QUALIFIED_NAME.test(name)) out.push(`name part ${NAME_RULE} (e.g. 'MyName', or 'my.name', or '123-abc')`);
  }
  return out;
}

/** Problems of a label value. */
export function labelValueProblems(value: string): string[] {
  const out: string[] = [];
  if (value.length > 63) out.push('must be no more than 63 characters');
  if (value !== '' && !QUALIFIED_NAME.test(value))
    out.push(`a valid label must be an empty string or ${NAME_RULE.replace('must consist', 'consist')}`);
  return out;
}

function checkMetadata(pod: Pod, issues: RawIssue[]): void {
  for (const [k, v] of Object.entries(pod.metadata.labels ?? {})) {
    const path: FieldPath = ['metadata', 'labels', k];
    for (const m of qualifiedNameProblems(k)) issues.push({ severity: 'error', path, message: `invalid label key: ${m}`, atKey: true });
    for (const m of labelValueProblems(v)) issues.push({ severity: 'error', path, message: `invalid label value: ${m}` });
  }
  const annotations = pod.metadata.annotations ?? {};
  let total = 0;
  for (const [k, v] of Object.entries(annotations)) {
    total += bytes(k) + bytes(v);
    for (const m of qualifiedNameProblems(k.toLowerCase()))
      issues.push({ severity: 'error', path: ['metadata', 'annotations', k], message: `invalid annotation key: ${m}`, atKey: true });
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT) {
    issues.push({
      severity: 'error',
      path: ['metadata', 'annotations'],
      message: `Too long: must have at most ${TOTAL_ANNOTATION_SIZE_LIMIT} bytes (keys and values together have ${total})`,
    });
  }
}

/**
 * What execve(2) will be given from the spec: command, args and env values. Strings are
 * counted as the kernel does (bytes, plus the NUL; "NAME=value" for env). The image's own
 * environment and berth's HOSTNAME and PATH come on top, so the total is checked with the
 * spec's part only: a spec that passes can still fail with a large image environment, then
 * the runtime says so.
 */
function checkExecStrings(c: Container, at: FieldPath, issues: RawIssue[]): void {
  let total = 0;
  let count = 0;
  const one = (path: FieldPath, s: string, what: string): void => {
    const n = bytes(s) + 1;
    total += n;
    count++;
    if (n > MAX_ARG_STRLEN) {
      issues.push({
        severity: 'error',
        path,
        message: `Argument list too long: ${what} is ${n} bytes with its NUL, and the kernel takes at most ${MAX_ARG_STRLEN} bytes per argument or environment string (MAX_ARG_STRLEN); pass large data in a file (a volume) instead`,
      });
    }
  };
  (c.command ?? []).forEach((s, i) => one([...at, 'command', i], s, 'this argument'));
  (c.args ?? []).forEach((s, i) => one([...at, 'args', i], s, 'this argument'));
  (c.env ?? []).forEach((e, i) => {
    if (e.value !== undefined) one([...at, 'env', i, 'value'], `${e.name}=${e.value}`, `"${e.name}=…"`);
    else {
      total += bytes(e.name) + 2;
      count++;
    }
  });
  const need = total + 8 * (count + 2);
  if (need > EXEC_ARGS_LIMIT) {
    issues.push({
      severity: 'error',
      path: at,
      message: `Argument list too long: command, args and env of this container come to ${need} bytes (strings, NULs and pointers), over the ${EXEC_ARGS_LIMIT} bytes execve(2) takes (a quarter of the 8 MiB stack limit); pass large data in a file (a volume) instead`,
    });
  }
}

/**
 * The kernel's verdict on a process's final argv and envp (after the image's environment and
 * `$(VAR)` expansion): undefined when execve(2) takes them, else why not, in its words.
 */
export function execArgsProblem(args: readonly string[], env: readonly string[]): string | undefined {
  let total = 16; // the two NULL pointers that end argv and envp
  for (const [i, a] of args.entries()) {
    const n = bytes(a) + 1;
    if (n > MAX_ARG_STRLEN)
      return `Argument list too long: argument ${i} is ${n} bytes with its NUL, and the kernel takes at most ${MAX_ARG_STRLEN} bytes per string (MAX_ARG_STRLEN)`;
    total += n + 8;
  }
  for (const e of env) {
    const n = bytes(e) + 1;
    const name = e.includes('=') ? e.slice(0, Math.min(e.indexOf('='), 64)) : e.slice(0, 64);
    if (n > MAX_ARG_STRLEN)
      return `Argument list too long: environment variable ${name} is ${n} bytes with its NUL, and the kernel takes at most ${MAX_ARG_STRLEN} bytes per string (MAX_ARG_STRLEN)`;
    total += n + 8;
  }
  if (total > EXEC_ARGS_LIMIT)
    return `Argument list too long: the command and environment come to ${total} bytes (strings, NULs and pointers), over the ${EXEC_ARGS_LIMIT} bytes execve(2) takes`;
  return undefined;
}

function checkHostPorts(c: Container, at: FieldPath, issues: RawIssue[]): void {
  (c.ports ?? []).forEach((p, pi) => {
    if (p.hostPort === undefined || p.hostPort >= 1024) return;
    const known = WELL_KNOWN_PORTS[p.hostPort];
    issues.push({
      severity: 'warning',
      path: [...at, 'ports', pi, 'hostPort'],
      message: `hostPort ${p.hostPort} is a privileged port (below 1024)${known ? `, usually the host's ${known}` : ''}: traffic for it on this host goes to the pod; use a port of 1024 or more unless that is the point`,
    });
  });
}

const WELL_KNOWN_PORTS: Record<number, string> = {
  22: 'ssh',
  25: 'smtp',
  53: 'dns',
  80: 'http',
  111: 'rpcbind',
  123: 'ntp',
  443: 'https',
  631: 'ipp',
};

function longWait(path: FieldPath, seconds: number, then: string): RawIssue {
  return {
    severity: 'warning',
    path,
    message: `${seconds} s is longer than berth can wait (${MAX_WAIT_SECONDS} s, about 24 days): ${then}`,
  };
}

function checkContainerDurations(c: Container, at: FieldPath, issues: RawIssue[]): void {
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
    const pr = c[probe];
    if (pr === undefined) continue;
    for (const f of ['initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'terminationGracePeriodSeconds'] as const) {
      const v = pr[f];
      if (v !== undefined && v > MAX_WAIT_SECONDS) issues.push(longWait([...at, probe, f], v, `berth waits ${MAX_WAIT_SECONDS} s`));
    }
  }
  for (const hook of ['postStart', 'preStop'] as const) {
    const s = c.lifecycle?.[hook]?.sleep?.seconds;
    if (s !== undefined && s > MAX_WAIT_SECONDS)
      issues.push(longWait([...at, 'lifecycle', hook, 'sleep', 'seconds'], s, `berth waits ${MAX_WAIT_SECONDS} s`));
  }
}

/**
 * Host paths a pod should not normally get: `inside` also warns for anything below the path
 * (kernel interfaces, devices, the runtime's and berth's own state); every entry also warns
 * for its ancestors (`/`, `/var`, `/run` contain them).
 */
const SENSITIVE: Array<{ path: string; what: string; inside: boolean }> = [
  { path: '/etc', what: "the host's configuration (/etc)", inside: false },
  { path: '/proc', what: "the host's /proc (kernel and process interfaces)", inside: true },
  { path: '/sys', what: "the host's /sys (kernel and device interfaces)", inside: true },
  { path: '/dev', what: "the host's devices (/dev)", inside: true },
  { path: '/boot', what: "the host's kernel and boot loader (/boot)", inside: true },
  { path: '/usr', what: "the host's programs and libraries (/usr)", inside: false },
  { path: '/bin', what: "the host's programs (/bin)", inside: false },
  { path: '/sbin', what: "the host's programs (/sbin)", inside: false },
  { path: '/lib', what: "the host's libraries (/lib)", inside: false },
  { path: '/root', what: "root's home directory", inside: true },
  { path: '/var/lib/berth', what: "berth's state directory", inside: true },
  { path: '/run/berth', what: "berth's runtime directory", inside: true },
  { path: '/etc/berth', what: "berth's configuration", inside: true },
  { path: '/var/run/docker.sock', what: 'the docker socket (whoever can talk to it is root on the host)', inside: false },
  { path: '/run/docker.sock', what: 'the docker socket (whoever can talk to it is root on the host)', inside: false },
  { path: '/run/containerd', what: "containerd's socket and state (root on the host)", inside: true },
  { path: '/var/run/containerd', what: "containerd's socket and state (root on the host)", inside: true },
  { path: '/run/crio', what: "CRI-O's socket (root on the host)", inside: true },
  { path: '/run/podman', what: "podman's socket (root on the host)", inside: true },
  { path: '/var/lib/docker', what: "docker's state", inside: true },
  { path: '/var/lib/containerd', what: "containerd's state", inside: true },
  { path: '/var/lib/kubelet', what: "the kubelet's state", inside: true },
];

/** The warning for a hostPath, or undefined when it is not a system path. */
export function hostPathWarning(path: string): string | undefined {
  const p = posix.normalize(path).replace(/(.)\/+$/, '$1');
  const exact = SENSITIVE.find((e) => e.path === p);
  const mounted = '; the pod can read it, and change it unless every mount of it is readOnly';
  if (p === '/') return `hostPath "/" is the host's whole filesystem${mounted}`;
  if (exact) return `hostPath "${path}" is ${exact.what}${mounted}`;
  const inside = SENSITIVE.find((e) => e.inside && p.startsWith(`${e.path}/`));
  if (inside) return `hostPath "${path}" is inside ${inside.what}${mounted}`;
  const contains = SENSITIVE.find((e) => e.path.startsWith(`${p}/`));
  if (contains) return `hostPath "${path}" contains ${contains.what}${mounted}`;
  return undefined;
}

function checkHostPaths(pod: Pod, issues: RawIssue[]): void {
  (pod.spec.volumes ?? []).forEach((v, i) => {
    if (!v.hostPath) return;
    const w = hostPathWarning(v.hostPath.path);
    if (w) issues.push({ severity: 'warning', path: ['spec', 'volumes', i, 'hostPath', 'path'], message: w });
  });
}
