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
  /** stored state berth wrote is unreadable or corrupt: kept for a human, never overwritten */
  | 'DataLoss'
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

/** The BerthError code each errno stands for (errorCodeOf); any other errno is Internal. */
const ERRNO_CODES: Readonly<Record<string, ErrorCode>> = {
  ENOENT: 'NotFound',
  ENOTDIR: 'NotFound',
  EEXIST: 'AlreadyExists',
  EACCES: 'PermissionDenied',
  EPERM: 'PermissionDenied',
  EROFS: 'PermissionDenied',
  ETIMEDOUT: 'DeadlineExceeded',
  EAGAIN: 'Unavailable',
  EBUSY: 'Unavailable',
  ENOSPC: 'Unavailable',
  EMFILE: 'Unavailable',
  ENFILE: 'Unavailable',
  ECONNREFUSED: 'Unavailable',
  ECONNRESET: 'Unavailable',
};

/**
 * The code of any thrown value: its BerthError code (walking `cause`), else the code its
 * errno stands for, else Internal. Never an errno string: what reaches machine context and
 * records is always an ErrorCode.
 */
export function errorCodeOf(err: unknown): ErrorCode {
  const code = codeOf(err);
  if (code) return code;
  for (let e: unknown = err, depth = 0; e && depth < 16; depth++) {
    const errno = errnoOf(e);
    if (errno !== undefined) return ERRNO_CODES[errno] ?? 'Internal';
    e = (e as { cause?: unknown }).cause;
  }
  return 'Internal';
}

/** Errors that will not go away by trying again: bad input, a refusal, a corrupt record. */
const PERMANENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'InvalidArgument',
  'FailedPrecondition',
  'Unimplemented',
  'PermissionDenied',
  'DataLoss',
]);

/**
 * Whether a failure is worth retrying, for every machine (app start, pod step): permanent
 * errors fail at once, transient ones back off. NotFound is transient: an image tag or an
 * app's source can appear later (the kubelet's ImagePullBackOff). A code berth does not know
 * (a string from older records) is transient, as Internal is.
 */
export function retryClass(code: ErrorCode | string | undefined): 'permanent' | 'transient' {
  return code !== undefined && PERMANENT.has(code as ErrorCode) ? 'permanent' : 'transient';
}

/** The message of any thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
