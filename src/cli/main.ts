#!/usr/bin/env node
/**
 * berth's command line (DESIGN.md §1). Exit codes of `reconcile --once`: 0 converged,
 * 1 not converged before --timeout (or, with --dry-run, changes pending), 2 invalid input,
 * 3 usage or internal error.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option, CommanderError } from 'commander';
import { BerthError, errorMessage } from '../common/errors.js';
import { parseDuration } from '../common/duration.js';
import { readCriLog } from '../runtime/index.js';
import { formatIssue } from '../spec/index.js';
import {
  collectStatus,
  formatPlan,
  hasChanges,
  listRecords,
  podLogDir,
  readSpecFiles,
  Reconciler,
  type PodStatusRow,
} from '../reconciler/index.js';
import { resolveDesired } from '../spec/index.js';
import { createHost, createLogger, DEFAULTS, layoutOf, type GlobalOptions } from './wire.js';
import { statusJson, statusTable } from './format.js';

const EXIT_USAGE = 3;

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

function globalOptions(cmd: Command): Command {
  return cmd
    .option('--config-dir <dir>', 'configuration directory', DEFAULTS.configDir)
    .option('--spec-dir <dir>', 'directory of pod and network specs (repeatable)', collect)
    .option('--state-dir <dir>', 'state directory', DEFAULTS.stateDir)
    .option('--run-dir <dir>', 'runtime directory', DEFAULTS.runDir)
    .option('--log-dir <dir>', 'container log directory', DEFAULTS.logDir)
    .addOption(new Option('--runtime <name>', 'OCI runtime').choices(['crun', 'runc']).default(DEFAULTS.runtime))
    .option('--cni-plugin-dir <dir>', 'CNI plugin directory (repeatable)', (v: string, p: string[] | undefined) => [...(p ?? []), v])
    .option('--cni-conf-dir <dir>', 'directory of CNI conflists usable by name (repeatable)', (v: string, p: string[] | undefined) => [...(p ?? []), v])
    .option('--netns-dir <dir>', 'where network namespace handles live', DEFAULTS.netnsDir)
    .option('--concurrency <n>', 'pods set up at once', DEFAULTS.concurrency)
    .option('--log-level <level>', 'trace, debug, info, warn, error', DEFAULTS.logLevel);
}

function opts(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as Partial<GlobalOptions>;
  return {
    ...DEFAULTS,
    ...o,
    specDir: o.specDir?.length ? o.specDir : [...DEFAULTS.specDir],
    cniPluginDir: o.cniPluginDir?.length ? o.cniPluginDir : [...DEFAULTS.cniPluginDir],
    cniConfDir: o.cniConfDir?.length ? o.cniConfDir : [...DEFAULTS.cniConfDir, join(o.configDir ?? DEFAULTS.configDir, 'net.d')],
  } as GlobalOptions;
}

async function findPod(o: GlobalOptions, name: string, namespace: string) {
  const key = name.includes('/') ? name : `${namespace}/${name}`;
  const recs = (await listRecords(layoutOf(o))).filter((r) => r.key === key);
  if (recs.length === 0) throw new BerthError('NotFound', `pod ${key} not found`);
  return recs.sort((a, b) => b.createdAt - a.createdAt)[0]!;
}

const program = new Command('berth')
  .description('declarative container host agent: Kubernetes-style pod YAML to running, networked, supervised apps')
  .version('0.1.0')
  .exitOverride()
  .showHelpAfterError();

globalOptions(
  program
    .command('reconcile')
    .description('converge the host to the specs: as a daemon, or --once')
    .option('--once', 'converge once, wait until every pod is settled or --timeout passes, exit')
    .option('--dry-run', 'print the plan, change nothing (with --once)')
    .option('--timeout <duration>', 'how long --once waits for pods to settle', '2m')
    .option('--resync <duration>', 'daemon: how often to look for drift', '10s'),
).action(act(async (cmdOpts: { once?: boolean; dryRun?: boolean; timeout: string; resync: string }, cmd: Command) => {
  const o = opts(cmd);
  const log = createLogger(o.logLevel, Boolean(cmdOpts.dryRun));
  const timeoutMs = parseDuration(cmdOpts.timeout);
  const host = await createHost(o, log);
  const rec = new Reconciler(host, { cniConfDirs: o.cniConfDir, resyncMs: parseDuration(cmdOpts.resync) });
  if (cmdOpts.dryRun) {
    const { desired, plan } = await rec.plan(true);
    for (const i of [...desired.issues, ...desired.conflicts]) process.stderr.write(`${formatIssue(i)}\n`);
    const lines = formatPlan(plan);
    process.stdout.write(lines.length ? `${lines.join('\n')}\n` : 'no changes\n');
    return desired.issues.some((i) => i.severity === 'error') || desired.conflicts.length ? 2 : hasChanges(plan) ? 1 : 0;
  }
  if (cmdOpts.once) {
    const res = await rec.once(timeoutMs);
    for (const i of res.issues.filter((x) => x.severity === 'error')) process.stderr.write(`${formatIssue(i)}\n`);
    return res.exitCode;
  }
  const ac = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => ac.abort());
  await rec.run(ac.signal);
  return 0;
}));

globalOptions(program.command('validate').description('check spec files without touching the host').argument('[paths...]', 'files or directories'))
  .option('-o, --output <format>', 'json for machine-readable issues')
  .action(act(async (paths: string[], cmdOpts: { output?: string }, cmd: Command) => {
    const o = opts(cmd);
    const files = await readSpecFiles(paths.length ? paths : o.specDir);
    const desired = resolveDesired(files);
    const issues = [...desired.issues, ...desired.conflicts];
    if (cmdOpts.output === 'json') process.stdout.write(`${JSON.stringify({ files: files.map((f) => f.file), pods: desired.pods.map((p) => p.key), networks: desired.networks.map((n) => n.name), issues }, null, 2)}\n`);
    else {
      for (const i of issues) process.stdout.write(`${formatIssue(i)}\n`);
      process.stdout.write(`${files.length} file(s), ${desired.pods.length} valid pod(s), ${desired.networks.length} network(s), ${issues.filter((i) => i.severity === 'error').length} error(s)\n`);
    }
    return issues.some((i) => i.severity === 'error') ? 2 : 0;
  }));

globalOptions(program.command('status').description('one row per pod').argument('[pod]', 'only this pod (name or namespace/name)'))
  .option('-o, --output <format>', 'wide or json')
  .option('-n, --namespace <ns>', 'namespace of POD', 'default')
  .action(act(async (pod: string | undefined, cmdOpts: { output?: string; namespace: string }, cmd: Command) => {
    const o = opts(cmd);
    const log = createLogger('warn', true);
    const host = await createHost(o, log);
    let rows: PodStatusRow[] = await collectStatus(host);
    if (pod) {
      const key = pod.includes('/') ? pod : `${cmdOpts.namespace}/${pod}`;
      rows = rows.filter((r) => `${r.namespace}/${r.name}` === key);
      if (rows.length === 0) throw new BerthError('NotFound', `pod ${key} not found`);
    }
    if (cmdOpts.output === 'json') process.stdout.write(`${statusJson(rows)}\n`);
    else if (rows.length === 0) process.stdout.write('No pods.\n');
    else process.stdout.write(`${statusTable(rows, cmdOpts.output === 'wide')}\n`);
    return 0;
  }));

globalOptions(program.command('describe').description('spec summary, per-app state, exit codes, restarts').argument('<pod>'))
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .action(act(async (pod: string, cmdOpts: { namespace: string }, cmd: Command) => {
    const o = opts(cmd);
    const host = await createHost(o, createLogger('warn', true));
    const rec = await findPod(o, pod, cmdOpts.namespace);
    const row = (await collectStatus(host)).find((r) => r.uid === rec.uid)!;
    const out: string[] = [
      `Name:         ${rec.name}`,
      `Namespace:    ${rec.namespace}`,
      `UID:          ${rec.uid}`,
      `Source:       ${rec.source.file}:${rec.source.line}`,
      `Status:       ${row.status}${row.message ? ` (${row.message})` : ''}`,
      `Created:      ${new Date(rec.createdAt).toISOString()}`,
      `Restart:      ${rec.pod.spec.restartPolicy}`,
      `Netns:        ${rec.netns ?? (rec.pod.spec.hostNetwork ? 'host' : '-')}`,
      `IPs:          ${row.ips.join(', ') || '-'}`,
      'Networks:',
      ...row.networks.map((n) => `  ${n.name} on ${n.interface}: ${n.ips.join(', ')}`),
      'Apps:',
    ];
    for (const a of row.apps) {
      const r = rec.apps[a.name];
      out.push(`  ${a.name}:`, `    Image:      ${a.image}${a.imageDigest ? ` (${a.imageDigest})` : ''}`, `    State:      ${a.state}${a.reason ? ` (${a.reason})` : ''}${a.pid ? `, pid ${a.pid}` : ''}`);
      if (a.startedAt) out.push(`    Started:    ${a.startedAt}`);
      if (r?.lastExit) out.push(`    Last exit:  code ${r.lastExit.exitCode} at ${new Date(r.lastExit.finishedAt).toISOString()}`);
      if (r?.lastError) out.push(`    Last error: ${r.lastError.message}`);
      out.push(`    Restarts:   ${a.restartCount}`);
    }
    if (rec.lastError) out.push(`Last error:   ${rec.lastError.step}: ${rec.lastError.message}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  }));

globalOptions(program.command('logs').description('container logs').argument('<pod>'))
  .option('-c, --container <app>', 'app name (default: the only or first app)')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .option('-f, --follow', 'follow the log')
  .option('-p, --previous', 'the previous execution')
  .option('--tail <n>', 'last N lines')
  .option('--timestamps', 'prefix each line with its time')
  .action(act(async (pod: string, c: { container?: string; namespace: string; follow?: boolean; previous?: boolean; tail?: string; timestamps?: boolean }, cmd: Command) => {
    const o = opts(cmd);
    const rec = await findPod(o, pod, c.namespace);
    const app = c.container ?? rec.pod.spec.containers[0]!.name;
    if (!rec.apps[app]) throw new BerthError('NotFound', `pod ${rec.key} has no app ${app} (apps: ${Object.keys(rec.apps).join(', ')})`);
    const dir = join(podLogDir(layoutOf(o), rec.namespace, rec.name, rec.uid), app);
    const runs = (await readdir(dir).catch(() => [] as string[]))
      .map((f) => /^(\d+)\.log$/.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const pick = c.previous ? runs.at(-2) : runs.at(-1);
    if (pick === undefined) throw new BerthError('NotFound', c.previous ? `no previous execution of ${app}` : `no logs yet for ${app}`);
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    for await (const line of readCriLog(join(dir, `${pick}.log`), {
      follow: Boolean(c.follow),
      timestamps: Boolean(c.timestamps),
      ...(c.tail !== undefined ? { tail: Number(c.tail) } : {}),
      signal: ac.signal,
    })) {
      process.stdout.write(`${line}\n`);
    }
    return 0;
  }));

/** Actions return their exit code; commander only awaits them. */
function act<A extends unknown[]>(fn: (...args: A) => Promise<number>) {
  return async (...args: A) => {
    process.exitCode = await fn(...args);
  };
}

async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    process.stderr.write(`berth: ${errorMessage(err)}\n`);
    return err instanceof BerthError && err.code === 'NotFound' ? 1 : EXIT_USAGE;
  }
}

main(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`berth: internal error: ${errorMessage(err)}\n`);
    process.exit(EXIT_USAGE);
  },
);
