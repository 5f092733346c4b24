/**
 * What the spec module hands to the rest of berth. The zod schemas define the documents:
 * pod.ts exports `Pod` (the whole v1 Pod document), `PodSpec` (its `.spec`), `Container`,
 * `Volume`; network.ts exports `Network` (the berth.dev/v1 document) and `NetworkSpec`.
 * This file holds the loaded-document shapes around them.
 */
import type { Pod } from './pod.js';
import type { Network } from './network.js';

/** Where a document (or a field in it) came from. line/column are 1-based. */
export interface SourceRef {
  file: string;
  /** index of the YAML document in the file, 0-based */
  doc: number;
  line: number;
  column: number;
  /** the commit of a git source the file was read from (set by the reconciler's loadDesired) */
  revision?: string;
}

/** A 1-based position in a file. */
export interface Position {
  line: number;
  column: number;
}

/** One problem found in the input. `path` is the field path, e.g. `spec.containers[0].image`. */
export interface SpecIssue {
  severity: 'error' | 'warning';
  file: string;
  line?: number;
  column?: number;
  path: string;
  message: string;
  /** namespace/name of the pod (or network name) the issue belongs to, when it can be told */
  key?: string;
  /**
   * 'SourceError': a spec source (directory) could not be read; `file` is the source, or the
   * file of a pod held because of it. Its pods are kept as they are, not InvalidSpec.
   */
  reason?: 'SourceError';
}

/** One network a pod joins, from the k8s.v1.cni.cncf.io/networks annotation (or the default). */
export interface PodNetworkRef {
  name: string;
  /** eth0, net1, net2… unless the annotation names one */
  interface: string;
  ips?: string[];
  mac?: string;
}

export interface LoadedPod {
  kind: 'Pod';
  /** `namespace/name` */
  key: string;
  namespace: string;
  name: string;
  /** the validated document (defaults applied: namespace 'default', restartPolicy 'Always', …) */
  pod: Pod;
  source: SourceRef;
  /** sha256 hex of the canonical JSON of the document: equal specs have equal hashes */
  hash: string;
  /** empty when hostNetwork; otherwise the annotation's networks, or [{name: <default>, interface: 'eth0'}] */
  networks: PodNetworkRef[];
  /**
   * Positions of the fields cross-document checks report on (`metadata.name`, the networks
   * annotation), keyed by field path. Optional: checks fall back to `source`.
   */
  positions?: Record<string, Position>;
}

export interface LoadedNetwork {
  kind: 'Network';
  name: string;
  network: Network;
  source: SourceRef;
  /** the CNI network configuration list built from the spec: {cniVersion, name, plugins, …} */
  conflist: Record<string, unknown>;
  /** positions of `metadata.name`, `spec.default` and IPAM subnet / bridge fields, keyed by field path */
  positions?: Record<string, Position>;
}

/** The result of parsing one file's text. */
export interface ParsedFile {
  file: string;
  pods: LoadedPod[];
  networks: LoadedNetwork[];
  issues: SpecIssue[];
}

/** The desired state after cross-document checks over every file. */
export interface DesiredSet {
  pods: LoadedPod[];
  networks: LoadedNetwork[];
  /**
   * One issue per pod document that lost a duplicate-definition conflict (`key` is the pod;
   * file/line are the losing document's). Not repeated in `issues`.
   */
  conflicts: SpecIssue[];
  /**
   * Every other error and warning, file by file in file-name order. An error whose `key`
   * holds a "/" belongs to a pod in `invalidKeys`; a key without "/" names a Network;
   * errors without a key make their file one of `invalidFiles`.
   */
  issues: SpecIssue[];
  /** keys of pods whose current document is invalid (their last good spec keeps running) */
  invalidKeys: string[];
  /** files with errors that no pod key could be told for (YAML syntax error etc.) */
  invalidFiles: string[];
}
