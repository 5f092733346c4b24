/**
 * One exit-code table for every berth command (issue 12 item 4), as `reconcile --once` has
 * it, and the one-line error berth prints for a failure that ends a command.
 */
import { CommanderError } from 'commander';
import { codeOf, errorMessage, type ErrorCode } from '../common/errors.js';

export const EXIT = { ok: 0, failed: 1, invalid: 2, usage: 3 } as const;

/** The table as the manual and the README print it. */
export const EXIT_TABLE = [
  '0 success (reconcile --once: every valid spec converged; --dry-run: nothing to change)',
  '1 the command failed: not found, unreachable, denied, timed out (reconcile --once: some pod did not converge; --dry-run: changes pending)',
  '2 invalid input: a spec, reference, flag value or file berth refuses (reconcile --once: the valid specs were still applied)',
  '3 usage error, or the host is not in a state the command can run in (another berth holds the state dir, a tool is missing), or an internal error',
];

const FAILED: ReadonlySet<ErrorCode> = new Set([
  'NotFound',
  'Unavailable',
  'DeadlineExceeded',
  'PermissionDenied',
  'Canceled',
  'Unimplemented',
  'AlreadyExists',
]);

export function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  const code = codeOf(err);
  if (code === 'InvalidArgument') return EXIT.invalid;
  if (code && FAILED.has(code)) return EXIT.failed;
  return EXIT.usage;
}

/**
 * `berth: REASON: message` (the error's code, kubectl's way of naming what went wrong), with
 * the stack below it when `debug`.
 */
export function errorLine(err: unknown, debug = false): string {
  const reason = codeOf(err) ?? 'Internal';
  const stack = debug && err instanceof Error && err.stack ? `\n${err.stack}` : '';
  return `berth: ${reason}: ${errorMessage(err)}${stack}\n`;
}
