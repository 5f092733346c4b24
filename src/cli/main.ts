/**
 * berth's command line (DESIGN.md §1): one module per command under commands/; one
 * exit-code table for all of them (exit-codes.ts).
 */
import { CommanderError, type Command } from 'commander';
import { errorLine, EXIT, exitCodeOf } from './exit-codes.js';
import { exitAfterFlush, toleratePipeClose } from './exit.js';
import { baseProgram, commandOf } from './program-base.js';
import { buildProgram, COMMANDS } from './program.js';

/** The program with only the command the line names (start-up time: see program-base.ts), else every command. */
async function programFor(argv: string[]): Promise<Command> {
  const base = baseProgram();
  const name = commandOf(argv.slice(2), base);
  const one = COMMANDS.find((c) => c.name === name && !c.whole);
  if (!one) return buildProgram(); // help, completion, man, a typo
  (await one.load()).register(base);
  return base;
}

async function main(argv: string[]): Promise<number> {
  try {
    const program = await programFor(argv);
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
