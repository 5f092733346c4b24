/**
 * berth's command line (DESIGN.md §1): one module per command under commands/; one
 * exit-code table for all of them (exit-codes.ts).
 */
import { CommanderError } from 'commander';
import { errorLine, EXIT, exitCodeOf } from './exit-codes.js';
import { exitAfterFlush, toleratePipeClose } from './exit.js';
import { buildProgram } from './program.js';

const program = buildProgram();

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
