/**
 * A hand-written AppRuntime (src/runtime/types.ts) that runs no process: each execution is a
 * row with a program that decides how it ends. The contract suite test/contract/app-runtime.ts
 * runs against it and against ConmonRuntime over crun.
 *
 * Programs (`programs`, by container id): `exitCode` ends the app right after it starts;
 * `traps` maps signals the app handles to the exit code it ends with; a signal it does not
 * handle is ignored (as by a container's PID 1), except SIGKILL (137). Without a program, an
 * app ends on any signal with 128+signo. `crashing` apps (by app name) exit 1 after they
 * start, `unstartable` apps fail with a StartError, `ignoresStop` apps handle no signal.
 *
 * `stop` sends the stop signal (`opts.stopSignal`, else the image's StopSignal, else SIGTERM),
 * waits up to graceMs on `timers` (a SimulatedClock in tests that move time by hand), then
 * SIGKILL; every delivered signal is recorded in `signals`.
 */
import { constants } from 'node:os';
import { BerthError } from '../../src/common/errors.js';
import type {
  AppDrift,
  AppExit,
  AppLaunch,
  AppRuntime,
  AppStatus,
  ExecOptions,
  ExecResult,
  PodCgroupResources,
} from '../../src/runtime/types.js';
import { realTimers, type Timers } from './clock.js';

export interface FakeProgram {
  /** end with this code right after start */
  exitCode?: number;
  /** signals the app handles → the code it exits with; others are ignored (SIGKILL excepted) */
  traps?: Record<string, number>;
}

interface Row {
  status: AppStatus;
  launch?: AppLaunch;
  monitorLost: boolean;
  bundleGone: boolean;
}

function signo(signal: string): number {
  const name = (signal.startsWith('SIG') ? signal : `SIG${signal}`) as keyof typeof constants.signals;
  const n = constants.signals[name];
  if (n === undefined) throw new BerthError('InvalidArgument', `unknown signal ${signal}`);
  return n;
}

export class FakeRuntime implements AppRuntime {
  starts: AppLaunch[] = [];
  crashing = new Set<string>();
  unstartable = new Set<string>();
  execs: Array<{ containerId: string; argv: string[]; opts: ExecOptions }> = [];
  stops: Array<{ containerId: string; graceMs: number; stopSignal?: string }> = [];
  /** every signal delivered to an app, in order */
  signals: Array<{ containerId: string; signal: string }> = [];
  ignoresStop = new Set<string>();
  programs = new Map<string, FakeProgram>();
  afterExits: Array<{ containerId: string; argv: string[] }> = [];
  pruned = 0;
  /** the answer of usernsProblem (undefined: user namespaces work here) */
  usernsProblemText: string | undefined;
  /** pod cgroups and their limits */
  podCgroups = new Map<string, PodCgroupResources>();
  /** rendered trees removed from the host (drift: lowerGone) */
  removedLowers = new Set<string>();
  execHandler: (containerId: string, argv: string[], opts: ExecOptions) => ExecResult | Promise<ExecResult> = () => ({
    exitCode: 0,
    stdout: '',
    stderr: '',
    timedOut: false,
  });
  private rows = new Map<string, Row>();
  private waiters = new Map<string, Array<(e: AppExit) => void>>();
  private pid = 1000;

  constructor(readonly timers: Timers = realTimers) {}

  async start(launch: AppLaunch): Promise<AppStatus> {
    this.starts.push(launch);
    if (this.unstartable.has(launch.appName)) {
      throw new BerthError('FailedPrecondition', `app ${launch.appName}: executable file not found in $PATH`, {
        details: { reason: 'StartError' },
      });
    }
    const id = launch.containerId;
    if (this.rows.get(id)?.status.state === 'running') throw new BerthError('AlreadyExists', `container ${id} already exists`);
    const status: AppStatus = { containerId: id, state: 'running', pid: this.pid++, startedAt: this.timers.now() };
    this.rows.set(id, { status, launch, monitorLost: false, bundleGone: false });
    const program = this.programOf(id);
    if (program?.exitCode !== undefined) this.exit(id, program.exitCode);
    else if (this.crashing.has(launch.appName)) setTimeout(() => this.exit(id, 1), 5);
    return { ...status };
  }

  private programOf(id: string): FakeProgram | undefined {
    const p = this.programs.get(id);
    if (p) return p;
    return this.ignoresStop.has(this.rows.get(id)?.launch?.appName ?? '') ? { traps: {} } : undefined;
  }

  /** End a running app with exitCode (and reason, e.g. 'OOMKilled' with 137). */
  exit(id: string, exitCode: number, reason?: 'OOMKilled') {
    const row = this.rows.get(id);
    if (!row || row.status.state !== 'running') return;
    const finishedAt = this.timers.now();
    const { startedAt } = row.status;
    row.status = {
      containerId: id,
      state: 'exited',
      exitCode,
      finishedAt,
      ...(startedAt ? { startedAt } : {}),
      ...(reason ? { reason } : {}),
    };
    for (const w of this.waiters.get(id) ?? []) w({ exitCode, finishedAt, ...(reason ? { reason } : {}) });
    this.waiters.delete(id);
  }

  /** Deliver a signal as the OCI runtime's kill does; the program decides whether the app ends. */
  kill(id: string, signal: string): void {
    if (this.rows.get(id)?.status.state !== 'running') return;
    this.signals.push({ containerId: id, signal });
    const n = signo(signal);
    if (n === constants.signals.SIGKILL) return this.exit(id, 128 + n);
    const program = this.programOf(id);
    if (!program) return this.exit(id, 128 + n);
    const code = Object.entries(program.traps ?? {}).find(([s]) => signo(s) === n)?.[1];
    if (code !== undefined) this.exit(id, code);
  }

  async status(id: string): Promise<AppStatus> {
    const row = this.rows.get(id);
    return row ? { ...row.status } : { containerId: id, state: 'unknown' };
  }

  waitExit(id: string, signal?: AbortSignal): Promise<AppExit> {
    const st = this.rows.get(id)?.status;
    if (st?.state === 'exited')
      return Promise.resolve({ exitCode: st.exitCode ?? -1, finishedAt: st.finishedAt ?? 0, ...(st.reason ? { reason: st.reason } : {}) });
    if (!st) return Promise.reject(new BerthError('NotFound', `container ${id} does not exist`));
    return new Promise((resolve, reject) => {
      this.waiters.set(id, [...(this.waiters.get(id) ?? []), resolve]);
      signal?.addEventListener('abort', () => reject(new BerthError('Canceled', 'canceled')), { once: true });
    });
  }

  async stop(id: string, graceMs: number, signal?: AbortSignal, opts: { stopSignal?: string } = {}): Promise<void> {
    this.stops.push({ containerId: id, graceMs, ...(opts.stopSignal ? { stopSignal: opts.stopSignal } : {}) });
    const row = this.rows.get(id);
    if (row?.status.state !== 'running') return;
    if (graceMs > 0) {
      this.kill(id, opts.stopSignal || row.launch?.image?.StopSignal || 'SIGTERM');
      if (row.status.state !== 'running') return;
      const ended = new AbortController();
      const onExit = () => ended.abort();
      this.waiters.set(id, [...(this.waiters.get(id) ?? []), onExit]);
      const both = signal ? AbortSignal.any([signal, ended.signal]) : ended.signal;
      await this.timers.sleep(graceMs, both);
      if (row.status.state !== 'running') return;
      if (signal?.aborted) throw new BerthError('Canceled', 'operation canceled', { cause: signal.reason });
    }
    this.kill(id, 'SIGKILL');
  }

  /** the fake writes no log, so there is never one to rotate */
  async rotateLog(): Promise<boolean> {
    return false;
  }

  async prune(): Promise<void> {
    this.pruned++;
  }

  async usernsProblem(): Promise<string | undefined> {
    return this.usernsProblemText;
  }

  async drift(id: string): Promise<AppDrift | undefined> {
    const row = this.rows.get(id);
    if (row?.status.state !== 'running' || !row.launch) return undefined;
    const lowerDir = row.launch.rootfsLower;
    return { monitorLost: row.monitorLost, lowerDir, lowerGone: this.removedLowers.has(lowerDir), bundleGone: row.bundleGone };
  }

  /** What someone did behind the agent's back: killed the monitor, removed the bundle's config. */
  loseMonitor(id: string): void {
    const row = this.rows.get(id);
    if (row) row.monitorLost = true;
  }
  removeBundle(id: string): void {
    const row = this.rows.get(id);
    if (row) row.bundleGone = true;
  }

  async restoreBundle(id: string): Promise<boolean> {
    const row = this.rows.get(id);
    if (!row?.launch) return false;
    row.bundleGone = false;
    return true;
  }

  async ensurePodCgroup(name: string, resources: PodCgroupResources): Promise<void> {
    this.podCgroups.set(name, structuredClone(resources));
  }

  async removePodCgroup(name: string): Promise<void> {
    const busy = [...this.rows.values()].some((r) => r.status.state === 'running' && r.launch?.podCgroup === name);
    if (busy) throw new BerthError('FailedPrecondition', `pod cgroup ${name} still has running apps`);
    this.podCgroups.delete(name);
  }

  async runAfterExit(id: string, argv: string[]): Promise<{ exitCode: number; stdout: string; stderr: string; timedOut: boolean }> {
    this.afterExits.push({ containerId: id, argv });
    const row = this.rows.get(id);
    if (!row) throw new BerthError('FailedPrecondition', `container ${id}: its root filesystem is gone, post-stop cannot run`);
    if (row.status.state === 'running') throw new BerthError('FailedPrecondition', `container ${id} is still running`);
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false };
  }

  async exec(id: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.execs.push({ containerId: id, argv, opts });
    if (argv.length === 0) throw new BerthError('InvalidArgument', 'exec needs a command');
    if (this.rows.get(id)?.status.state !== 'running') throw new BerthError('FailedPrecondition', `container ${id} is not running`);
    return this.execHandler(id, argv, opts);
  }

  async remove(id: string): Promise<void> {
    if (this.rows.get(id)?.status.state === 'running') this.kill(id, 'SIGKILL');
    this.rows.delete(id);
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.rows.keys()].filter((k) => k.startsWith(prefix));
  }

  /** Make the host show `st` for a container (what a killed agent or a reboot left). */
  setStatus(st: AppStatus) {
    if (st.state === 'unknown') this.rows.delete(st.containerId);
    else this.rows.set(st.containerId, { ...(this.rows.get(st.containerId) ?? { monitorLost: false, bundleGone: false }), status: st });
  }

  running(): string[] {
    return [...this.rows.entries()].filter(([, r]) => r.status.state === 'running').map(([k]) => k);
  }
}
