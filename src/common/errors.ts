/**
 * Errors carry a code, modelled on containerd's errdefs, and the code decides what happens:
 * invalid input fails fast, transient errors back off. Callers branch on codes through the
 * predicates below (which walk `cause`), never on message text.
 */
export type ErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'InvalidArgument'
  | 'FailedPrecondition'
  | 'Unavailable'
  | 'DeadlineExceeded'
  | 'Canceled'
  | 'PermissionDenied'
  | 'Unimplemented'
  | 'Internal';

export class BerthError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BerthError';
    this.code = code;
    if (options?.details) this.details = options.details;
  }
}

/** Wrap `cause` with context; the code of the wrapper is `code`, or the cause's own. */
export function wrap(cause: unknown, message: string, code?: ErrorCode): BerthError {
  const inner = codeOf(cause);
  const text = cause instanceof Error ? `${message}: ${cause.message}` : `${message}: ${String(cause)}`;
  return new BerthError(code ?? inner ?? 'Internal', text, { cause });
}

/** The first code found walking the cause chain, or undefined. */
export function codeOf(err: unknown): ErrorCode | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 16; depth++) {
    if (e instanceof BerthError) return e.code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export const hasCode = (err: unknown, code: ErrorCode): boolean => codeOf(err) === code;
export const isNotFound = (err: unknown): boolean => hasCode(err, 'NotFound');
export const isInvalid = (err: unknown): boolean => hasCode(err, 'InvalidArgument');

/** errno of a Node system error (ENOENT, EBUSY, …), or undefined. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
