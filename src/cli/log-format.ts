/**
 * How berth's pino lines reach the operator (issue 12 item 1): NDJSON for machines (stdout
 * or stderr not a terminal, or `--log-format json`), one human line per record on a terminal
 * (or `--log-format text`): time, level, the pod and app it is about, what happened, then why
 * (`reason`, the error's message) and the remaining fields as key=value. Stack traces only at
 * `--log-level debug` or lower. The agent's own pid is left out of human lines (an app's `pid` stays). The human form is pino-pretty run in-process as pino's
 * destination stream: one logger, two renderings.
 */
import type * as PinoPrettyModule from 'pino-pretty';
import type { PrettyOptions } from 'pino-pretty';
import { BerthError } from '../common/errors.js';

export type LogFormat = 'auto' | 'json' | 'text';
export const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'text'];

/** Fields the human line shows in its own place or leaves out as noise. */
const PLACED = new Set(['level', 'time', 'hostname', 'msg', 'podName', 'pod', 'app', 'err', 'reason', 'component', 'v']);

interface ErrLike {
  message?: unknown;
  code?: unknown;
  stack?: unknown;
}

const quote = (v: unknown): string => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /^[^\s="]+$/.test(s) ? s : JSON.stringify(s);
};

/**
 * The text after the level: `default/web app=web: app started pid=1234 — reason: message`.
 * Pure, for tests; `stacks` adds the error's stack on the lines below.
 */
export function humanMessage(log: Record<string, unknown>, stacks = false): string {
  const who = [
    log.podName,
    log.app !== undefined ? `app=${String(log.app)}` : undefined,
    log.podName === undefined && log.component !== undefined ? String(log.component) : undefined,
  ].filter((x) => x !== undefined);
  const parts: string[] = [];
  if (who.length) parts.push(`${who.join(' ')}:`);
  parts.push(String(log.msg ?? ''));
  const rest = Object.entries(log).filter(([k, v]) => !PLACED.has(k) && v !== undefined);
  if (rest.length) parts.push(rest.map(([k, v]) => `${k}=${quote(v)}`).join(' '));
  const err = log.err as ErrLike | undefined;
  const why = [
    typeof log.reason === 'string' ? log.reason : typeof err?.code === 'string' && err.code !== 'Internal' ? err.code : undefined,
    typeof err?.message === 'string' ? err.message : undefined,
  ].filter(Boolean);
  let line = parts.join(' ');
  if (why.length) line += ` — ${why.join(': ')}`;
  if (stacks && typeof err?.stack === 'string') line += `\n${err.stack}`;
  return line;
}

type PinoPretty = Pick<typeof PinoPrettyModule, 'build' | 'isColorSupported' | 'prettyFactory'>;
let pretty: PinoPretty | undefined;

/**
 * Load the human-line formatter (pino-pretty, about a tenth of berth's code) before a command
 * that writes human lines runs; commands writing NDJSON never load it. main.ts calls it.
 */
export async function loadHumanLines(): Promise<void> {
  if (pretty) return;
  // a CommonJS module: Node gives its exports as `default` (and often by name); the bundle only as `default`
  const m = (await import('pino-pretty')) as Partial<PinoPretty> & { default?: PinoPretty };
  pretty = m.build ? (m as PinoPretty) : m.default!;
}

function prettyModule(): PinoPretty {
  if (!pretty) throw new BerthError('Internal', 'human log lines used before loadHumanLines()');
  return pretty;
}

function prettyOptions(level: string): PrettyOptions {
  const stacks = level === 'debug' || level === 'trace';
  return {
    colorize: prettyModule().isColorSupported,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname',
    hideObject: true,
    messageFormat: (log) => humanMessage(log, stacks),
  };
}

/** The destination stream for a human-readable logger on `fd`. */
export function humanStream(fd: 1 | 2, level: string) {
  return prettyModule().build({ ...prettyOptions(level), destination: fd, sync: true });
}

/** One pino record (parsed) as the human line humanStream writes, for a destination of berth's own (progress.ts). */
export function humanFormatter(level: string): (record: Record<string, unknown>) => string {
  return prettyModule().prettyFactory(prettyOptions(level));
}

/** `--log-format`: auto means text when the destination is a terminal. */
export function useHumanLines(format: string, fd: 1 | 2): boolean {
  if (!LOG_FORMATS.includes(format as LogFormat))
    throw new BerthError('InvalidArgument', `--log-format: "${format}" is not one of ${LOG_FORMATS.join(', ')}`);
  if (format === 'auto') return Boolean((fd === 1 ? process.stdout : process.stderr).isTTY);
  return format === 'text';
}
