/**
 * berth's command line (DESIGN.md §1): one module per command under commands/. Exit codes
 * of `reconcile --once`: 0 converged, 1 not converged before --timeout (or, with
 * --dry-run, changes pending), 2 invalid input, 3 usage or internal error.
 */
import { Command, CommanderError } from 'commander';
import { BerthError, errorMessage } from '../common/errors.js';
import { addGlobalOptions, EXIT_USAGE } from './common.js';
import { exitAfterFlush, toleratePipeClose } from './exit.js';
import { setLogFormat } from './wire.js';
import * as reconcile from './commands/reconcile.js';
import * as validate from './commands/validate.js';
import * as status from './commands/status.js';
import * as describe from './commands/describe.js';
import * as logs from './commands/logs.js';
import * as image from './commands/image.js';
import * as trust from './commands/trust.js';
import * as net from './commands/net.js';
import * as gc from './commands/gc.js';

const program = new Command('berth')
  .description('declarative container host agent: Kubernetes-style pod YAML to running, networked, supervised apps')
  .version('0.1.0')
  .exitOverride()
  .showHelpAfterError()
  .hook('preAction', (_program, action) => setLogFormat(String(action.optsWithGlobals().logFormat ?? 'auto')));

// Global options once, in `berth --help`; every subcommand's help points there.
addGlobalOptions(program).addHelpText('afterAll', ({ command }) => (command === program ? '' : '\nGlobal options (--state-dir, --spec-dir, --config-dir, --log-level, --log-format, …): see berth --help'));

for (const c of [reconcile, validate, status, describe, logs, net, image, trust, gc]) c.register(program);

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

toleratePipeClose(process.stdout);
toleratePipeClose(process.stderr);

// Never process.exit() before stdout has drained: a piped reader would get a cut-off output.
main(process.argv).then(
  (code) => exitAfterFlush(code),
  (err) => {
    process.stderr.write(`berth: internal error: ${errorMessage(err)}\n`);
    return exitAfterFlush(EXIT_USAGE);
  },
);
