/**
 * Cross-document checks over every parsed file, giving the desired set the reconciler acts on:
 * - files are taken in file-name order; the first document that names a pod owns it, later
 *   ones are reported as Conflict (an invalid first document still owns its pod: the pod is
 *   held as InvalidSpec rather than flipping to another file's definition);
 * - networks: unique names, at most one default, unique bridges, no overlapping subnets;
 *   a network that breaks a rule is left out, and the later one (in file order) is blamed;
 * - the default network: the Network marked `default: true`, else the built-in `berth`;
 * - each pod's networks resolve to known networks, else the pod is held as InvalidSpec;
 * - a hostPort (protocol, host IP, port) belongs to the first pod that asks for it; a later
 *   pod asking for the same one (or the same port on 0.0.0.0 / ::) is held as InvalidSpec.
 */
import { bridgeNames, builtinDefaultNetwork, cidrRange, ipamSubnets, rangesOverlap, type AddressRange } from './cni-config.js';
import { formatPath, type FieldPath } from './path.js';
import { bindsAnyIP, hostPortsClash, hostPortsOf, type HostPortUse } from './host-ports.js';
import { NETWORKS_ANNOTATION } from './pod.js';
import type { DesiredSet, LoadedNetwork, LoadedPod, ParsedFile, Position, SourceRef, SpecIssue } from './types.js';

export interface ResolveOptions {
  /** the network used when no Network is marked default (default: builtinDefaultNetwork()) */
  builtinDefault?: LoadedNetwork;
  /** networks from CNI configuration lists on the host (e.g. /etc/cni/net.d), after the Network documents */
  extraNetworks?: LoadedNetwork[];
  /**
   * Problems of a network that only the host can tell (its plugin types are not in the CNI
   * plugin path, a plugin does not speak its version), found by the caller beforehand: each is
   * an error at `path` (e.g. `spec.plugins[1].type`), and the network is left out like one
   * that breaks a rule here. Not asked for the built-in default network.
   */
  networkProblems?: (net: LoadedNetwork) => Array<{ path: FieldPath; message: string }>;
  /**
   * Why an image reference cannot be pulled as written (its syntax: containers-transports,
   * appc names), or undefined; the pod naming it is held as InvalidSpec. The image module
   * parses references, so the caller provides the check.
   */
  imageProblem?: (ref: string) => string | undefined;
}

const ANNOTATION_PATH = formatPath(['metadata', 'annotations', NETWORKS_ANNOTATION]);

/** File-name order: by base name, then by full path. */
export function compareFiles(a: string, b: string): number {
  const base = (f: string): string => f.slice(f.lastIndexOf('/') + 1);
  const ba = base(a);
  const bb = base(b);
  if (ba !== bb) return ba < bb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

const isPodKey = (key: string | undefined): key is string => key !== undefined && key.includes('/');
const at = (file: string, p: { line?: number; column?: number }): string =>
  p.line === undefined ? file : `${file}:${p.line}${p.column === undefined ? '' : `:${p.column}`}`;

function positionOf(item: { source: SourceRef; positions?: Record<string, Position> }, path: FieldPath | string): Position {
  const key = typeof path === 'string' ? path : formatPath(path);
  return item.positions?.[key] ?? { line: item.source.line, column: item.source.column };
}

export function resolveDesired(files: ParsedFile[], opts: ResolveOptions = {}): DesiredSet {
  const sorted = [...files].sort((a, b) => compareFiles(a.file, b.file));
  const cross: SpecIssue[] = [];
  const conflicts: SpecIssue[] = [];
  const invalidKeys = new Set<string>();
  const invalidFiles = new Set<string>();

  // Documents that failed in parseFile: pods (ns/name keys), networks (name keys), or neither.
  const invalidNetworks = new Map<string, SpecIssue>();
  for (const f of sorted) {
    for (const issue of f.issues) {
      if (issue.severity !== 'error') continue;
      if (issue.key === undefined) invalidFiles.add(f.file);
      else if (!isPodKey(issue.key) && !invalidNetworks.has(issue.key)) invalidNetworks.set(issue.key, issue);
    }
  }

  // ---- networks ------------------------------------------------------------------------
  const candidates = [...sorted.flatMap((f) => f.networks), ...(opts.extraNetworks ?? [])];
  const accepted: LoadedNetwork[] = [];
  const rejected = new Map<string, SpecIssue>();
  let defaultNet: LoadedNetwork | undefined;
  const builtinNeeded = !candidates.some((n) => n.network.spec.default) && invalidNetworks.size === 0;
  if (builtinNeeded) {
    defaultNet = opts.builtinDefault ?? builtinDefaultNetwork();
    accepted.push(defaultNet);
  }
  const netRef = (n: LoadedNetwork, path: FieldPath | string): string => at(n.source.file, positionOf(n, path));
  for (const net of candidates) {
    const blame = (path: FieldPath, message: string): void => {
      const issue: SpecIssue = {
        severity: 'error',
        file: net.source.file,
        ...positionOf(net, path),
        path: formatPath(path),
        message,
        key: net.name,
      };
      cross.push(issue);
      if (!rejected.has(net.name)) rejected.set(net.name, issue);
    };
    const nameTwin = accepted.find((n) => n.name === net.name);
    if (nameTwin) {
      blame(
        ['metadata', 'name'],
        `network "${net.name}" is already defined in ${netRef(nameTwin, ['metadata', 'name'])}; this definition is ignored`,
      );
      continue;
    }
    let ok = true;
    if (net.network.spec.default && defaultNet) {
      blame(
        ['spec', 'default'],
        `more than one default network: "${defaultNet.name}" (${netRef(defaultNet, ['spec', 'default'])}) is already the default`,
      );
      ok = false;
    }
    for (const { index, bridge } of bridgeNames(net.conflist['plugins'])) {
      for (const other of accepted) {
        const twin = bridgeNames(other.conflist['plugins']).find((b) => b.bridge === bridge);
        if (!twin) continue;
        const otherPath: FieldPath = ['spec', 'plugins', twin.index, 'bridge'];
        blame(
          ['spec', 'plugins', index, 'bridge'],
          `bridge "${bridge}" is already used by network "${other.name}" (${netRef(other, otherPath)}, ${formatPath(otherPath)})`,
        );
        ok = false;
      }
    }
    for (const p of opts.networkProblems?.(net) ?? []) {
      blame(p.path, p.message);
      ok = false;
    }
    const mine = subnetsOf(net);
    for (const other of accepted) {
      for (const theirs of subnetsOf(other)) {
        for (const s of mine) {
          if (!rangesOverlap(s.range, theirs.range)) continue;
          blame(
            s.path,
            `subnet ${s.cidr} overlaps subnet ${theirs.cidr} of network "${other.name}" (${netRef(other, theirs.path)}, ${formatPath(theirs.path)})`,
          );
          ok = false;
        }
      }
    }
    if (!ok) continue;
    accepted.push(net);
    if (net.network.spec.default) defaultNet = net;
  }
  const byName = new Map(accepted.map((n) => [n.name, n]));
  const whyInvalid = (name: string): string | undefined => {
    const issue = rejected.get(name) ?? invalidNetworks.get(name);
    return issue ? `network "${name}" is invalid (${at(issue.file, issue)})` : undefined;
  };

  // ---- pods: ownership by file order ---------------------------------------------------
  interface Claim {
    key: string;
    file: string;
    fileIndex: number;
    pos: Position;
    pod?: LoadedPod;
  }
  const claims: Claim[] = [];
  sorted.forEach((f, fileIndex) => {
    for (const pod of f.pods) claims.push({ key: pod.key, file: f.file, fileIndex, pos: positionOf(pod, ['metadata', 'name']), pod });
    const firstIssue = new Map<string, Position>();
    for (const issue of f.issues) {
      if (issue.severity !== 'error' || !isPodKey(issue.key)) continue;
      const pos = { line: issue.line ?? 0, column: issue.column ?? 0 };
      const prev = firstIssue.get(issue.key);
      if (!prev || pos.line < prev.line || (pos.line === prev.line && pos.column < prev.column)) firstIssue.set(issue.key, pos);
    }
    for (const [key, pos] of firstIssue) claims.push({ key, file: f.file, fileIndex, pos });
  });
  claims.sort((a, b) => a.fileIndex - b.fileIndex || a.pos.line - b.pos.line || a.pos.column - b.pos.column);

  const hostPorts: HostPortOwners = [];
  const owners = new Map<string, Claim>();
  const losers = new Set<string>();
  const pods: LoadedPod[] = [];
  for (const claim of claims) {
    const owner = owners.get(claim.key);
    if (owner) {
      const issue: SpecIssue = {
        severity: 'error',
        file: claim.file,
        ...(claim.pos.line > 0 ? claim.pos : {}),
        path: claim.pod ? 'metadata.name' : '',
        message: `pod "${claim.key}" is defined twice: here and in ${at(owner.file, owner.pos)}, which comes first and wins; this definition is ignored`,
        key: claim.key,
      };
      conflicts.push(issue);
      // The losing document's own errors are not the owner's: keep them, unkeyed.
      if (!claim.pod) losers.add(`${claim.file}\0${claim.key}`);
      continue;
    }
    owners.set(claim.key, claim);
    if (!claim.pod) {
      invalidKeys.add(claim.key);
      continue;
    }
    const resolved = resolvePodNetworks(claim.pod, byName, defaultNet, whyInvalid, invalidNetworks, rejected);
    if ('error' in resolved) {
      cross.push(resolved.error);
      invalidKeys.add(claim.key);
      continue;
    }
    const badImage = opts.imageProblem ? imageIssue(claim.pod, opts.imageProblem) : undefined;
    if (badImage) {
      cross.push(badImage);
      invalidKeys.add(claim.key);
      continue;
    }
    const clash = hostPortClash(claim.pod, hostPorts);
    if (clash) {
      cross.push(clash);
      invalidKeys.add(claim.key);
      continue;
    }
    pods.push({ ...claim.pod, networks: resolved.networks });
  }

  return {
    pods,
    networks: accepted,
    conflicts,
    issues: mergeIssues(sorted, cross, losers),
    invalidKeys: [...invalidKeys],
    invalidFiles: [...invalidFiles],
  };
}

function resolvePodNetworks(
  pod: LoadedPod,
  byName: Map<string, LoadedNetwork>,
  defaultNet: LoadedNetwork | undefined,
  whyInvalid: (name: string) => string | undefined,
  invalidNetworks: Map<string, SpecIssue>,
  rejected: Map<string, SpecIssue>,
): { networks: LoadedPod['networks'] } | { error: SpecIssue } {
  const fail = (path: string, message: string): { error: SpecIssue } => ({
    error: { severity: 'error', file: pod.source.file, ...positionOf(pod, path), path, message, key: pod.key },
  });
  if (pod.pod.spec.hostNetwork) return { networks: [] };
  const annotation = pod.pod.metadata.annotations?.[NETWORKS_ANNOTATION];
  if (annotation === undefined) {
    if (defaultNet) return { networks: [{ name: defaultNet.name, interface: 'eth0' }] };
    const broken = [...new Set([...rejected.keys(), ...invalidNetworks.keys()])].map((n) => whyInvalid(n)).filter((m) => m !== undefined);
    return fail(
      '',
      `the pod joins the default network, but there is none: ${broken.join('; ') || 'no network is marked default'}; fix it, or name networks in the ${NETWORKS_ANNOTATION} annotation`,
    );
  }
  const problems: string[] = [];
  for (const ref of pod.networks) {
    if (byName.has(ref.name)) continue;
    const invalid = whyInvalid(ref.name);
    if (invalid) problems.push(invalid);
    else
      problems.push(
        `unknown network "${ref.name}": no Network document or CNI configuration list defines it (known: ${[...byName.keys()].join(', ') || 'none'})`,
      );
  }
  if (problems.length > 0) return fail(ANNOTATION_PATH, problems.join('; '));
  return { networks: pod.networks.map((r) => ({ ...r })) };
}

/** The first container image of `pod` whose reference `problem` refuses, as an issue. */
function imageIssue(pod: LoadedPod, problem: (ref: string) => string | undefined): SpecIssue | undefined {
  const lists = [
    ['initContainers', pod.pod.spec.initContainers ?? []],
    ['containers', pod.pod.spec.containers],
  ] as const;
  for (const [list, containers] of lists) {
    for (const [ci, c] of containers.entries()) {
      const why = problem(c.image);
      if (why === undefined) continue;
      const path = formatPath(['spec', list, ci, 'image']);
      return { severity: 'error', file: pod.source.file, ...positionOf(pod, path), path, message: why, key: pod.key };
    }
  }
  return undefined;
}

/** The host ports taken so far, each with the pod that holds it. */
type HostPortOwners = Array<{ use: HostPortUse; pod: LoadedPod }>;

/** The first hostPort of `pod` another pod already holds (host-ports.ts rule), as an issue; records the pod's ports otherwise. */
function hostPortClash(pod: LoadedPod, owners: HostPortOwners): SpecIssue | undefined {
  const mine = hostPortsOf(pod.pod);
  for (const m of mine) {
    const taken = owners.find((o) => o.pod.key !== pod.key && hostPortsClash(o.use, m));
    if (!taken) continue;
    const where = bindsAnyIP(taken.use.hostIP) ? '' : ` on ${taken.use.hostIP}`;
    return {
      severity: 'error',
      file: pod.source.file,
      ...positionOf(pod, m.path),
      path: m.path,
      message: `hostPort ${m.port}/${m.protocol} is already used by pod "${taken.pod.key}"${where} (${at(taken.pod.source.file, positionOf(taken.pod, taken.use.path))}, ${taken.use.path}); this pod is not started`,
      key: pod.key,
    };
  }
  for (const use of mine) owners.push({ use, pod });
  return undefined;
}

interface SubnetAt {
  path: FieldPath;
  cidr: string;
  range: AddressRange;
}

function subnetsOf(net: LoadedNetwork): SubnetAt[] {
  const out: SubnetAt[] = [];
  for (const s of ipamSubnets(net.conflist['plugins'])) {
    const range = cidrRange(s.cidr);
    if (range) out.push({ path: ['spec', 'plugins', ...s.path], cidr: s.cidr, range });
  }
  return out;
}

/**
 * Every issue, file by file in file order, each file's sorted by position (stable). Issues of
 * pod documents that lost a conflict lose their key (the key belongs to the owner).
 */
function mergeIssues(sorted: ParsedFile[], cross: SpecIssue[], losers: Set<string>): SpecIssue[] {
  const out: SpecIssue[] = [];
  const known = new Set(sorted.map((f) => f.file));
  const unkey = (file: string, i: SpecIssue): SpecIssue => {
    if (i.key === undefined || !losers.has(`${file}\0${i.key}`)) return i;
    const { key: _key, ...rest } = i;
    return rest;
  };
  for (const f of sorted) {
    const own = f.issues.map((i) => unkey(f.file, i));
    const all = [...own, ...cross.filter((i) => i.file === f.file)].map((issue, i) => ({ issue, i }));
    all.sort((a, b) => (a.issue.line ?? 0) - (b.issue.line ?? 0) || (a.issue.column ?? 0) - (b.issue.column ?? 0) || a.i - b.i);
    out.push(...all.map((x) => x.issue));
  }
  out.push(...cross.filter((i) => !known.has(i.file)));
  return out;
}
