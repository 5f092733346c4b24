/**
 * Desired state: the spec directories and CNI conflists read and checked into a DesiredSet,
 * the pod record a new pod starts with, and the input report `berth status` reads.
 */
import { BerthError, errnoOf, errorMessage, hasCode, isNotFound } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Clock } from '../common/clock.js';
import { loadNetworkConfigLists, parseNetworkConfigList } from '../cni/index.js';
import type { Cni } from '../cni/types.js';
import { parseImageReference } from '../image/index.js';
import type { FieldPath } from '../api/path.js';
import { builtinDefaultNetwork, resolveDesired } from '../api/index.js';
import type { DesiredSet, LoadedNetwork, LoadedPod, SpecIssue } from '../api/types.js';
import type { Host } from './host.js';
import { containerId, ipamDataDir, type Layout } from './layout.js';
import { listRecords, type PodRecord } from './records.js';
import { readSources, sourceIssue, type SourceFailure } from './sources.js';
import type { GitSnapshot } from '../source/git.js';

/** What the last convergence saw in the input, for `berth status` (`<state>/reconcile.json`). */
export interface InputReport {
  at: string;
  issues: SpecIssue[];
  invalidKeys: string[];
  conflicts: SpecIssue[];
  /** `key@hash` of every pod document that loaded (a file-wide error does not hold these) */
  loaded?: string[];
  /** each git source: its applied commit and why a newer tip is not applied */
  sources?: SourceReport[];
}

/** A git source as `<state>/reconcile.json` (and status) shows it. */
export interface SourceReport {
  type: 'git';
  repo: string;
  ref: string;
  path: string;
  specDir: string;
  revision: string | null;
  error: string | null;
}

export function sourceReport(s: GitSnapshot, c: { repo: string; ref: string; path: string }): SourceReport {
  return { type: 'git', repo: c.repo, ref: c.ref, path: c.path, specDir: s.specDir, revision: s.revision, error: s.error };
}

/**
 * Read the spec directories and conflists, check them together (plugin path included). A spec
 * directory that does not exist or cannot be read is an error for that source, never "no pods":
 * its error is in `issues` (keyed by the directory), and every applied pod whose record came
 * from a file in it is held as it is (its file counts as invalid, so the diff keeps it).
 */
export async function loadDesired(host: Host, cniConfDirs: string[], log: Logger, git: GitSnapshot[] = []): Promise<DesiredSet> {
  const { desired, failed, roots } = await checkInput({
    roots: host.layout.specDirs,
    cni: host.cni,
    cniConfDirs,
    layout: host.layout,
    log,
    clock: host.clock,
    git,
    failedNote: () => ': nothing it held is changed',
  });
  if (failed.length) {
    const healthy = roots.filter((d) => !failed.some((f) => f.path === d));
    holdFailedSources(desired, failed, healthy, await listRecords(host.layout));
  }
  for (const g of git) {
    if (g.revision === null) continue;
    // a newer tip that cannot be applied: the applied commit stays, and the source reports why
    if (g.error)
      desired.issues.push({
        severity: 'error',
        file: g.specDir,
        path: '',
        reason: 'SourceError',
        message: `git source ${g.label}: ${g.error}; commit ${g.revision.slice(0, 12)} stays applied`,
      });
    for (const p of desired.pods) if (inSource(p.source.file, g.specDir)) p.source = { ...p.source, revision: g.revision };
  }
  return desired;
}

export interface InputChecks {
  /** spec directories or files */
  roots: string[];
  /** looks up the networks' plugin types in the plugin path */
  cni: Cni;
  cniConfDirs: string[];
  layout: Layout;
  log: Logger;
  /** the time files are read at (their racy window, sources.ts) */
  clock: Pick<Clock, 'now'>;
  git?: GitSnapshot[];
  /** appended to the message of a source that cannot be read */
  failedNote?: (f: SourceFailure) => string;
}

/**
 * Every check on the input, file by file and across documents, as `reconcile` applies it and
 * `validate` reports it (one code path, so the two cannot disagree): parse and schema checks,
 * image reference syntax, networks and their plugin types, duplicate pods, hostPort clashes,
 * network references. Nothing on the host is read but the CNI conf dirs and plugin path.
 */
export async function checkInput(
  c: InputChecks,
): Promise<{ desired: DesiredSet; failed: SourceFailure[]; roots: string[]; files: string[] }> {
  const git = c.git ?? [];
  // A git source is one more spec directory: its applied checkout. One without any applied
  // commit yet is a failed source (never "no pods").
  const gitDirs = git.filter((g) => g.revision !== null).map((g) => g.specDir);
  const roots = [...c.roots, ...gitDirs];
  const read = await readSources(roots, c.clock);
  const files = [...git.flatMap((g) => (g.revision !== null ? g.refused : [])), ...read.files];
  const failed = [
    ...read.failed,
    ...git
      .filter((g) => g.revision === null)
      .map((g) => ({ path: g.specDir, message: `git source ${g.label} has no applied commit yet (${g.error ?? 'not fetched yet'})` })),
  ];
  const extra = await loadConfDirNetworks(c.cniConfDirs, c.log);
  const problems = await networkPluginProblems(c.cni, [...files.flatMap((f) => f.networks), ...extra], new Set(extra));
  const failedFiles = failed.map((f) => ({
    file: f.path,
    pods: [],
    networks: [],
    issues: [{ ...sourceIssue(f), message: `${f.message}${c.failedNote?.(f) ?? ''}` }],
  }));
  const desired = resolveDesired([...failedFiles, ...files], {
    builtinDefault: builtinDefaultNetwork({ ipamDataDir: ipamDataDir(c.layout) }),
    extraNetworks: extra,
    networkProblems: (n) => problems.get(n) ?? [],
    imageProblem,
  });
  return { desired, failed, roots, files: files.map((f) => f.file) };
}

/** Why `ref` is not an image reference berth can pull (InvalidArgument / Unimplemented from the parser), or undefined. */
export function imageProblem(ref: string): string | undefined {
  try {
    parseImageReference(ref);
    return undefined;
  } catch (err) {
    if (hasCode(err, 'InvalidArgument') || hasCode(err, 'Unimplemented')) return errorMessage(err);
    throw err;
  }
}

/** Is `file` in the source (the directory itself, a file in it, or the file given directly)? */
export const inSource = (file: string, source: string): boolean =>
  file === source || file.startsWith(source.endsWith('/') ? source : `${source}/`);

/**
 * While a source has failed, only pods whose spec file lies in a source that was read may be
 * deleted: every other applied pod — from the failed source, or from a directory that is no
 * longer given at all (`--spec-dir /typo` for `/etc/podspecs`) — is held as it is. Its file
 * joins `invalidFiles`, so the plan keeps the pod; pods of no given source get a
 * SourceError warning that says why they were not deleted.
 */
export function holdFailedSources(desired: DesiredSet, failed: SourceFailure[], healthy: string[], records: PodRecord[]): void {
  const held = new Set(desired.invalidFiles);
  const noted = new Set<string>();
  for (const r of records) {
    const file = r.source.file;
    if (healthy.some((h) => inSource(file, h))) continue;
    held.add(file);
    if (failed.some((f) => inSource(file, f.path)) || noted.has(file)) continue;
    noted.add(file);
    desired.issues.push({
      severity: 'warning',
      file,
      path: '',
      reason: 'SourceError',
      message: `not deleted while ${failed.map((f) => f.path).join(', ')} cannot be read: the file is in no spec directory that was read`,
    });
  }
  desired.invalidFiles = [...held];
}

/** The record a pod starts with: written before anything of it exists on the host. */
export function recordFor(pod: LoadedPod, uid: string, desired: DesiredSet, now: number): PodRecord {
  const networks = pod.networks.map((n) => {
    const net = desired.networks.find((x) => x.name === n.name);
    if (!net) throw new BerthError('InvalidArgument', `pod ${pod.key}: network ${n.name} is not defined`);
    return { ...n, conflist: JSON.stringify(net.conflist) };
  });
  const apps: PodRecord['apps'] = {};
  for (const c of pod.pod.spec.initContainers ?? []) apps[c.name] = { image: c.image, containerId: containerId(uid, c.name), init: true };
  for (const c of pod.pod.spec.containers) apps[c.name] = { image: c.image, containerId: containerId(uid, c.name) };
  return {
    version: 1,
    uid,
    key: pod.key,
    namespace: pod.namespace,
    name: pod.name,
    hash: pod.hash,
    source: pod.source,
    pod: pod.pod,
    networks,
    createdAt: now,
    updatedAt: now,
    phase: 'pending',
    lastError: null,
    netns: null,
    attachments: [],
    initDone: false,
    apps,
  };
}

/** Networks of the CNI configuration lists in `dirs` (CNI-03), usable by name; unreadable dirs are skipped. */
export async function loadConfDirNetworks(dirs: string[], log: Logger): Promise<LoadedNetwork[]> {
  const extra: LoadedNetwork[] = [];
  for (const dir of dirs) {
    let lists;
    try {
      lists = await loadNetworkConfigLists(dir);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || isNotFound(err)) continue;
      log.warn({ err, dir }, 'cni configuration directory unreadable');
      continue;
    }
    for (const l of lists) {
      const conflist = JSON.parse(l.bytes) as Record<string, unknown>;
      extra.push({
        kind: 'Network',
        name: l.name,
        network: {
          apiVersion: 'berth.dev/v1',
          kind: 'Network',
          metadata: { name: l.name },
          spec: { default: false, cniVersion: l.cniVersion, plugins: l.plugins },
        },
        source: { file: l.file ?? dir, doc: 0, line: 1, column: 1 },
        conflist,
      });
    }
  }
  return extra;
}

/**
 * Validation that needs the host's plugin path (issue: unknown plugin types are errors naming
 * file and field): every plugin type and ipam type of each network is looked up, and each
 * plugin's VERSION must include the list's version. Field paths are `spec.plugins[i].type` for
 * Network documents and `plugins[i].type` for conflist files (`conflists`).
 */
export async function networkPluginProblems(
  cni: Cni,
  nets: LoadedNetwork[],
  conflists: Set<LoadedNetwork>,
): Promise<Map<LoadedNetwork, Array<{ path: FieldPath; message: string }>>> {
  const out = new Map<LoadedNetwork, Array<{ path: FieldPath; message: string }>>();
  for (const n of nets) {
    let list;
    try {
      list = parseNetworkConfigList(JSON.stringify(n.conflist), n.source.file);
    } catch {
      continue; // the spec checks report a list that does not parse
    }
    const found = await cni.pluginProblems(list).catch(() => []); // it throws only when canceled: nothing to report then
    if (!found.length) continue;
    const base: Array<string | number> = conflists.has(n) ? ['plugins'] : ['spec', 'plugins'];
    out.set(
      n,
      found.map((p) => ({ path: [...base, p.index, ...(p.field === 'type' ? ['type'] : ['ipam', 'type'])], message: p.message })),
    );
  }
  return out;
}
