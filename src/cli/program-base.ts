/**
 * The program without its commands: name, version, global options, root help. `main.ts` adds
 * the one command a command line names (so `berth status` loads status's code, not the
 * agent's), or every command (program.ts) for help, completion and anything it cannot name.
 */
import { Command } from 'commander';
import { addGlobalOptions, examples } from './common.js';
import { setLogFormat } from './globals.js';
import { loadHumanLines, useHumanLines } from './log-format.js';
import { VERSION } from './commands/version.js';

export function baseProgram(): Command {
  const program = new Command('berth')
    .description('declarative container host agent: Kubernetes-style pod YAML to running, networked, supervised apps')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError()
    .hook('preAction', async (_program, action) => {
      const format = String(action.optsWithGlobals().logFormat ?? 'auto');
      setLogFormat(format);
      if (useHumanLines(format, 1) || useHumanLines(format, 2)) await loadHumanLines();
    });

  // Global options once, in `berth --help`; every subcommand's help points there.
  addGlobalOptions(program).addHelpText('afterAll', ({ command }) =>
    command === program ? '' : '\nGlobal options (--state-dir, --spec-dir, --config-dir, --log-level, --log-format, …): see berth --help',
  );
  program.addHelpText(
    'after',
    examples([
      ['converge the host to the pods in /etc/podspecs once, with a summary table', 'berth reconcile --once'],
      ['run as the host agent (what contrib/berth.service starts)', 'berth reconcile'],
      [
        'any command against a test installation: every path is a flag',
        'berth status --state-dir /tmp/b/state --run-dir /tmp/b/run --spec-dir /tmp/b/specs',
      ],
      ['machine-readable logs on a terminal too', 'berth reconcile --once --log-format json 2>&1 | jq .msg'],
      ['the help of one command, with its examples', 'berth help logs'],
    ]),
  );

  return program;
}

/**
 * The subcommand a command line names: the first word that is not an option or the value of
 * a global option that takes one (`berth --state-dir /x status` → status).
 */
export function commandOf(argv: string[], program: Command = baseProgram()): string | undefined {
  const takesValue = new Set<string>();
  for (const o of program.options) if (o.required || o.optional) for (const f of [o.long, o.short]) if (f) takesValue.add(f);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return argv[i + 1];
    if (!a.startsWith('-') || a === '-') return a;
    if (!a.includes('=') && takesValue.has(a)) i++;
  }
  return undefined;
}
