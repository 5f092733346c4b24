/**
 * The logger type the modules accept: the subset of pino's API berth uses. Only the
 * composition root (src/cli) constructs pino; everything else receives a child logger with
 * bindings from this fixed set of keys: pod, podName, app, network, image, digest,
 * containerId, pid, component, state, event. Errors go under `err`.
 */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

/** A logger that drops everything, for library callers and tests that do not look at logs. */
export function silentLogger(): Logger {
  const noop: LogFn = () => undefined;
  const l: Logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop, child: () => l };
  return l;
}
