/**
 * What every command shares: the global options (every path configurable, DESIGN.md §1),
 * exit-code plumbing, and pod lookup.
 */
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { BerthError } from '../common/errors.js';
import { listRecords } from '../reconciler/records.js';
import { DEFAULTS, layoutOf, type GlobalOptions } from './globals.js';

export const EXIT_USAGE = 3;

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/**
 * The global options, defined once on the program: commander recognises them before and after
 * any subcommand (`berth status --state-dir X`, `berth --state-dir X image ls`), `opts()`
 * reads them with the command's own, and `berth --help` lists them once.
 */
export function addGlobalOptions(program: Command): Command {
  return program
    .option('--config-dir <dir>', 'configuration directory', DEFAULTS.configDir)
    .option('--spec-dir <dir>', 'directory of pod and network specs (repeatable)', collect)
    .option('--state-dir <dir>', 'state directory', DEFAULTS.stateDir)
    .option('--run-dir <dir>', 'runtime directory', DEFAULTS.runDir)
    .option('--log-dir <dir>', 'container log directory', DEFAULTS.logDir)
    .addOption(new Option('--runtime <name>', 'OCI runtime').choices(['crun', 'runc']).default(DEFAULTS.runtime))
    .option('--cni-plugin-dir <dir>', 'CNI plugin directory (repeatable)', collect)
    .option('--cni-conf-dir <dir>', 'directory of CNI conflists usable by name (repeatable)', collect)
    .option('--netns-dir <dir>', 'where network namespace handles live', DEFAULTS.netnsDir)
    .option('--concurrency <n>', 'pods set up at once', DEFAULTS.concurrency)
    .option('--pids-limit <n>', 'most processes and threads one app may have (0: no limit)', DEFAULTS.pidsLimit)
    .option(
      '--container-log-max-size <size>',
      "rotate an app's log when it reaches this size (as the kubelet)",
      DEFAULTS.containerLogMaxSize,
    )
    .option('--container-log-max-files <n>', 'log files kept per app execution, the live one included (≥ 2)', DEFAULTS.containerLogMaxFiles)
    .option('--log-level <level>', 'trace, debug, info, warn, error', DEFAULTS.logLevel)
    .option('--debug', 'print stack traces with errors')
    .addOption(
      new Option('--log-format <format>', 'json (NDJSON), text (human lines), auto: text on a terminal')
        .choices(['auto', 'json', 'text'])
        .default('auto'),
    );
}

/**
 * `--help` that teaches (issue 12 item 5): an Examples section after the options, each example
 * a `# what it does` line and the command line; the man page shows the same text (man.ts).
 */
export function examples(list: Array<[what: string, line: string]>): string {
  return `\nExamples:\n${list.map(([what, line]) => `  # ${what}\n  ${line}`).join('\n')}`;
}

/** The global options of a command, defaults applied. */
export function opts(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as Partial<GlobalOptions>;
  return {
    ...DEFAULTS,
    ...o,
    specDir: o.specDir?.length ? o.specDir : [...DEFAULTS.specDir],
    cniPluginDir: o.cniPluginDir?.length ? o.cniPluginDir : [...DEFAULTS.cniPluginDir],
    cniConfDir: o.cniConfDir?.length ? o.cniConfDir : [...DEFAULTS.cniConfDir, join(o.configDir ?? DEFAULTS.configDir, 'net.d')],
  } as GlobalOptions;
}

/** Actions return their exit code; commander only awaits them. */
export function act<A extends unknown[]>(fn: (...args: A) => Promise<number>) {
  return async (...args: A) => {
    process.exitCode = await fn(...args);
  };
}

/** The newest applied pod of that name (`name` or `namespace/name`). */
export async function findPod(o: GlobalOptions, name: string, namespace: string) {
  const key = name.includes('/') ? name : `${namespace}/${name}`;
  const recs = (await listRecords(layoutOf(o))).filter((r) => r.key === key);
  if (recs.length === 0) throw new BerthError('NotFound', `pod ${key} not found`);
  return recs.sort((a, b) => b.createdAt - a.createdAt)[0]!;
}
