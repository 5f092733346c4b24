/**
 * The command tree, built from one module per command under commands/: main.ts runs it; the
 * help, completion and man-page tests walk it.
 */
import { Command } from 'commander';
import { addGlobalOptions, examples } from './common.js';
import { setLogFormat } from './wire.js';
import * as reconcile from './commands/reconcile.js';
import * as validate from './commands/validate.js';
import * as status from './commands/status.js';
import * as describe from './commands/describe.js';
import * as events from './commands/events.js';
import * as logs from './commands/logs.js';
import * as exec from './commands/exec.js';
import * as image from './commands/image.js';
import * as trust from './commands/trust.js';
import * as net from './commands/net.js';
import * as gc from './commands/gc.js';
import * as version from './commands/version.js';
import * as completion from './commands/completion.js';
import * as man from './commands/man.js';
import * as condition from './commands/condition.js';
import { VERSION } from './commands/version.js';

export function buildProgram(): Command {
  const program = new Command('berth')
    .description('declarative container host agent: Kubernetes-style pod YAML to running, networked, supervised apps')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError()
    .hook('preAction', (_program, action) => setLogFormat(String(action.optsWithGlobals().logFormat ?? 'auto')));

  // Global options once, in `berth --help`; every subcommand's help points there.
  addGlobalOptions(program).addHelpText('afterAll', ({ command }) => (command === program ? '' : '\nGlobal options (--state-dir, --spec-dir, --config-dir, --log-level, --log-format, …): see berth --help'));
  program.addHelpText('after', examples([
    ['converge the host to the pods in /etc/podspecs once, with a summary table', 'berth reconcile --once'],
    ['run as the host agent (what contrib/berth.service starts)', 'berth reconcile'],
    ['any command against a test installation: every path is a flag', 'berth status --state-dir /tmp/b/state --run-dir /tmp/b/run --spec-dir /tmp/b/specs'],
    ['machine-readable logs on a terminal too', 'berth reconcile --once --log-format json 2>&1 | jq .msg'],
    ['the help of one command, with its examples', 'berth help logs'],
  ]));

  for (const c of [reconcile, validate, status, describe, events, logs, exec, condition, net, image, trust, gc, version, completion, man]) c.register(program);
  return program;
}
