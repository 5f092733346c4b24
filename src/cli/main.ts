/**
 * berth's command line (DESIGN.md §1): one module per command under commands/; one
 * exit-code table for all of them (exit-codes.ts).
 */
import { CommanderError } from 'commander';
import { errorLine, EXIT, exitCodeOf } from './exit-codes.js';
import { exitAfterFlush, toleratePipeClose } from './exit.js';
import type { Command } from 'commander';
import { baseProgram, commandOf } from './program-base.js';

/** Each command's module, loaded alone when the command line names it (start-up time: see program-base.ts). */
const COMMANDS: Record<string, () => Promise<{ register(program: Command): void }>> = {
  reconcile: () => import('./commands/reconcile.js'),
  validate: () => import('./commands/validate.js'),
  status: () => import('./commands/status.js'),
  describe: () => import('./commands/describe.js'),
  events: () => import('./commands/events.js'),
  logs: () => import('./commands/logs.js'),
  exec: () => import('./commands/exec.js'),
  condition: () => import('./commands/condition.js'),
  net: () => import('./commands/net.js'),
  image: () => import('./commands/image.js'),
  trust: () => import('./commands/trust.js'),
  gc: () => import('./commands/gc.js'),
  version: () => import('./commands/version.js'),
};

async function programFor(argv: string[]): Promise<Command> {
  const base = baseProgram();
  const load = COMMANDS[commandOf(argv.slice(2), base) ?? ''];
  if (!load) return (await import('./program.js')).buildProgram(); // help, completion, man, a typo
  (await load()).register(base);
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
