/**
 * The command tree, built from one module per command under commands/: main.ts runs it; the
 * help, completion and man-page tests walk it.
 */
import type { Command } from 'commander';
import { baseProgram } from './program-base.js';

/**
 * Every command, in the order `berth --help` lists them. Loaded on demand: `main.ts` loads the
 * one a command line names alone, except those that walk the whole tree (`whole`).
 */
export const COMMANDS: ReadonlyArray<{ name: string; load: () => Promise<{ register(program: Command): void }>; whole?: true }> = [
  { name: 'reconcile', load: () => import('./commands/reconcile.js') },
  { name: 'validate', load: () => import('./commands/validate.js') },
  { name: 'status', load: () => import('./commands/status.js') },
  { name: 'describe', load: () => import('./commands/describe.js') },
  { name: 'events', load: () => import('./commands/events.js') },
  { name: 'logs', load: () => import('./commands/logs.js') },
  { name: 'exec', load: () => import('./commands/exec.js') },
  { name: 'condition', load: () => import('./commands/condition.js') },
  { name: 'net', load: () => import('./commands/net.js') },
  { name: 'image', load: () => import('./commands/image.js') },
  { name: 'trust', load: () => import('./commands/trust.js') },
  { name: 'gc', load: () => import('./commands/gc.js') },
  { name: 'version', load: () => import('./commands/version.js') },
  { name: 'completion', load: () => import('./commands/completion.js'), whole: true },
  { name: 'man', load: () => import('./commands/man.js'), whole: true },
];

/** The program with every command (help, completion, man, and the help tests). */
export async function buildProgram(): Promise<Command> {
  const program = baseProgram();
  for (const c of await Promise.all(COMMANDS.map((x) => x.load()))) c.register(program);
  return program;
}
