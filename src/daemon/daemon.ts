/**
 * What `berth reconcile` adds as a service (issue 13 item 10): one log line at start
 * (version, sources, directories) and one at stop; `<run>/status.json`; /healthz, /readyz
 * and /status on `<run>/berth.sock`; sd_notify READY, STATUS, WATCHDOG and STOPPING for a
 * `Type=notify` unit; the event files' sweep. The reconciler itself is driven by the caller.
 */
import type { Logger } from '../common/logger.js';
import { FileEventSink, type Host, type PodStatusRow } from '../reconciler/index.js';
import { startHealthServer, type HealthServer } from './health.js';
import { createNotifier, type NotifyEnv } from './notify.js';
import {
  readAgentInputs,
  socketPath,
  statusFileDoc,
  StatusFileWriter,
  statusFilePath,
  statusLine,
  type AgentSnapshot,
  type AgentState,
} from './status-file.js';
import { monitorScopeMode } from '../runtime/monitor-scope.js';

/** Set by the bundler (scripts/bundle.mjs) from package.json. */
declare const __BERTH_VERSION__: string | undefined;
export const AGENT_VERSION = typeof __BERTH_VERSION__ === 'string' ? __BERTH_VERSION__ : '0.1.0';

export interface DaemonOptions {
  host: Host;
  /** the agent's status rows (Reconciler.rows) */
  rows: () => PodStatusRow[];
  log: Logger;
  notifyEnv: NotifyEnv;
  /** git sources, for the start line */
  git?: Array<{ label: string }>;
  /** how often status.json and the readiness are looked at (ms) */
  tickMs?: number;
  /** status.json is written at least this often (ms) */
  refreshMs?: number;
  /** READY=1 at the latest after this long, even if the first sync has not finished (ms) */
  readyDeadlineMs?: number;
  /** the event files' sweep (ms) */
  sweepMs?: number;
}

export interface Daemon {
  /** a stop was asked for (signal name): STOPPING=1 and the stop line's reason */
  stopping(reason: string): void;
  /** after the reconciler has stopped: last status.json, socket closed, events flushed, stop line */
  stop(): Promise<void>;
}

export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const { host, log } = o;
  const l = host.layout;
  const startedAt = host.clock.now();
  let state: AgentState = 'starting';
  let stopReason = 'end';
  log.info(
    {
      event: 'agent.start',
      version: AGENT_VERSION,
      node: process.version,
      specDirs: l.specDirs,
      git: (o.git ?? []).map((g) => g.label),
      stateDir: l.stateDir,
      runDir: l.runDir,
      logDir: l.logDir,
      configDir: l.configDir,
      monitorScope: monitorScopeMode(),
      systemd: o.notifyEnv.NOTIFY_SOCKET ? 'notify' : 'no',
    },
    `berth ${AGENT_VERSION} starting`,
  );
  const notifier = createNotifier(o.notifyEnv, log);
  const writer = new StatusFileWriter(statusFilePath(l), host.clock, o.refreshMs ?? 30_000);
  let snap: AgentSnapshot = { rows: [], report: undefined, sources: [], readiness: { ready: false, reason: 'starting' } };
  const doc = () => statusFileDoc(snap, { pid: process.pid, version: AGENT_VERSION, startedAt, state }, host.clock.now());
  let readySent = false;
  let lastLine = '';
  let ticking: Promise<void> | undefined;
  const tick = () => {
    ticking ??= (async () => {
      try {
        snap = { rows: o.rows(), ...(await readAgentInputs(l, startedAt)) };
        if (state === 'starting' && snap.readiness.reason !== 'the first sync has not finished') state = 'running';
        await writer.write(doc());
        const line = statusLine(snap);
        const late = host.clock.now() - startedAt >= (o.readyDeadlineMs ?? 30_000);
        if (!readySent && (state === 'running' || late)) {
          readySent = true;
          lastLine = line;
          notifier.ready(line);
          log.info(
            { event: 'agent.ready', ready: snap.readiness.ready, reason: snap.readiness.reason },
            snap.readiness.ready ? 'agent ready' : `agent up, not ready: ${snap.readiness.reason}`,
          );
        } else if (readySent && line !== lastLine) {
          lastLine = line;
          notifier.status(line);
        }
      } catch (err) {
        log.warn({ err, component: 'daemon' }, 'status.json could not be written');
      }
    })().finally(() => (ticking = undefined));
    return ticking;
  };
  let server: HealthServer | undefined;
  try {
    server = await startHealthServer(socketPath(l), { readiness: () => snap.readiness, status: doc });
  } catch (err) {
    log.error({ err, component: 'daemon' }, 'health socket not available');
  }
  await tick();
  const timers = [setInterval(() => void tick(), o.tickMs ?? 2000)];
  if (notifier.watchdogMs) timers.push(setInterval(() => notifier.watchdog(), notifier.watchdogMs));
  const events = host.events instanceof FileEventSink ? host.events : undefined;
  const sweep = () => void events?.sweep().catch((err: unknown) => log.warn({ err, component: 'events' }, 'event sweep failed'));
  sweep();
  timers.push(setInterval(sweep, o.sweepMs ?? 10 * 60_000));
  for (const t of timers) t.unref();

  return {
    stopping(reason) {
      if (state === 'stopping' || state === 'stopped') return;
      stopReason = reason;
      state = 'stopping';
      log.info({ event: 'agent.stopping', signal: reason }, `stopping on ${reason}: apps keep running`);
      notifier.stopping(`stopping on ${reason}`);
      void tick();
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      await ticking;
      state = 'stopped';
      snap = { ...snap, rows: o.rows(), readiness: { ready: false, reason: 'the agent stopped' } };
      await writer.write(doc()).catch(() => undefined); // the last status file at stop is advisory; stopping goes on
      await server?.close().catch(() => undefined); // closing at stop: the process ends anyway
      await host.events.flush();
      log.info(
        { event: 'agent.stop', reason: stopReason, uptimeMs: host.clock.now() - startedAt, pods: snap.rows.length },
        `berth stopped (${stopReason}); ${snap.rows.length} pods left running as they are`,
      );
    },
  };
}
