/**
 * What every command needs before it knows what it will do: the global options and their
 * defaults, the host layout they name, and the logger. Kept apart from the composition root
 * (wire.ts, which loads every implementation) so that a command loads only what it uses.
 */
import { isAbsolute, resolve } from 'node:path';
import pino from 'pino';
import type { Logger } from '../common/logger.js';
import { BerthError } from '../common/errors.js';
import { DEFAULT_PIDS_LIMIT } from '../runtime/defaults.js';
import type { Layout } from '../reconciler/layout.js';
import { humanStream, useHumanLines } from './log-format.js';

export interface GlobalOptions {
  configDir: string;
  specDir: string[];
  stateDir: string;
  runDir: string;
  logDir: string;
  runtime: 'crun' | 'runc';
  cniPluginDir: string[];
  cniConfDir: string[];
  netnsDir: string;
  concurrency: string;
  pidsLimit: string;
  containerLogMaxSize: string;
  containerLogMaxFiles: string;
  logLevel: string;
}

export const DEFAULTS = {
  configDir: '/etc/berth',
  specDir: ['/etc/podspecs'],
  stateDir: '/var/lib/berth',
  runDir: '/run/berth',
  logDir: '/var/log/pods',
  runtime: 'crun',
  cniPluginDir: ['/opt/cni/bin', '/usr/lib/cni'],
  cniConfDir: ['/etc/cni/net.d'],
  netnsDir: '/run/netns',
  concurrency: '4',
  pidsLimit: String(DEFAULT_PIDS_LIMIT),
  containerLogMaxSize: '10Mi',
  containerLogMaxFiles: '5',
  logLevel: 'info',
} as const;

export function pidsLimitOf(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new BerthError('InvalidArgument', `--pids-limit: "${v}" is not a whole number ≥ 0`);
  return n;
}

const abs = (p: string) => (isAbsolute(p) ? p : resolve(p));

export function layoutOf(o: GlobalOptions): Layout {
  return {
    configDir: abs(o.configDir),
    stateDir: abs(o.stateDir),
    runDir: abs(o.runDir),
    logDir: abs(o.logDir),
    specDirs: o.specDir.map(abs),
  };
}

let logFormat = 'auto';

/** `--log-format` of the command being run (set once by main before its action). */
export function setLogFormat(format: string): void {
  useHumanLines(format, 2); // refuses an unknown format before anything runs
  logFormat = format;
}

/**
 * The only pino berth makes: on stdout for the agent, on stderr for commands whose stdout is
 * their answer; NDJSON, or human lines on a terminal (log-format.ts).
 */
export function createLogger(level: string, toStderr: boolean, destination?: { write(line: string): void }): Logger {
  // a destination of berth's own (the progress display) gets every record as NDJSON
  if (destination) return pino({ level, base: {}, timestamp: pino.stdTimeFunctions.isoTime }, destination) as unknown as Logger;
  const fd = toStderr ? 2 : 1;
  if (useHumanLines(logFormat, fd))
    return pino({ level, base: {}, timestamp: pino.stdTimeFunctions.isoTime }, humanStream(fd, level)) as unknown as Logger;
  return pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: fd, sync: true }),
  ) as unknown as Logger;
}
