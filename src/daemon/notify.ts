/**
 * sd_notify for `Type=notify` units. Node has no unix datagram sockets, so the messages go
 * through `systemd-notify` (the systemd package), which the unit allows with
 * `NotifyAccess=all`: it is a child of the agent, in the unit's cgroup. Since systemd 246
 * systemd-notify waits until the manager has read the message (without `--no-block`), so the
 * sender's exit does not race the manager's cgroup lookup. Without NOTIFY_SOCKET (not run by
 * systemd) every call does nothing.
 *
 * The agent takes NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID out of its environment at
 * once: conmon, crun and runc read NOTIFY_SOCKET (runc would hand the socket to the app and
 * wait for its READY), and no child may speak for the agent.
 */
import { execFile } from 'node:child_process';
import type { Logger } from '../common/logger.js';

export interface Notifier {
  /** the service is up (READY=1), with a status line */
  ready(status: string): void;
  status(status: string): void;
  stopping(status: string): void;
  /** WATCHDOG_USEC/2 in ms when the unit has a watchdog for this process, else undefined */
  readonly watchdogMs: number | undefined;
  watchdog(): void;
}

export interface NotifyEnv {
  NOTIFY_SOCKET?: string | undefined;
  WATCHDOG_USEC?: string | undefined;
  WATCHDOG_PID?: string | undefined;
}

/** Take the sd_notify variables out of `env` (process.env) and return them. */
export function takeNotifyEnv(env: NodeJS.ProcessEnv = process.env): NotifyEnv {
  const out: NotifyEnv = { NOTIFY_SOCKET: env.NOTIFY_SOCKET, WATCHDOG_USEC: env.WATCHDOG_USEC, WATCHDOG_PID: env.WATCHDOG_PID };
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
  return out;
}

/** Half the watchdog period (sd_watchdog_enabled), when it is meant for this pid. */
export function watchdogInterval(env: NotifyEnv, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** Status lines are one line, bounded (systemctl status shows one). */
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim().slice(0, 200);

export function createNotifier(env: NotifyEnv, log: Logger, opts: { command?: string; pid?: number } = {}): Notifier {
  const socket = env.NOTIFY_SOCKET;
  const pid = opts.pid ?? process.pid;
  const command = opts.command ?? 'systemd-notify';
  let warned = false;
  // one message at a time, in order (READY before a later STATUS)
  let queue: Promise<void> = Promise.resolve();
  const send = (args: string[]) => {
    if (!socket) return;
    queue = queue.then(
      () =>
        new Promise<void>((resolve) => {
          execFile(
            command,
            [`--pid=${pid}`, ...args],
            { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: socket }, timeout: 10_000 },
            (err) => {
              if (err && !warned) {
                warned = true;
                log.warn(
                  { err, component: 'sd-notify' },
                  `${command} failed: systemd is not told about the agent (Type=notify needs systemd-notify and NotifyAccess=all)`,
                );
              }
              resolve();
            },
          );
        }),
    );
  };
  return {
    ready: (status) => send(['--ready', `--status=${oneLine(status)}`]),
    status: (status) => send([`--status=${oneLine(status)}`]),
    stopping: (status) => send(['STOPPING=1', `--status=${oneLine(status)}`]),
    watchdogMs: socket ? watchdogInterval(env, pid) : undefined,
    watchdog: () => send(['WATCHDOG=1']),
  };
}
