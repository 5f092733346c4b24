/**
 * The command tree, built from one module per command under commands/: main.ts runs it; the
 * help, completion and man-page tests walk it.
 */
import type { Command } from 'commander';
import { baseProgram } from './program-base.js';
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

/** Every command; `main.ts` loads one command's module alone when the command line names it. */
export function buildProgram(): Command {
  const program = baseProgram();
  for (const c of [reconcile, validate, status, describe, events, logs, exec, condition, net, image, trust, gc, version, completion, man]) c.register(program);
  return program;
}
