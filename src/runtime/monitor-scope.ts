/**
 * Where conmon runs, so that stopping or restarting the agent's unit never stops an app.
 * The apps' own cgroups are made by the OCI runtime under `/berth` (cgroupfs), outside any
 * unit; conmon, spawned by the agent, would stay in the agent's cgroup: a unit's stop
 * (KillMode=control-group) would kill every conmon, and with it the apps' logs and exit
 * codes. When systemd is the init (`/run/systemd/system` exists, sd_booted) each conmon is
 * started through `systemd-run --scope` in its own transient scope under `berth.slice`:
 * systemd-run registers itself as the scope and execs conmon (same pid, same fds and
 * environment). Without systemd (containers, other inits) conmon stays where it is started;
 * it is already in its own session, so a signal to the agent does not reach it.
 * `BERTH_MONITOR_SCOPE=none` turns the scope off (and the unit's KillMode=process still
 * keeps conmon alive then).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';

export type MonitorScopeMode = 'systemd-run' | 'none';

const SYSTEMD_RUN = ['/usr/bin/systemd-run', '/bin/systemd-run'];
let mode: { value: MonitorScopeMode; path?: string } | undefined;

/** How conmon is placed on this host (decided once per agent). */
export function monitorScopeMode(env: NodeJS.ProcessEnv = process.env): MonitorScopeMode {
  mode ??= detect(env);
  return mode.value;
}

function detect(env: NodeJS.ProcessEnv): { value: MonitorScopeMode; path?: string } {
  if (env.BERTH_MONITOR_SCOPE === 'none') return { value: 'none' };
  if (!existsSync('/run/systemd/system')) return { value: 'none' };
  const path = SYSTEMD_RUN.find((p) => existsSync(p));
  return path ? { value: 'systemd-run', path } : { value: 'none' };
}

/** The systemd-run arguments that start `command args` in a scope of its own under berth.slice. */
export function scopeArgs(command: string, args: string[], containerId: string, suffix = randomBytes(3).toString('hex')): string[] {
  return [
    '--scope',
    '--quiet',
    '--collect',
    '--slice=berth.slice',
    `--unit=${containerId}-conmon-${suffix}`,
    `--description=berth monitor of ${containerId}`,
    '--',
    command,
    ...args,
  ];
}

/** The command that spawns conmon for `containerId`: in a scope of its own when systemd runs the host. */
export function monitorCommand(command: string, args: string[], containerId: string): { command: string; args: string[] } {
  monitorScopeMode();
  if (mode?.value !== 'systemd-run' || !mode.path) return { command, args };
  return { command: mode.path, args: scopeArgs(command, args, containerId) };
}
