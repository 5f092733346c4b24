/**
 * The composition root: builds the real implementations behind the host interfaces from
 * the command-line options. Nothing else in berth constructs them (or pino).
 */
import { isAbsolute, join, resolve } from 'node:path';
import pino from 'pino';
import { systemClock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import { createCni, ExecCni, HostIptables, IpNetnsManager } from '../cni/index.js';
import { createImageService } from '../image/index.js';
import { BerthError } from '../common/errors.js';
import { humanStream, useHumanLines } from './log-format.js';
import { ConmonRuntime, DEFAULT_PIDS_LIMIT, resolveOciRuntime } from '../runtime/index.js';
import { logRotationOf } from '../runtime/log-rotation.js';
import { AppcMetadataService } from '../appc-metadata/service.js';
import { cniCacheDir, createLimiter, discardEvents, FileEventSink, IpBridgeManager, secureHostDirs, type Host, type Layout } from '../reconciler/index.js';

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

function pidsLimitOf(v: string): number {
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
  if (useHumanLines(logFormat, fd)) return pino({ level, base: {}, timestamp: pino.stdTimeFunctions.isoTime }, humanStream(fd, level)) as unknown as Logger;
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: fd, sync: true })) as unknown as Logger;
}

/** `readOnly`: for commands that only look (status, describe, --dry-run): nothing is written on the host. */
export async function createHost(o: GlobalOptions, log: Logger, opts: { readOnly?: boolean; pullProgress?: Host['pullProgress'] } = {}): Promise<Host> {
  const layout = layoutOf(o);
  if (!opts.readOnly) await secureHostDirs(layout, log);
  const ociRuntime = await resolveOciRuntime({ name: o.runtime, runDir: layout.runDir, ...(opts.readOnly ? { readOnly: true } : {}) });
  return {
    layout,
    images: createImageService({ stateDir: layout.stateDir, configDir: layout.configDir, log }),
    cni: createCni({ cacheDir: cniCacheDir(layout), pluginPaths: o.cniPluginDir, exec: new ExecCni(), log, pinBridges: true, iptables: new HostIptables() }),
    netns: new IpNetnsManager({ dir: o.netnsDir, log }),
    runtime: new ConmonRuntime({
      runDir: layout.runDir,
      ociRuntime,
      log,
      pidsLimit: pidsLimitOf(o.pidsLimit),
      seccompDir: join(layout.configDir, 'seccomp'),
      // the agent rotates the apps' logs (kubelet's container log manager); read-only commands do not
      ...(opts.readOnly ? {} : { logRotation: logRotationOf(o.containerLogMaxSize ?? DEFAULTS.containerLogMaxSize, o.containerLogMaxFiles ?? DEFAULTS.containerLogMaxFiles) }),
    }),
    bridges: new IpBridgeManager(log),
    clock: systemClock,
    log,
    events: opts.readOnly ? discardEvents : new FileEventSink({ layout, clock: systemClock, log }),
    // listeners open when a pod with ACI apps is registered: a read-only command opens none
    ...(opts.readOnly ? {} : { appcMetadata: new AppcMetadataService({ stateDir: layout.stateDir, log }) }),
    limit: createLimiter(Math.max(1, Number(o.concurrency) || 4)),
    ...(opts.pullProgress ? { pullProgress: opts.pullProgress } : {}),
  };
}
