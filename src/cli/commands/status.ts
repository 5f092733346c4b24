/**
 * `berth status [POD]`: one row per pod, with kubectl get's conventions: `-o
 * wide|json|yaml|name|jsonpath=…`, `-n NS` (default `default`) or `-A`, `-l SELECTOR`,
 * `--no-headers`, `--sort-by`, `-w` (rows as they change). Read-only: it creates nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { BerthError, errorMessage } from '../../common/errors.js';
import type { PodStatusRow } from '../../reconciler/status.js';
import { createLogger } from '../globals.js';
import {
  podJson,
  sortRows,
  statusCells,
  statusDoc,
  statusHead,
  statusJson,
  statusTable,
  tableLine,
  widths,
  type TableOptions,
} from '../format.js';
import { execute, parseTemplate, relaxedPath, type Template } from '../jsonpath.js';
import { matches, parseSelector, type Selector } from '../selector.js';
import { act, examples, EXIT_USAGE, opts } from '../common.js';

type Output = { kind: 'table' | 'wide' | 'json' | 'yaml' | 'name' } | { kind: 'jsonpath'; template: Template };

/** A command line that asks for something `status` does not do: exit 3, one line on stderr. */
class UsageError extends Error {}

const FORMATS = 'wide, json, yaml, name, jsonpath=…';

/** `-o` as commander hands it over (`-o=json` arrives as `=json`). */
export function parseOutput(value: string | undefined): Output {
  if (value === undefined) return { kind: 'table' };
  const v = value.startsWith('=') ? value.slice(1) : value;
  if (v === 'wide' || v === 'json' || v === 'yaml' || v === 'name') return { kind: v };
  const m = /^jsonpath=(.*)$/s.exec(v);
  if (m) {
    if (m[1]!.trim() === '') throw new UsageError('-o jsonpath= needs a template, e.g. jsonpath={.pods[*].name}');
    try {
      return { kind: 'jsonpath', template: parseTemplate(m[1]!) };
    } catch (err) {
      throw new UsageError(errorMessage(err));
    }
  }
  throw new UsageError(`unknown output format "${v}" (${FORMATS})`);
}

interface StatusOpts {
  output?: string;
  namespace: string;
  allNamespaces?: boolean;
  selector?: string;
  watch?: boolean;
  headers: boolean;
  sortBy?: string;
}

/** Which rows the command line asks for, in the order it asks. */
function rowFilter(pod: string | undefined, c: StatusOpts, selector: Selector) {
  return (all: PodStatusRow[]): PodStatusRow[] => {
    let rows = all;
    if (pod) {
      const key = pod.includes('/') ? pod : `${c.namespace}/${pod}`;
      rows = rows.filter((r) => `${r.namespace}/${r.name}` === key);
    } else if (!c.allNamespaces) rows = rows.filter((r) => r.namespace === c.namespace);
    if (selector.length) rows = rows.filter((r) => matches(selector, r.labels));
    return c.sortBy ? sortRows(rows, c.sortBy) : rows;
  };
}

async function print(rows: PodStatusRow[], out: Output, c: StatusOpts): Promise<void> {
  const w = (s: string) => process.stdout.write(s);
  switch (out.kind) {
    case 'json':
      return void w(`${statusJson(rows)}\n`);
    case 'yaml':
      return void w((await import('yaml')).default.stringify(statusDoc(rows)));
    case 'name':
      return void w(rows.map((r) => `pod/${r.name}\n`).join(''));
    case 'jsonpath':
      return void w(execute(out.template, statusDoc(rows)));
    default:
      if (rows.length === 0) {
        process.stderr.write(c.allNamespaces ? 'No pods found.\n' : `No pods found in ${c.namespace} namespace.\n`);
        return;
      }
      w(`${statusTable(rows, { wide: out.kind === 'wide', allNamespaces: !!c.allNamespaces, noHeaders: !c.headers })}\n`);
  }
}

/**
 * `-w`: the rows once, then a row each time a pod's row changes (or the pod goes: its last
 * row again, as kubectl prints a deleted object), polling every second until SIGINT/SIGTERM
 * (exit 0) or until stdout's reader goes away.
 * Table rows line up with the first table; `-o json` prints every row as one JSON line,
 * `-o yaml` one document per row, `-o jsonpath` the template over `{"pods": [row]}`.
 */
async function watch(read: () => Promise<PodStatusRow[]>, first: PodStatusRow[], out: Output, c: StatusOpts): Promise<number> {
  const tableOpts: TableOptions = { wide: out.kind === 'wide', allNamespaces: !!c.allNamespaces };
  const head = statusHead(tableOpts);
  const YAML = out.kind === 'yaml' ? (await import('yaml')).default : undefined;
  let w = widths([...(c.headers ? [head] : []), ...first.map((r) => statusCells(r, tableOpts))]);
  const emit = (r: PodStatusRow) => {
    if (process.stdout.destroyed) return;
    switch (out.kind) {
      case 'json':
        return void process.stdout.write(`${JSON.stringify(podJson(r))}\n`);
      case 'yaml':
        return void process.stdout.write(`---\n${YAML!.stringify(podJson(r))}`);
      case 'name':
        return void process.stdout.write(`pod/${r.name}\n`);
      case 'jsonpath':
        return void process.stdout.write(execute(out.template, { pods: [podJson(r)] }));
      default: {
        const cells = statusCells(r, tableOpts);
        w = widths([w.map((n) => ' '.repeat(n)), cells]);
        process.stdout.write(`${tableLine(cells, w)}\n`);
      }
    }
  };
  if (out.kind === 'table' || out.kind === 'wide') {
    if (c.headers) process.stdout.write(`${tableLine(head, w)}\n`);
    for (const r of first) emit(r);
  } else for (const r of first) emit(r);

  const keyOf = (r: PodStatusRow) => `${r.namespace}/${r.name}/${r.uid ?? ''}`;
  const sigOf = (r: PodStatusRow) => JSON.stringify(podJson(r));
  let seen = new Map(first.map((r) => [keyOf(r), { row: r, sig: sigOf(r) }]));
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // a reader that went away (`berth status -w | head -3`) ends the watch too
  process.stdout.once('close', onSignal);
  let failing = false;
  try {
    while (!stop.signal.aborted) {
      await sleep(1000, undefined, { signal: stop.signal }).catch(() => undefined); // aborted: the loop ends just below
      if (stop.signal.aborted) break;
      let rows: PodStatusRow[];
      try {
        rows = await read();
        failing = false;
      } catch (err) {
        if (!failing) process.stderr.write(`berth: warning: reading the status failed (retrying every second): ${errorMessage(err)}\n`);
        failing = true;
        continue;
      }
      const next = new Map<string, { row: PodStatusRow; sig: string }>();
      for (const r of rows) {
        const k = keyOf(r);
        const s = { row: r, sig: sigOf(r) };
        next.set(k, s);
        if (seen.get(k)?.sig !== s.sig) emit(r);
      }
      for (const [k, s] of seen) if (!next.has(k)) emit(s.row);
      seen = next;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.stdout.off('close', onSignal);
  }
  return 0;
}

export function register(program: Command): void {
  program
    .command('status')
    .description('one row per pod (kubectl get pods conventions)')
    .argument('[pod]', 'only this pod (name or namespace/name)')
    .option('-o, --output <format>', `output format: ${FORMATS}`)
    .option('-n, --namespace <ns>', 'only pods of this namespace', 'default')
    .option('-A, --all-namespaces', 'pods of every namespace, with a NAMESPACE column')
    .option('-l, --selector <selector>', 'label selector: a=b, a!=b, a in (x,y), a notin (x), a, !a; comma = and')
    .option('-w, --watch', 'after the rows, print a row each time a pod changes (until interrupted)')
    .option('--no-headers', 'leave out the header line')
    .option('--sort-by <jsonpath>', "sort by a field of each pod's JSON, e.g. .name, .restarts, .status")
    .addHelpText(
      'after',
      examples([
        ['every pod of every namespace, with IPs, networks, ports, images and git revisions', 'berth status -A -o wide'],
        ['pods by label, most restarted last', "berth status -l 'app=web,tier in (front,edge)' --sort-by .restarts"],
        ['name and status of each pod, for a script', `berth status -o jsonpath='{range .pods[*]}{.name}{"\\t"}{.status}{"\\n"}{end}'`],
        ['a row each time a pod changes, until interrupted', 'berth status -w'],
      ]),
    )
    .action(
      act(async (pod: string | undefined, c: StatusOpts, cmd: Command) => {
        let out: Output;
        let selector: Selector;
        try {
          out = parseOutput(c.output);
          if (pod && c.allNamespaces) throw new UsageError('a pod cannot be named across all namespaces: drop -A or the pod name');
          try {
            selector = parseSelector(c.selector ?? '');
            if (c.sortBy !== undefined) relaxedPath(c.sortBy);
          } catch (err) {
            throw new UsageError(errorMessage(err));
          }
        } catch (err) {
          if (!(err instanceof UsageError)) throw err;
          process.stderr.write(`berth: error: ${err.message}\n`);
          return EXIT_USAGE;
        }
        const o = opts(cmd);
        const log = createLogger('warn', true);
        // loaded here, not at start-up: `berth status` loads only what reading the host needs
        const [{ createHost }, { collectStatus }] = await Promise.all([import('../wire.js'), import('../../reconciler/observe.js')]);
        const host = await createHost(o, log, { readOnly: true });
        const filter = rowFilter(pod, c, selector);
        const read = async () => filter(await collectStatus(host));
        const rows = await read();
        if (pod && rows.length === 0)
          throw new BerthError('NotFound', `pod ${pod.includes('/') ? pod : `${c.namespace}/${pod}`} not found`);
        if (c.watch) return watch(read, rows, out, c);
        await print(rows, out, c);
        return 0;
      }),
    );
}
