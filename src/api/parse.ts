/**
 * One file's text → its Pods and Networks, with every problem positioned at file:line:column
 * and a field path. Several YAML documents per file; empty documents are skipped. A document
 * that fails validation still names its pod (`key`) when metadata.name can be read, so that
 * the reconciler can mark that pod InvalidSpec and keep its last good spec running.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { z, type ZodIssue } from 'zod';
import { checkPod } from './checks.js';
import { checkPodLimits, checkRawLimits } from './limits.js';
import { checkPodApi } from './pod-api-checks.js';
import { bridgeNames, cidrRange, ipamRangeProblems, ipamSubnets, networkConflist } from './cni-config.js';
import { Network } from './network.js';
import { formatPath, type FieldPath } from './path.js';
import { NETWORKS_ANNOTATION, Pod } from './pod.js';
import { specHash } from './hash.js';
import type { LoadedNetwork, LoadedPod, ParsedFile, Position, SourceRef, SpecIssue } from './types.js';
import { scanPod, type RawIssue } from './unsupported.js';

const POD_API = { apiVersion: 'v1', kind: 'Pod' } as const;
const NETWORK_API = { apiVersion: 'berth.dev/v1', kind: 'Network' } as const;

export function parseFile(text: string, file: string): ParsedFile {
  const lineCounter = new LineCounter();
  const out: ParsedFile = { file, pods: [], networks: [], issues: [] };
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  const pos = (offset: number): Position => {
    const p = lineCounter.linePos(offset);
    return { line: Math.max(p.line, 1), column: Math.max(p.col, 1) };
  };
  docs.forEach((doc, index) => loadDocument(doc as Document.Parsed, index, { file, pos, out }));
  return out;
}

interface Ctx {
  file: string;
  pos: (offset: number) => Position;
  out: ParsedFile;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function loadDocument(doc: Document.Parsed, index: number, ctx: Ctx): void {
  const { file, pos, out } = ctx;
  const issuesBefore = out.issues.length;
  const syntax = (severity: 'error' | 'warning', e: { message: string; pos: [number, number] }): void => {
    out.issues.push({
      severity,
      file,
      ...pos(e.pos[0]),
      path: '',
      message: severity === 'error' ? `invalid YAML: ${e.message}` : e.message,
    });
  };
  doc.warnings.forEach((w) => syntax('warning', w));
  if (doc.errors.length > 0) {
    // The document's structure cannot be trusted (a half-written file, say): a pod name read
    // from it might be truncated, so pod documents are reported without a key and the file
    // counts as invalid. A broken Network is keyed by the name it seems to have, so that the
    // desired set never silently falls back to the builtin default network meanwhile.
    const key = brokenNetworkKey(doc);
    doc.errors.forEach((e) => syntax('error', e));
    if (key !== undefined) for (const i of out.issues.slice(issuesBefore)) if (i.severity === 'error') i.key = key;
    return;
  }
  const contents = doc.contents;
  if (contents === null || (isScalar(contents) && (contents.value === null || contents.value === undefined))) return;

  const start = pos(contents.range[0]);
  const source: SourceRef = { file, doc: index, ...start };
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    out.issues.push({ severity: 'error', file, ...start, path: '', message: `cannot read document: ${(err as Error).message}` });
    return;
  }
  if (!isObject(raw)) {
    out.issues.push({ severity: 'error', file, ...start, path: '', message: 'a document must be a mapping with apiVersion and kind' });
    return;
  }

  const located = (issues: RawIssue[], key: string | undefined): SpecIssue[] =>
    issues.map((i) => {
      const offset = locate(doc, i.path, i.atKey ?? false);
      const issue: SpecIssue = {
        severity: i.severity,
        file,
        ...(offset === undefined ? start : pos(offset)),
        path: formatPath(i.path),
        message: i.message,
      };
      if (key !== undefined) issue.key = key;
      return issue;
    });

  const { apiVersion, kind } = raw;
  if (kind === POD_API.kind) {
    const key = podKey(raw);
    if (apiVersion !== POD_API.apiVersion) {
      out.issues.push(...located([wrongApiVersion(kind, apiVersion, POD_API.apiVersion)], key));
    } else {
      const pod = loadPod(raw, { doc, source, located, pos, out: out.issues }, key);
      if (pod) out.pods.push(pod);
    }
  } else if (kind === NETWORK_API.kind) {
    const key = networkKey(raw);
    if (apiVersion !== NETWORK_API.apiVersion) {
      out.issues.push(...located([wrongApiVersion(kind, apiVersion, NETWORK_API.apiVersion)], key));
    } else {
      const net = loadNetwork(raw, { doc, source, located, pos, out: out.issues }, key);
      if (net) out.networks.push(net);
    }
  } else {
    const path: FieldPath = kind === undefined ? [] : ['kind'];
    const message =
      kind === undefined || apiVersion === undefined
        ? `missing ${kind === undefined ? 'kind' : 'apiVersion'}: berth reads apiVersion "v1" kind "Pod" and apiVersion "berth.dev/v1" kind "Network" documents`
        : `unsupported document apiVersion ${JSON.stringify(apiVersion)}, kind ${JSON.stringify(kind)}: berth reads apiVersion "v1" kind "Pod" and apiVersion "berth.dev/v1" kind "Network"`;
    out.issues.push(...located([{ severity: 'error', path, message }], undefined));
  }
  sortIssues(out.issues, issuesBefore);
}

function wrongApiVersion(kind: string, apiVersion: unknown, want: string): RawIssue {
  return {
    severity: 'error',
    path: apiVersion === undefined ? [] : ['apiVersion'],
    message: `unsupported apiVersion ${JSON.stringify(apiVersion ?? null)} for kind "${kind}": use apiVersion "${want}"`,
  };
}

/** Sort the issues of one document by position (stable), leaving earlier documents alone. */
function sortIssues(issues: SpecIssue[], from: number): void {
  const tail = issues.splice(from).map((issue, i) => ({ issue, i }));
  tail.sort((a, b) => (a.issue.line ?? 0) - (b.issue.line ?? 0) || (a.issue.column ?? 0) - (b.issue.column ?? 0) || a.i - b.i);
  issues.push(...tail.map((t) => t.issue));
}

type Locate = (issues: RawIssue[], key: string | undefined) => SpecIssue[];

/** `namespace/name` when the raw document names its pod, valid or not. */
function podKey(raw: Record<string, unknown>): string | undefined {
  const meta = raw['metadata'];
  if (!isObject(meta)) return undefined;
  const { name, namespace } = meta;
  if (typeof name !== 'string' || name === '') return undefined;
  if (namespace !== undefined && (typeof namespace !== 'string' || namespace === '')) return undefined;
  return `${namespace ?? 'default'}/${name}`;
}

/**
 * For a document with syntax errors that still reads as kind Network: the name it seems to
 * have, or "?" when none can be read (the network is then unknown but still counted invalid).
 */
function brokenNetworkKey(doc: Document.Parsed): string | undefined {
  const contents = doc.contents;
  if (!isMap(contents)) return undefined;
  const kind: unknown = contents.get('kind', true);
  if (!isScalar(kind) || kind.value !== NETWORK_API.kind) return undefined;
  const name: unknown = doc.getIn(['metadata', 'name'], true);
  return isScalar(name) && typeof name.value === 'string' && name.value !== '' && !name.value.includes('/') ? name.value : '?';
}

function networkKey(raw: Record<string, unknown>): string | undefined {
  const meta = raw['metadata'];
  if (!isObject(meta)) return undefined;
  const name = meta['name'];
  // A network key never holds "/": that is how issue keys tell networks from pods.
  return typeof name === 'string' && name !== '' ? name.replaceAll('/', '_') : undefined;
}

interface DocCtx {
  doc: Document.Parsed;
  source: SourceRef;
  located: Locate;
  pos: (offset: number) => Position;
  /** where the document's issues go */
  out: SpecIssue[];
}

function loadPod(raw: Record<string, unknown>, ctx: DocCtx, key: string | undefined): LoadedPod | undefined {
  const { located, out } = ctx;
  const before = out.length;
  const scanned = [...scanPod(raw), ...checkRawLimits(raw)];
  const reported = new Set(scanned.filter((i) => i.severity === 'error').map((i) => formatPath(i.path)));
  out.push(...located(scanned, key));

  const result = Pod.safeParse(raw);
  if (!result.success) {
    out.push(...located(zodIssues(result.error.issues, reported, Pod), key));
    return undefined;
  }
  const pod = result.data;
  const checked = checkPod(pod);
  out.push(...located([...checked.issues, ...checkPodLimits(pod), ...checkPodApi(pod)], key));
  if (hasErrors(out, before)) return undefined;

  const loaded: LoadedPod = {
    kind: 'Pod',
    key: `${pod.metadata.namespace}/${pod.metadata.name}`,
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    pod,
    source: ctx.source,
    hash: specHash(pod),
    networks: checked.networks ?? [],
  };
  // where the cross-document checks point: images (reference syntax) and ports (hostPort owners)
  const perContainer = (['initContainers', 'containers'] as const).flatMap((list) =>
    (pod.spec[list] ?? []).flatMap((c, ci) => [
      ['spec', list, ci, 'image'] as FieldPath,
      ...(c.ports ?? []).flatMap((_, pi) => [
        ['spec', list, ci, 'ports', pi, 'hostPort'] as FieldPath,
        ['spec', list, ci, 'ports', pi, 'containerPort'] as FieldPath,
      ]),
    ]),
  );
  loaded.positions = positionsOf(ctx, [['metadata', 'name'], ['metadata', 'annotations', NETWORKS_ANNOTATION], ...perContainer]);
  return loaded;
}

function loadNetwork(raw: Record<string, unknown>, ctx: DocCtx, key: string | undefined): LoadedNetwork | undefined {
  const { located, out } = ctx;
  const before = out.length;
  out.push(...located(checkRawLimits(raw), key));
  const result = Network.safeParse(raw);
  if (!result.success) {
    out.push(...located(zodIssues(result.error.issues, new Set(), Network), key));
    return undefined;
  }
  const network = result.data;
  const checks: RawIssue[] = [];
  const subnets = ipamSubnets(network.spec.plugins);
  for (const s of subnets) {
    if (cidrRange(s.cidr) === undefined) {
      checks.push({
        severity: 'error',
        path: ['spec', 'plugins', ...s.path],
        message: `"${s.cidr}" is not a subnet in CIDR notation (e.g. 10.88.0.0/16 or fd00:88::/64)`,
      });
    }
  }
  for (const p of ipamRangeProblems(network.spec.plugins))
    checks.push({ severity: 'error', path: ['spec', 'plugins', ...p.path], message: p.message });
  network.spec.plugins.forEach((plugin, i) => {
    for (const k of Object.keys(plugin)) {
      if (k === 'runtimeConfig' || k.startsWith('cni.dev/')) {
        checks.push({
          severity: 'warning',
          path: ['spec', 'plugins', i, k],
          message: `"${k}" is reserved: the runtime sets it on every call and this value is overwritten`,
          atKey: true,
        });
      }
    }
  });
  out.push(...located(checks, key));
  if (hasErrors(out, before)) return undefined;

  const loaded: LoadedNetwork = {
    kind: 'Network',
    name: network.metadata.name,
    network,
    source: ctx.source,
    conflist: networkConflist(network),
  };
  loaded.positions = positionsOf(ctx, [
    ['metadata', 'name'],
    ['spec', 'default'],
    ...subnets.map((s) => ['spec', 'plugins', ...s.path]),
    ...bridgeNames(network.spec.plugins).map((b) => ['spec', 'plugins', b.index, 'bridge']),
    // for the plugin-path check the reconciler and `berth validate` add (see ResolveOptions)
    ...network.spec.plugins.flatMap((_p, i) => [
      ['spec', 'plugins', i, 'type'],
      ['spec', 'plugins', i, 'ipam', 'type'],
    ]),
  ]);
  return loaded;
}

const hasErrors = (issues: SpecIssue[], from: number): boolean => issues.slice(from).some((i) => i.severity === 'error');

/** Positions of the given fields that exist in the document, keyed by formatted path. */
function positionsOf(ctx: DocCtx, paths: FieldPath[]): Record<string, Position> {
  const out: Record<string, Position> = {};
  for (const path of paths) {
    if (!exists(ctx.doc, path)) continue;
    const offset = locate(ctx.doc, path, false);
    if (offset !== undefined) out[formatPath(path)] = ctx.pos(offset);
  }
  return out;
}

// ---- zod issues → messages -------------------------------------------------------------

/** Turn zod issues into berth's, with clearer messages; skips unknown keys already reported. */
function zodIssues(issues: ZodIssue[], reported: Set<string>, schema: z.ZodTypeAny): RawIssue[] {
  const out: RawIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, issue.path);
      for (const k of issue.keys) {
        const path = [...issue.path, k];
        if (reported.has(formatPath(path))) continue;
        const guess = closest(k, known);
        out.push({ severity: 'error', path, message: `unknown field "${k}"${guess ? ` (did you mean "${guess}"?)` : ''}`, atKey: true });
      }
      continue;
    }
    out.push({ severity: 'error', path: issue.path, message: zodMessage(issue) });
  }
  return out;
}

function zodMessage(issue: ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.received === 'undefined') return issue.message === 'Required' ? 'required field is missing' : issue.message;
      if (issue.received === 'null') return `is empty: expected ${issue.expected}`;
      return `expected ${issue.expected}, got ${issue.received}`;
    case 'invalid_literal':
      return `must be ${JSON.stringify(issue.expected)}`;
    case 'invalid_enum_value':
      return `must be one of ${issue.options.map((o) => JSON.stringify(o)).join(', ')}, not ${JSON.stringify(issue.received)}`;
    case 'invalid_union': {
      const inner = issue.unionErrors.flatMap((e) => e.issues);
      const specific = inner.find((i) => i.code !== 'invalid_type');
      if (specific) return zodMessage(specific);
      const expected = [...new Set(inner.flatMap((i) => (i.code === 'invalid_type' ? [i.expected] : [])))];
      const received = inner.find((i) => i.code === 'invalid_type');
      return `expected ${expected.join(' or ')}${received && received.code === 'invalid_type' ? `, got ${received.received}` : ''}`;
    }
    default:
      return issue.message;
  }
}

/** The keys an object schema at `path` knows, for "did you mean" hints. */
function knownKeys(schema: z.ZodTypeAny, path: ReadonlyArray<string | number>): string[] {
  let s: z.ZodTypeAny | undefined = schema;
  const unwrap = (t: z.ZodTypeAny): z.ZodTypeAny => {
    for (;;) {
      if (t instanceof z.ZodOptional || t instanceof z.ZodNullable) t = t.unwrap();
      else if (t instanceof z.ZodDefault) t = t.removeDefault();
      else if (t instanceof z.ZodEffects) t = t.innerType();
      else return t;
    }
  };
  for (const seg of path) {
    if (!s) return [];
    s = unwrap(s);
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodTypeAny>)[String(seg)];
    else if (s instanceof z.ZodArray) s = s.element;
    else if (s instanceof z.ZodRecord) s = s.valueSchema;
    else return [];
  }
  if (!s) return [];
  s = unwrap(s);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist && d <= limit) {
      best = c;
      bestDist = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

// ---- field path → YAML node ------------------------------------------------------------

function keyMatches(key: unknown, seg: string | number): boolean {
  if (isScalar(key)) return String(key.value) === String(seg);
  return key === seg;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range ? range[0] : undefined;
}

function isEmptyScalar(node: unknown): boolean {
  return isScalar(node) && (node.value === null || node.value === undefined) && node.source === '';
}

function step(doc: Document.Parsed, node: unknown, seg: string | number): { key?: unknown; value: unknown } | undefined {
  if (isAlias(node)) node = node.resolve(doc);
  if (isMap(node)) {
    const pair = node.items.find((p) => keyMatches(p.key, seg));
    return pair ? { key: pair.key, value: pair.value } : undefined;
  }
  if (isSeq(node) && typeof seg === 'number') {
    const item = node.items[seg];
    return item === undefined ? undefined : { value: item };
  }
  return undefined;
}

function exists(doc: Document.Parsed, path: FieldPath): boolean {
  let node: unknown = doc.contents;
  for (const seg of path) {
    const next = step(doc, node, seg);
    if (!next) return false;
    node = next.value;
  }
  return true;
}

/**
 * The offset that best points at `path`: its value (or its key when `atKey`, or when the
 * value is empty), else the deepest ancestor that exists (a missing field points at the
 * mapping that lacks it).
 */
function locate(doc: Document.Parsed, path: FieldPath, atKey: boolean): number | undefined {
  let node: unknown = doc.contents;
  let best = rangeStart(node);
  for (let i = 0; i < path.length; i++) {
    const next = step(doc, node, path[i]!);
    if (!next) return best;
    const last = i === path.length - 1;
    const keyStart = next.key === undefined ? undefined : rangeStart(next.key);
    const valueStart = isEmptyScalar(next.value) ? undefined : rangeStart(next.value);
    if (last && atKey && keyStart !== undefined) return keyStart;
    best = valueStart ?? keyStart ?? best;
    node = next.value;
  }
  return best;
}
