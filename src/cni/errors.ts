/**
 * CNI errors (CNI-19/21, G5). A plugin reports failure with a non-zero exit and an error
 * object `{cniVersion, code, msg, details}` on stdout (skel prints it there); when stdout is
 * empty or not an error object, the stderr text is the message. The CNI code is mapped to a
 * berth code so that callers branch on codes only: 11 (try again later) backs off, invalid
 * input fails fast.
 */
import { BerthError, type ErrorCode } from '../common/index.js';

/** The spec's codes (CNI-21) plus libcni's 0, 8 and 999. */
export const CniCode = {
  Unknown: 0,
  IncompatibleCniVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironmentVariables: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  InvalidNetNS: 8,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  LimitedConnectivity: 51,
  Internal: 999,
} as const;

export type CniVerb = 'ADD' | 'CHECK' | 'DEL' | 'GC' | 'STATUS' | 'VERSION';

/** How a CNI error code decides what berth does (STYLE.md §5 Errors). */
export function berthCodeForCni(cniCode: number): ErrorCode {
  switch (cniCode) {
    case CniCode.IncompatibleCniVersion:
    case CniCode.UnsupportedField:
    case CniCode.InvalidEnvironmentVariables:
    case CniCode.InvalidNetworkConfig:
      return 'InvalidArgument';
    case CniCode.UnknownContainer:
      // "container unknown or does not exist": nothing to clean up.
      return 'NotFound';
    case CniCode.InvalidNetNS:
      return 'FailedPrecondition';
    case CniCode.IoFailure:
    case CniCode.TryAgainLater:
    case CniCode.PluginNotAvailable:
    case CniCode.LimitedConnectivity:
      return 'Unavailable';
    default:
      // 0, 6, 999 and plugin-specific codes (100+): a bug or an unexpected host state.
      return 'Internal';
  }
}

export interface CniErrorInit {
  cniCode: number;
  msg: string;
  details?: string;
  /** plugin type, when a plugin reported the error */
  plugin?: string;
  verb?: CniVerb;
  cause?: unknown;
}

/**
 * An error in CNI's wire format. `cniCode`, `msg` and `cniDetails` are the plugin's fields;
 * BerthError's `details` record carries the same (`{cniCode, msg, details, plugin, verb}`)
 * for structured logs. (CNI's `details` string cannot share the name with BerthError's record.)
 */
export class CniError extends BerthError {
  readonly cniCode: number;
  readonly msg: string;
  readonly cniDetails: string;
  readonly plugin?: string;
  readonly verb?: CniVerb;

  constructor(init: CniErrorInit) {
    const where = init.plugin ? `plugin type="${init.plugin}" failed (${(init.verb ?? 'ADD').toLowerCase()}): ` : '';
    const text = `${where}${init.msg}${init.details ? `; ${init.details}` : ''}`;
    super(berthCodeForCni(init.cniCode), text, {
      cause: init.cause,
      details: { cniCode: init.cniCode, msg: init.msg, details: init.details ?? '', plugin: init.plugin, verb: init.verb },
    });
    this.name = 'CniError';
    this.cniCode = init.cniCode;
    this.msg = init.msg;
    this.cniDetails = init.details ?? '';
    if (init.plugin !== undefined) this.plugin = init.plugin;
    if (init.verb !== undefined) this.verb = init.verb;
  }

  /** The same error, attributed to a plugin and verb. */
  withPlugin(plugin: string, verb: CniVerb): CniError {
    return new CniError({ cniCode: this.cniCode, msg: this.msg, details: this.cniDetails, plugin, verb, cause: this.cause });
  }

  /** The wire form `{code, msg, details}`. */
  toJSON(): { code: number; msg: string; details?: string } {
    return this.cniDetails ? { code: this.cniCode, msg: this.msg, details: this.cniDetails } : { code: this.cniCode, msg: this.msg };
  }
}

/**
 * A plugin process that exited non-zero. CniExec implementations throw this with what the
 * process wrote; the runtime turns it into a CniError with parsePluginError.
 */
export class PluginExitError extends BerthError {
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;

  constructor(pluginPath: string, exitCode: number | undefined, stdout: string, stderr: string) {
    super('Internal', `plugin ${pluginPath} exited with ${exitCode ?? 'a signal'}`);
    this.name = 'PluginExitError';
    this.exitCode = exitCode;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

/**
 * G5 / CNI-19: the stdout JSON error object first; when stdout is empty (or holds no error
 * object), the stderr text, as libcni's `pluginErr`.
 */
export function parsePluginError(stdout: string, stderr: string, exitCode?: number): CniError {
  const out = stdout.trim();
  if (out !== '') {
    try {
      const v = JSON.parse(out) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        const o = v as Record<string, unknown>;
        if (typeof o.code === 'number' || typeof o.msg === 'string') {
          return new CniError({
            cniCode: typeof o.code === 'number' ? o.code : CniCode.Unknown,
            msg: typeof o.msg === 'string' ? o.msg : '',
            ...(typeof o.details === 'string' && o.details !== '' ? { details: o.details } : {}),
          });
        }
      }
    } catch {
      // not JSON: fall through
    }
    if (stderr.trim() === '') {
      return new CniError({ cniCode: CniCode.Unknown, msg: `netplugin failed: ${JSON.stringify(out)}` });
    }
  }
  const err = stderr.trim();
  if (err !== '') return new CniError({ cniCode: CniCode.Unknown, msg: err });
  return new CniError({
    cniCode: CniCode.Unknown,
    msg: `netplugin failed with no error message${exitCode === undefined ? '' : ` (exit status ${exitCode})`}`,
  });
}
