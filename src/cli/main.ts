/**
 * berth's command line (DESIGN.md §1): one module per command under commands/; one
 * exit-code table for all of them (exit-codes.ts).
 */
import { Command, CommanderError } from 'commander';
import { addGlobalOptions } from './common.js';
import { errorLine, EXIT, exitCodeOf } from './exit-codes.js';
import { exitAfterFlush, toleratePipeClose } from './exit.js';
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

const program = new Command('berth')
  .description('declarative container host agent: Kubernetes-style pod YAML to running, networked, supervised apps')
  .version(VERSION)
  .exitOverride()
  .showHelpAfterError()
  .hook('preAction', (_program, action) => setLogFormat(String(action.optsWithGlobals().logFormat ?? 'auto')));

// Global options once, in `berth --help`; every subcommand's help points there.
addGlobalOptions(program).addHelpText('afterAll', ({ command }) => (command === program ? '' : '\nGlobal options (--state-dir, --spec-dir, --config-dir, --log-level, --log-format, …): see berth --help'));

for (const c of [reconcile, validate, status, describe, events, logs, exec, condition, net, image, trust, gc, version, completion, man]) c.register(program);

async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    // commander has printed its own usage error already
    if (!(err instanceof CommanderError)) process.stderr.write(errorLine(err, argv.includes('--debug')));
    return exitCodeOf(err);
  }
}

toleratePipeClose(process.stdout);
toleratePipeClose(process.stderr);

// Never process.exit() before stdout has drained: a piped reader would get a cut-off output.
main(process.argv).then(
  (code) => exitAfterFlush(code),
  (err) => {
    process.stderr.write(errorLine(err, true));
    return exitAfterFlush(EXIT.usage);
  },
);
