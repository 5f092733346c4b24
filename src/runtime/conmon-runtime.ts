/**
 * AppRuntime over conmon + an OCI runtime (HOST-NOTES §5). conmon runs `runtime create`,
 * holds the app's stdio, writes the CRI log and, when the app exits, the exit code to
 * `<runDir>/exits/<id>`; berth then runs `runtime start`. conmon daemonizes (double fork), so
 * apps and their monitors outlive the agent; every later call reads the state back from the
 * host: the exit file, the runtime's `state`, /proc, and `meta.json` for what the host cannot
 * tell (bundle dir, execution, monitor pid and start time).
 *
 * Layout under runDir:
 *   bin/crun                      crun wrapper on hybrid cgroup hosts (resolveOciRuntime)
 *   exits/<id>                    exit code written by conmon (mtime = finishedAt)
 *   socks/<id>/                   conmon attach socket
 *   containers/<id>/meta.json     what berth needs later (ContainerMeta)
 *   containers/<id>/ctr.pid       app pid (runtime --pid-file)
 *   containers/<id>/conmon.pid    monitor pid
 *   containers/<id>/conmon.stderr monitor diagnostics
 *   containers/<id>/persist/      conmon's persist dir (must exist before conmon starts)
 *   containers/<id>/config.json   a copy of the bundle's config.json (restoreBundle after drift)
 * Layout under a launch's bundleDir:
 *   config.json, rootfs/ (overlay mount point), exec-<n>/{upper,work}, ctl and winsz FIFOs
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, watch, type FSWatcher } from 'node:fs';
import { readFile, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import type { Readable } from 'node:stream';
import {
  BerthError,
  codeOf,
  errnoOf,
  errorMessage,
  hasCode,
  pathExists,
  readdirIfExists,
  readJsonIfExists,
  readTextIfExists,
  silentLogger,
  sleep,
  systemClock,
  timeoutSignal,
  writeFileAtomic,
  writeJsonAtomic,
  type Clock,
  type Logger,
} from '../common/index.js';
import {
  detectCgroupFacts,
  hostBoundingCapabilities,
  hostDevices,
  hostLsm,
  hostOomScoreAdj,
  hostRlimits,
  parseCgroupMounts,
  type CgroupFacts,
} from './host-facts.js';
import type { BundleFacts } from './oci-spec.js';
import { runAfterExitInRootfs, runPreStartInCreated } from './appc-handlers.js';
import { ensureMountPoint, execDirs, mountOverlay, overlayLowerDir, overlayPaths, unmountAll } from './overlay.js';
import { idmapMount, probeIdmap } from './userns.js';
import { runtimeIdmapProblem } from './idmap-support.js';
import { execArgsProblem } from '../api/limits.js';
import { isAlive, readProcStat } from './proc.js';
import { monitorCommand } from './monitor-scope.js';
import { podCgroupPath, removeCgroupDirs, writePodCgroup } from './pod-cgroup.js';
import { runExec } from './exec.js';
import { reopenConmonLog, rotateLogIfNeeded, type LogRotationLimits } from './log-rotation.js';
import type {
  AppDrift,
  AppExit,
  AppLaunch,
  AppRuntime,
  AppStatus,
  ExecOptions,
  ExecResult,
  OciRuntime,
  PodCgroupResources,
} from './types.js';
import { makeDirs } from '../common/fs.js';

export interface ContainerMeta {
  containerId: string;
  runtime: string;
  bundleDir: string;
  execution: number;
  /** overlay mount point (`<bundleDir>/rootfs`) */
  rootfs: string;
  /** the overlay's lower dir (the rendered image tree) this execution is mounted on */
  lowerDir?: string;
  execDir: string;
  logPath: string;
  cgroupsPath: string;
  stopSignal?: string;
  createdAt: number;
  startedAt?: number;
  conmonPid?: number;
  conmonStartTime?: number;
  pid?: number;
  pidStartTime?: number;
}

export interface ConmonRuntimeOptions {
  runDir: string;
  /** every runtime call goes through this port; conmon runs its `binaryPath` (with `globalArgs`) for create */
  ociRuntime: OciRuntime;
  conmonPath?: string;
  log?: Logger;
  /** parent of the apps' cgroups (default `berth`); tests use their own prefix */
  cgroupParent?: string;
  /** how long to wait for conmon's sync line (default 30 s) */
  createTimeoutMs?: number;
  /** pids limit of every app (`--pids-limit`, default DEFAULT_PIDS_LIMIT; 0: none) */
  pidsLimit?: number;
  /** where Localhost seccomp profiles live (`<config-dir>/seccomp`) */
  seccompDir?: string;
  /**
   * rotate the running apps' logs at these limits, checked every intervalMs (default 10 s, as
   * the kubelet); the timer does not keep the process alive. Unset: no rotation (read-only use).
   */
  logRotation?: LogRotationLimits & { intervalMs?: number };
  /** the times recorded for an execution (created, started, finished: restart back-off reads them) and the stop deadlines */
  clock?: Clock;
}

const EXIT_POLL_MS = 1000;
const KILL_WAIT_MS = 10_000;
const MONITOR_WAIT_MS = 5_000;

function canceled(signal?: AbortSignal): BerthError {
  return new BerthError('Canceled', 'operation canceled', { cause: signal?.reason });
}

export class ConmonRuntime implements AppRuntime {
  readonly runDir: string;
  readonly oci: OciRuntime;
  private readonly conmonPath: string;
  private readonly log: Logger;
  private readonly cgroupParent: string;
  private readonly createTimeoutMs: number;
  private readonly pidsLimit: number | undefined;
  private readonly seccompDir: string | undefined;
  private readonly clock: Clock;
  private facts?: Promise<{ cgroup: CgroupFacts; bundle: Omit<BundleFacts, 'userDb'> }>;
  private usernsCheck?: Promise<string | undefined>;

  constructor(opts: ConmonRuntimeOptions) {
    this.runDir = opts.runDir;
    this.oci = opts.ociRuntime;
    this.conmonPath = opts.conmonPath ?? 'conmon';
    this.log = (opts.log ?? silentLogger()).child({ component: 'runtime' });
    this.cgroupParent = opts.cgroupParent ?? 'berth';
    this.createTimeoutMs = opts.createTimeoutMs ?? 30_000;
    this.pidsLimit = opts.pidsLimit;
    this.seccompDir = opts.seccompDir;
    this.clock = opts.clock ?? systemClock;
    if (opts.logRotation) {
      const limits = { maxBytes: opts.logRotation.maxBytes, maxFiles: opts.logRotation.maxFiles };
      this.rotationTimer = setInterval(() => void this.rotateLogs(limits), opts.logRotation.intervalMs ?? 10_000);
      this.rotationTimer.unref();
    }
  }

  private rotationTimer?: NodeJS.Timeout;
  private rotating = false;

  /** One rotation round over every container with a live monitor. */
  async rotateLogs(limits: LogRotationLimits): Promise<void> {
    if (this.rotating) return;
    this.rotating = true;
    try {
      // unreadable (EMFILE): this round rotates nothing and the next one lists again; a rejection
      // here would be unhandled, the interval timer does not await it
      for (const id of await readdir(join(this.runDir, 'containers')).catch(() => [] as string[])) {
        // one container's log failing to rotate must not keep the others from rotating; the next round tries again
        await this.rotateLog(id, limits).catch((err: unknown) => this.log.warn({ err, containerId: id }, 'log rotation failed'));
      }
    } finally {
      this.rotating = false;
    }
  }

  /** Stop the log rotation timer. */
  close(): void {
    if (this.rotationTimer) clearInterval(this.rotationTimer);
    this.rotationTimer = undefined;
  }

  get exitsDir(): string {
    return join(this.runDir, 'exits');
  }
  get socksDir(): string {
    return join(this.runDir, 'socks');
  }
  containerDir(id: string): string {
    return join(this.runDir, 'containers', id);
  }
  exitFile(id: string): string {
    return join(this.exitsDir, id);
  }

  /** Host facts the bundles need, read once. */
  hostFacts() {
    this.facts ??= (async () => {
      try {
        const [cgroup, rlimits, boundingCapabilities, devices, lsm, oomAdj] = await Promise.all([
          detectCgroupFacts(),
          hostRlimits(),
          hostBoundingCapabilities(),
          hostDevices(),
          hostLsm(),
          hostOomScoreAdj(),
        ]);
        // a runtime behind the hybrid-host wrapper sees a pure v1 host
        const mode = this.oci.hidesCgroup2 ? 'v1' : cgroup.mode;
        const bundle: Omit<BundleFacts, 'userDb'> = {
          cgroupMode: mode,
          rlimits,
          boundingCapabilities,
          cgroupParent: this.cgroupParent,
          hostDevices: devices,
          lsm,
          // without CAP_SYS_RESOURCE no child can go below this process's oom_score_adj
          ...(boundingCapabilities.includes('CAP_SYS_RESOURCE') ? {} : { oomScoreAdjFloor: oomAdj }),
          ...(this.pidsLimit !== undefined ? { pidsLimit: this.pidsLimit } : {}),
          ...(this.seccompDir !== undefined ? { seccompDir: this.seccompDir } : {}),
        };
        return { cgroup, bundle };
      } catch (err) {
        this.facts = undefined; // read again next time
        throw err;
      }
    })();
    return this.facts;
  }

  /**
   * Why pods with `hostUsers: false` cannot run on this host, or undefined: the runtime must
   * make idmapped mounts from `mounts[].uidMappings` (asked of it once, idmap-support.ts), and
   * the kernel must idmap the filesystem of the state dir (tried once with a directory in the
   * run dir).
   */
  usernsProblem(): Promise<string | undefined> {
    this.usernsCheck ??= (async () =>
      (await runtimeIdmapProblem(this.oci, { dir: join(this.runDir, 'idmap-probe'), containerId: `berth-idmap-probe-${process.pid}` })) ??
      (await probeIdmap(join(this.runDir, 'userns-probe'))))();
    return this.usernsCheck;
  }

  async readMeta(id: string): Promise<ContainerMeta | undefined> {
    return readJsonIfExists<ContainerMeta>(join(this.containerDir(id), 'meta.json'));
  }

  private async writeMeta(meta: ContainerMeta): Promise<void> {
    await writeJsonAtomic(join(this.containerDir(meta.containerId), 'meta.json'), meta);
  }

  async start(launch: AppLaunch, signal?: AbortSignal): Promise<AppStatus> {
    const id = launch.containerId;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id)) throw new BerthError('InvalidArgument', `invalid container id "${id}"`);
    const log = this.log.child({ containerId: id });
    if (signal?.aborted) throw canceled(signal);
    // Each execution starts from nothing: drop whatever an earlier one left. Cheap checks
    // here (berth's own files); a runtime container without them is caught at create.
    // an unreadable exit file only loses this hint: a stale runtime container is still met as AlreadyExists below
    if ((await this.readMeta(id)) || (await this.readExit(id).catch(() => undefined)) || (await pathExists(this.containerDir(id))))
      await this.remove(id);
    try {
      return await this.startOnce(launch, signal);
    } catch (err) {
      if (!hasCode(err, 'AlreadyExists')) throw err;
      log.debug({ err }, 'stale runtime container, removing and retrying');
      await this.remove(id);
      return this.startOnce(launch, signal);
    }
  }

  private async startOnce(launch: AppLaunch, signal?: AbortSignal): Promise<AppStatus> {
    const id = launch.containerId;
    const log = this.log.child({ containerId: id });

    const facts = await this.hostFacts();
    const paths = overlayPaths(launch.bundleDir, launch.execution);
    // loaded on the first start: the bundle code (seccomp profiles, their schema) is most of the
    // runtime's, and commands that only observe (`berth status`) never need it
    const { buildOciSpec, bundleWarnings } = await import('./oci-spec.js');
    const spec = buildOciSpec(launch, facts.bundle); // before any host change: invalid input fails fast
    // E2BIG from execve would only show in the app's log, as "exit code 1"
    const e2big = execArgsProblem(spec.process.args, spec.process.env);
    if (e2big) throw new BerthError('InvalidArgument', `app ${launch.appName}: ${e2big}`);
    for (const w of bundleWarnings(launch, facts.bundle))
      log.warn({ pod: launch.podUid, podName: `${launch.namespace}/${launch.podName}`, app: launch.appName }, w);
    const ctrDir = this.containerDir(id);
    const persistDir = join(ctrDir, 'persist');
    await Promise.all([makeDirs(this.exitsDir), makeDirs(this.socksDir), makeDirs(persistDir)]);
    await makeDirs(join(launch.logPath, '..'));
    const meta: ContainerMeta = {
      containerId: id,
      runtime: this.oci.name,
      bundleDir: launch.bundleDir,
      execution: launch.execution,
      rootfs: paths.merged,
      lowerDir: launch.rootfsLower,
      execDir: paths.execDir,
      logPath: launch.logPath,
      cgroupsPath: (spec.linux as { cgroupsPath: string }).cgroupsPath,
      ...(launch.image.StopSignal ? { stopSignal: launch.image.StopSignal } : {}),
      createdAt: this.clock.now(),
    };
    await this.writeMeta(meta);
    try {
      const userns = launch.userns;
      const owner = userns ? { uid: userns.hostId, gid: userns.hostId } : undefined;
      await mountOverlay(
        launch.rootfsLower,
        paths,
        userns && owner ? { owner, lowerView: (lower, at) => idmapMount(lower, at, userns.path) } : undefined,
      );
      for (const [dest, src] of Object.entries(launch.etcFiles ?? {})) await ensureMountPoint(paths.merged, dest, await isDir(src), owner);
      for (const m of launch.mounts ?? []) await ensureMountPoint(paths.merged, m.destination, await isDir(m.source), owner);
      await writeJsonAtomic(join(launch.bundleDir, 'config.json'), spec);
      await writeJsonAtomic(join(ctrDir, 'config.json'), spec); // restoreBundle's copy
      await Promise.all(['ctl', 'winsz', 'attach'].map((f) => rm(join(launch.bundleDir, f), { force: true })));
      if (signal?.aborted) throw canceled(signal);

      const pid = await this.spawnMonitor(id, launch, signal);
      const [conmonPid, ctrStat] = await Promise.all([this.readPidFile(join(ctrDir, 'conmon.pid')), readProcStat(pid)]);
      const conmonStat = conmonPid ? await readProcStat(conmonPid) : undefined;
      Object.assign(meta, {
        pid,
        ...(ctrStat ? { pidStartTime: ctrStat.startTime } : {}),
        ...(conmonPid ? { conmonPid } : {}),
        ...(conmonStat ? { conmonStartTime: conmonStat.startTime } : {}),
      });
      await this.writeMeta(meta);
      if (signal?.aborted) throw canceled(signal);
      if (launch.appcPreStart) {
        const { exec, timeoutMs } = launch.appcPreStart;
        await runPreStartInCreated(this.oci, id, launch.bundleDir, exec, {
          logPath: launch.logPath,
          timeoutMs,
          ...(signal ? { signal } : {}),
        });
      }
      await this.oci.start(id, signal);
      meta.startedAt = this.clock.now();
      await this.writeMeta(meta);
      log.debug({ pid, conmonPid }, 'app started');
      return { containerId: id, state: 'running', pid, startedAt: meta.startedAt };
    } catch (err) {
      log.debug({ err }, 'start failed, cleaning up');
      // the start's error is the one to report; what remove left behind is removed by the next start or gc
      await this.remove(id).catch((e: unknown) => log.warn({ err: e }, 'cleanup after failed start'));
      if (signal?.aborted) throw canceled(signal);
      if (err instanceof BerthError && codeOf(err) === 'Internal' && isStartError(err.message)) {
        throw new BerthError('FailedPrecondition', `app ${launch.appName}: cannot run the process: ${err.message}`, {
          cause: err,
          details: { reason: 'StartError' },
        });
      }
      throw err;
    }
  }

  /** Spawn conmon with the sync pipe on fd 3 and read ONE line: `{"data": pid}`. */
  private async spawnMonitor(id: string, launch: AppLaunch, signal?: AbortSignal): Promise<number> {
    const ctrDir = this.containerDir(id);
    const args = [
      '--api-version',
      '1',
      '-c',
      id,
      '-u',
      id,
      '-n',
      id,
      '-r',
      this.oci.binaryPath,
      ...this.oci.globalArgs.flatMap((a) => ['--runtime-arg', a]),
      '-b',
      launch.bundleDir,
      '-p',
      join(ctrDir, 'ctr.pid'),
      '-P',
      join(ctrDir, 'conmon.pid'),
      '-l',
      `k8s-file:${launch.logPath}`,
      '--exit-dir',
      this.exitsDir,
      '--socket-dir-path',
      this.socksDir,
      '--persist-dir',
      join(ctrDir, 'persist'),
      '--log-level',
      'warning',
      // tty: the app runs on a terminal conmon holds (its output is logged from it); stdin:
      // conmon keeps the app's stdin open (nobody attaches, so it stays empty, as under a kubelet)
      ...(launch.container.tty ? ['-t'] : []),
      ...(launch.container.stdin ? ['-i'] : []),
    ];
    const stderrPath = join(ctrDir, 'conmon.stderr');
    const errFd = openSync(stderrPath, 'a');
    let child;
    try {
      // its own scope when systemd runs the host: a stop of the agent's unit never reaches it
      const mon = monitorCommand(this.conmonPath, args, id);
      child = spawn(mon.command, mon.args, {
        cwd: ctrDir, // conmon writes relative files (`oom` on an OOM kill) to its working directory
        detached: true,
        stdio: ['ignore', 'ignore', errFd, 'pipe'],
        env: { ...process.env, _OCI_SYNCPIPE: '3' },
      });
    } finally {
      closeSync(errFd);
    }
    child.unref();
    const pipe = child.stdio[3] as Readable;
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (e) => reject(new BerthError('FailedPrecondition', `spawn ${this.conmonPath}: ${e.message}`, { cause: e }))),
    );
    try {
      const line = await Promise.race([readLine(pipe, this.createTimeoutMs, signal), spawnError]);
      let msg: { data?: number; message?: string };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        throw new BerthError('Internal', `conmon sync pipe: unexpected "${line.slice(0, 200)}"`);
      }
      if (typeof msg.data !== 'number' || msg.data <= 0) {
        const stderr = ((await readTextIfExists(stderrPath)) ?? '').trim().split('\n').slice(-3).join('; ');
        const text = msg.message ?? stderr ?? 'failed';
        const message = `${this.oci.name} create ${id}: ${text}`.trim();
        if (/already exists|id exists/i.test(text)) throw new BerthError('AlreadyExists', message);
        if (isStartError(text, launch.container.workingDir || launch.image.WorkingDir))
          throw new BerthError('FailedPrecondition', `app ${launch.appName}: cannot run the process: ${text}`, {
            details: { reason: 'StartError' },
          });
        throw new BerthError('Internal', message);
      }
      return msg.data;
    } finally {
      pipe.destroy();
    }
  }

  private async readPidFile(path: string): Promise<number | undefined> {
    for (let i = 0; i < 20; i++) {
      const text = await readTextIfExists(path);
      const n = Number(text?.trim());
      if (text && Number.isInteger(n) && n > 0) return n;
      await sleep(5);
    }
    return undefined;
  }

  private async readExit(id: string): Promise<{ exitCode: number; finishedAt: number } | undefined> {
    try {
      const [text, st] = await Promise.all([readFile(this.exitFile(id), 'utf8'), stat(this.exitFile(id))]);
      const code = Number(text.trim());
      if (text.trim() === '' || !Number.isInteger(code)) return undefined; // being written
      return { exitCode: code, finishedAt: st.mtimeMs };
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Started (meta.startedAt) and the app's process alive with the start time recorded at
   * create: the runtime would say running (berth never pauses), so it is not asked.
   */
  private async startedAndAlive(meta: ContainerMeta | undefined): Promise<number | undefined> {
    if (meta?.startedAt === undefined || meta.pid === undefined || meta.pidStartTime === undefined) return undefined;
    return (await isAlive(meta.pid, meta.pidStartTime)) ? meta.pid : undefined;
  }

  async monitorAlive(meta: ContainerMeta | undefined): Promise<boolean> {
    return meta?.conmonPid !== undefined && (await isAlive(meta.conmonPid, meta.conmonStartTime));
  }

  /**
   * exited (exit file) → created/running (runtime state, pid alive) → running while the monitor
   * is still draining an exit → exited with code 255 when the monitor is gone without writing
   * an exit file (killed, host rebooted) → unknown when nothing is left.
   */
  async status(id: string): Promise<AppStatus> {
    const meta = await this.readMeta(id);
    const base: AppStatus = { containerId: id, state: 'unknown', ...(meta?.startedAt ? { startedAt: meta.startedAt } : {}) };
    const exit = await this.readExit(id);
    if (exit) return { ...base, state: 'exited', ...exit, ...(await this.exitReason(id, meta)) };
    const livePid = await this.startedAndAlive(meta);
    if (livePid !== undefined) return { ...base, state: 'running', pid: livePid };
    // without the runtime's view the status is decided from meta, the monitor and the exit file below
    const st = await this.oci.state(id).catch((err: unknown) => {
      this.log.warn({ err, containerId: id }, 'runtime state failed');
      return undefined;
    });
    if (!st && !meta) return base;
    const pidStart = meta?.pid === st?.pid ? meta?.pidStartTime : undefined;
    const pidAlive = st !== undefined && st.pid > 0 && (await isAlive(st.pid, pidStart));
    if (st && pidAlive && (st.status === 'created' || st.status === 'creating')) return { ...base, state: 'created', pid: st.pid };
    if (st && pidAlive && (st.status === 'running' || st.status === 'paused')) return { ...base, state: 'running', pid: st.pid };
    if (await this.monitorAlive(meta)) {
      // exited or exiting: conmon writes the exit file after draining the logs
      const again = await this.readExit(id);
      if (again) return { ...base, state: 'exited', ...again, ...(await this.exitReason(id, meta)) };
      return { ...base, state: meta?.startedAt ? 'running' : 'created' };
    }
    const last = await this.readExit(id);
    if (last) return { ...base, state: 'exited', ...last, ...(await this.exitReason(id, meta)) };
    return { ...base, state: 'exited', exitCode: 255, finishedAt: this.clock.now(), ...(await this.exitReason(id, meta)) };
  }

  /**
   * Drift of a started, running app (issue 13 item 8): its monitor gone without an exit file
   * (killed: a monitor that is gone can never write one, so nobody will report the app's exit
   * nor collect its output), its overlay's lower dir removed, its bundle's config.json removed.
   */
  async drift(id: string): Promise<AppDrift | undefined> {
    const meta = await this.readMeta(id);
    if (!meta?.startedAt || meta.conmonPid === undefined || (await this.readExit(id))) return undefined;
    // cheap while the monitor lives (a /proc read); the runtime's state only when it is gone
    let monitorLost = false;
    if (!(await this.monitorAlive(meta))) {
      if (await this.readExit(id)) return undefined; // it wrote the exit, then ended
      // gone without an exit: is the app itself still there?
      const st = await this.oci.state(id).catch(() => undefined); // no state: the app is not known alive, so no drift
      const alive =
        st !== undefined &&
        st.pid > 0 &&
        (st.status === 'running' || st.status === 'paused') &&
        (await isAlive(st.pid, meta.pid === st.pid ? meta.pidStartTime : undefined));
      if (!alive) return undefined;
      monitorLost = true;
    }
    const lowerDir = meta.lowerDir ?? (await overlayLowerDir(meta.rootfs));
    const lowerGone = lowerDir !== undefined && !(await pathExists(lowerDir));
    const bundleGone = !(await pathExists(join(meta.bundleDir, 'config.json')));
    return { monitorLost, lowerGone, bundleGone, ...(lowerDir !== undefined ? { lowerDir } : {}) };
  }

  /** Put the running app's config.json back into its bundle from the copy in the container dir. */
  async restoreBundle(id: string): Promise<boolean> {
    const meta = await this.readMeta(id);
    const copy = await readTextIfExists(join(this.containerDir(id), 'config.json'));
    if (!meta || copy === undefined) return false;
    await makeDirs(meta.bundleDir, 0o700);
    await writeFileAtomic(join(meta.bundleDir, 'config.json'), copy);
    return true;
  }

  async waitExit(id: string, signal?: AbortSignal): Promise<AppExit> {
    const exit = await this.waitExitCode(id, signal);
    return { ...exit, ...(await this.exitReason(id, await this.readMeta(id))) };
  }

  /**
   * `{ reason: 'OOMKilled' }` when the kernel's OOM killer killed a process of this execution:
   * the oom_kill count of the container's memory cgroup (v1 `memory.oom_control`, v2
   * `memory.events`). The cgroup lives until remove() (the runtime's delete), so the count is
   * there when conmon reports the exit; it is recorded in the container dir the first time it
   * is read, for the status calls after the cgroup is gone (a reboot, a remove by hand).
   */
  async exitReason(id: string, meta: ContainerMeta | undefined): Promise<{ reason?: 'OOMKilled' }> {
    const record = join(this.containerDir(id), 'oom_kill');
    const recorded = await readTextIfExists(record).catch(() => undefined); // unreadable: counted again from the cgroup below
    let count = recorded !== undefined ? Number(recorded.trim()) : undefined;
    if (count === undefined || !Number.isFinite(count)) {
      count = await oomKillCount(meta?.cgroupsPath ?? `/${this.cgroupParent}/${id}`);
      if (count !== undefined && (await pathExists(this.containerDir(id))))
        await writeFileAtomic(record, `${count}\n`).catch(() => undefined); // only a cache: the next call reads the cgroup again
    }
    return count !== undefined && count > 0 ? { reason: 'OOMKilled' } : {};
  }

  private waitExitCode(id: string, signal?: AbortSignal): Promise<{ exitCode: number; finishedAt: number }> {
    if (signal?.aborted) return Promise.reject(canceled(signal));
    return makeDirs(this.exitsDir).then(
      () =>
        new Promise((resolve, reject) => {
          let settled = false;
          let checking = false;
          let watcher: FSWatcher | undefined;
          const finish = (fn: () => void) => {
            if (settled) return;
            settled = true;
            watcher?.close();
            clearInterval(timer);
            signal?.removeEventListener('abort', onAbort);
            fn();
          };
          const onAbort = () => finish(() => reject(canceled(signal)));
          const quick = () => {
            this.readExit(id).then(
              (e) => e && finish(() => resolve(e)),
              () => undefined,
            );
          };
          let known: ContainerMeta | undefined; // an execution's monitor does not change: read once
          const slow = () => {
            if (checking || settled) return;
            checking = true;
            // Cheap while the monitor lives: one /proc read (it writes the exit file, which the
            // watcher sees); the exit file and the full status (a runtime spawn) only when it is
            // gone or unknown. An idle agent runs this once a second for every app.
            (known ? Promise.resolve(known) : this.readMeta(id))
              .then(async (meta) => {
                if (meta?.conmonPid !== undefined) known = meta;
                if (await this.monitorAlive(meta)) return undefined;
                const exit = await this.readExit(id);
                if (exit) return { containerId: id, state: 'exited' as const, ...exit };
                return this.status(id);
              })
              .then((s) => {
                if (!s) return;
                if (s.state === 'exited')
                  finish(() => resolve({ exitCode: s.exitCode ?? 255, finishedAt: s.finishedAt ?? this.clock.now() }));
                else if (s.state === 'unknown') finish(() => reject(new BerthError('NotFound', `container ${id} not found`)));
              })
              .catch(() => undefined) // a failed check is retried by the next poll (EXIT_POLL_MS) or watch event
              .finally(() => {
                checking = false;
              });
          };
          signal?.addEventListener('abort', onAbort, { once: true });
          try {
            watcher = watch(this.exitsDir, (_ev, name) => {
              if (name === null || String(name) === id) quick();
            });
            watcher.on('error', () => undefined); // the poll below still sees the exit
          } catch {
            watcher = undefined; // no watch (inotify limits): the poll below still sees the exit
          }
          const timer = setInterval(slow, EXIT_POLL_MS);
          slow();
        }),
    );
  }

  private async waitExitFor(id: string, ms: number, signal?: AbortSignal): Promise<boolean> {
    const timeout = timeoutSignal(ms);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      await this.waitExitCode(id, both);
      return true;
    } catch (err) {
      if (signal?.aborted) throw canceled(signal);
      if (timeout.aborted) return false;
      throw err;
    }
  }

  async stop(id: string, graceMs: number, signal?: AbortSignal, opts: { stopSignal?: string } = {}): Promise<void> {
    const meta = await this.readMeta(id);
    // no exit file and started and alive (status() without the runtime's state: one process
    // spawn, through the hybrid-cgroup wrapper four, per stop)
    const st =
      !(await this.readExit(id)) && (await this.startedAndAlive(meta)) !== undefined
        ? { state: 'running' as const }
        : await this.status(id);
    if (st.state !== 'running' && st.state !== 'created') return;
    const stopSignal = normalizeSignal(opts.stopSignal || meta?.stopSignal || 'SIGTERM');
    const log = this.log.child({ containerId: id });
    if (st.state === 'running' && graceMs > 0) {
      await this.signalApp(id, meta, stopSignal).catch((err: unknown) => log.debug({ err }, 'stop signal not delivered'));
      if (await this.waitExitFor(id, graceMs, signal)) return;
      log.debug({ graceMs }, 'grace period over, killing');
    }
    await this.signalApp(id, meta, 'SIGKILL').catch((err: unknown) => log.debug({ err }, 'SIGKILL not delivered'));
    if (await this.waitExitFor(id, KILL_WAIT_MS, signal)) return;
    const after = await this.status(id);
    if (after.state === 'running' || after.state === 'created')
      throw new BerthError('Unavailable', `container ${id} did not exit after SIGKILL`);
  }

  /**
   * A signal to the app's process (the container's init, as the runtime's `kill` without
   * `--all`): sent from here when the recorded process is still that one, checked by its start
   * time just before, as the runtime checks its state's pid; one process less per signal.
   * Otherwise (no record, a signal Node has no number for) through the runtime.
   */
  private async signalApp(id: string, meta: ContainerMeta | undefined, sig: string): Promise<void> {
    const num = /^\d+$/.test(sig) ? Number(sig) : (osConstants.signals as Record<string, number | undefined>)[sig];
    const pid = meta?.startedAt !== undefined && meta.pidStartTime !== undefined ? meta.pid : undefined;
    if (num !== undefined && pid !== undefined && (await isAlive(pid, meta!.pidStartTime))) {
      try {
        process.kill(pid, num);
        return;
      } catch (err) {
        if (errnoOf(err) === 'ESRCH') return; // exited meanwhile: the exit file follows
        throw err;
      }
    }
    await this.oci.kill(id, sig);
  }

  async remove(id: string): Promise<void> {
    const meta = await this.readMeta(id);
    const errors: unknown[] = [];
    // the runtime's state only for the bundle path, when berth's meta.json does not have it; without
    // it only that cleanup is skipped, and the runtime's delete below reports its own failure
    const st = meta?.bundleDir ? undefined : await this.oci.state(id).catch(() => undefined);
    try {
      await this.oci.delete(id, true);
    } catch (err) {
      errors.push(err);
    }
    // Let the monitor finish (it writes the exit file when the app dies), so that it cannot
    // write after we cleaned up; end it ourselves if it hangs on.
    const monitors: Array<{ pid: number; startTime?: number }> =
      meta?.conmonPid !== undefined
        ? [{ pid: meta.conmonPid, ...(meta.conmonStartTime !== undefined ? { startTime: meta.conmonStartTime } : {}) }]
        : await this.findMonitors(id);
    for (const m of monitors) {
      const deadline = this.clock.now() + MONITOR_WAIT_MS;
      while ((await isAlive(m.pid, m.startTime)) && this.clock.now() < deadline) await sleep(20);
      if (await isAlive(m.pid, m.startTime)) {
        try {
          process.kill(m.pid, 'SIGKILL');
        } catch (err) {
          if (errnoOf(err) !== 'ESRCH') errors.push(err);
        }
      }
    }
    const bundleDir = meta?.bundleDir ?? (st?.bundle || undefined);
    if (bundleDir) {
      const rootfs = meta?.rootfs ?? join(bundleDir, 'rootfs');
      try {
        await unmountAll(rootfs);
        await rmdir(rootfs).catch((err: unknown) => {
          if (errnoOf(err) !== 'ENOENT') throw err;
        });
        for (const d of await execDirs(bundleDir)) await rm(d, { recursive: true, force: true });
        await Promise.all(['config.json', 'ctl', 'winsz', 'attach'].map((f) => rm(join(bundleDir, f), { force: true })));
      } catch (err) {
        errors.push(err);
      }
    }
    // crun leaves some behind
    await removeCgroupDirs(meta?.cgroupsPath ?? `/${this.cgroupParent}/${id}`).catch((err: unknown) => errors.push(err));
    for (const p of [this.exitFile(id), join(this.socksDir, id), this.containerDir(id)]) {
      await rm(p, { recursive: true, force: true }).catch((err: unknown) => errors.push(err));
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1)
      throw new BerthError('Internal', `remove ${id}: ${errors.map(errorMessage).join('; ')}`, { cause: new AggregateError(errors) });
  }

  /**
   * conmon processes of this runtime (same exit dir) for container `id`, found by command
   * line; used when berth's meta.json is gone and the monitor pid with it.
   */
  async findMonitors(id: string): Promise<Array<{ pid: number; startTime: number }>> {
    const out: Array<{ pid: number; startTime: number }> = [];
    for (const name of await readdir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      // a process that ends while we read (ESRCH) or that we may not read is not one of our monitors
      const argv = (await readTextIfExists(`/proc/${name}/cmdline`).catch(() => undefined))?.split('\0') ?? [];
      if (!argv[0]?.endsWith('conmon')) continue;
      const at = (flag: string) => argv[argv.indexOf(flag) + 1];
      if (at('-c') !== id || at('--exit-dir') !== this.exitsDir) continue;
      const st = await readProcStat(Number(name));
      if (st && st.state !== 'Z') out.push({ pid: st.pid, startTime: st.startTime });
    }
    return out;
  }

  /**
   * rmdir the cgroup parent (`/berth`) in every hierarchy when no app cgroup is left under it;
   * for garbage collection (runtimes leave the parent behind). Busy or non-empty is fine.
   */
  /** AppRuntime.prune: the empty cgroup parents. */
  prune(): Promise<void> {
    return this.pruneCgroupParent();
  }

  async pruneCgroupParent(): Promise<void> {
    const { v1, v2 } = parseCgroupMounts(await readFile('/proc/self/mountinfo', 'utf8'));
    for (const mount of [...v1, ...v2]) {
      // pod cgroups a crash left behind, when empty (pod-cgroup.ts)
      for (const name of (await readdirIfExists(join(mount, this.cgroupParent))).filter((n) => n.startsWith('pod-'))) {
        await rmdir(join(mount, this.cgroupParent, name)).catch((err: unknown) => {
          if (!['ENOENT', 'EBUSY', 'ENOTEMPTY'].includes(errnoOf(err) ?? '')) throw err;
        });
      }
      await rmdir(join(mount, this.cgroupParent)).catch((err: unknown) => {
        if (!['ENOENT', 'EBUSY', 'ENOTEMPTY'].includes(errnoOf(err) ?? '')) throw err;
      });
    }
  }

  /** AppRuntime.ensurePodCgroup: the pod cgroup with its limits, where the OCI runtime will look for it. */
  async ensurePodCgroup(name: string, resources: PodCgroupResources): Promise<void> {
    const facts = await this.hostFacts();
    await writePodCgroup(facts.bundle.cgroupMode, podCgroupPath(this.cgroupParent, name), resources);
  }

  /** AppRuntime.removePodCgroup */
  async removePodCgroup(name: string): Promise<void> {
    await removeCgroupDirs(podCgroupPath(this.cgroupParent, name));
  }

  /** appc post-stop over the exited app's rootfs (appc-handlers.ts); the app must not be running. */
  async runAfterExit(id: string, argv: string[], opts: { timeoutMs: number; signal?: AbortSignal }) {
    const meta = await this.readMeta(id);
    if (!meta)
      throw new BerthError('FailedPrecondition', `container ${id}: its root filesystem is gone (no metadata), post-stop cannot run`);
    if ((await this.status(id)).state === 'running') throw new BerthError('FailedPrecondition', `container ${id} is still running`);
    return runAfterExitInRootfs(this.oci, id, meta.bundleDir, meta.rootfs, argv, { logPath: meta.logPath, ...opts });
  }

  async list(prefix: string): Promise<string[]> {
    const ids = new Set<string>();
    const add = (xs: string[]) => xs.filter((x) => x.startsWith(prefix) && !x.startsWith('.')).forEach((x) => ids.add(x));
    add(await this.oci.list().catch(() => [])); // the runtime not answering: berth's own records below still list the ids
    add(await readdirIfExists(join(this.runDir, 'containers')));
    add(await readdirIfExists(this.exitsDir));
    return [...ids].sort();
  }

  /**
   * Rotate the live log of a running app when it reached limits.maxBytes (log-rotation.ts:
   * rename, then conmon reopens through its ctl FIFO; no line is lost). False when not rotated.
   */
  async rotateLog(id: string, limits: LogRotationLimits): Promise<boolean> {
    const meta = await this.readMeta(id);
    if (!meta || !(await this.monitorAlive(meta))) return false;
    return rotateLogIfNeeded(meta.logPath, limits, () => reopenConmonLog(join(meta.bundleDir, 'ctl')));
  }

  /**
   * Run a command inside the running app, as confined as the app (its bundle's `process`,
   * namespaces, cgroup, seccomp): see exec.ts.
   */
  async exec(id: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (argv.length === 0) throw new BerthError('InvalidArgument', 'exec needs a command');
    const st = await this.status(id);
    if (st.state !== 'running') throw new BerthError('FailedPrecondition', `container ${id} is not running`);
    const meta = await this.readMeta(id);
    if (!meta) throw new BerthError('FailedPrecondition', `container ${id} has no metadata: it was not started by this runtime`);
    return runExec(
      {
        containerId: id,
        binaryPath: this.oci.binaryPath,
        globalArgs: this.oci.globalArgs,
        bundleDir: meta.bundleDir,
        workDir: this.containerDir(id),
      },
      argv,
      opts,
    );
  }
}

/**
 * The OOM killer's kill count of a cgroup: the sum over the hierarchies that have it (v1
 * `memory.oom_control` `oom_kill`, v2 `memory.events` `oom_kill`); undefined when the cgroup
 * is gone from all of them.
 */
export async function oomKillCount(cgroupsPath: string): Promise<number | undefined> {
  const { v1, v2 } = parseCgroupMounts(await readFile('/proc/self/mountinfo', 'utf8'));
  let found = false;
  let total = 0;
  const files = [...v1.map((m) => join(m, cgroupsPath, 'memory.oom_control')), ...v2.map((m) => join(m, cgroupsPath, 'memory.events'))];
  for (const f of files) {
    const text = await readTextIfExists(f).catch(() => undefined); // a cgroup removed while we read (ENODEV) counts as gone
    if (text === undefined) continue;
    const m = /^oom_kill (\d+)$/m.exec(text);
    if (!m) continue;
    found = true;
    total += Number(m[1]);
  }
  return found ? total : undefined;
}

/**
 * The runtime's create failed because the process cannot be executed: the entrypoint is not
 * found or not executable, or the working directory is not a directory (crun and runc
 * messages). The kubelet's StartError / ContainerCannotRun.
 */
export function isStartError(text: string, cwd?: string): boolean {
  // runc makes the working directory: a cwd that is a file fails as its mkdir
  if (cwd && text.includes(`mkdir ${cwd}: not a directory`)) return true;
  return /executable file .*not found|open executable|exec format error|chdir( to cwd)?[\s`"(]|exec: \\?"[^"]*": .*(permission denied|no such file|not a directory)|no such file or directory.*exec/i.test(
    text,
  );
}

/** `TERM`, `15`, `sigterm` → `SIGTERM`; numbers pass through. */
export function normalizeSignal(sig: string): string {
  const s = sig.trim().toUpperCase();
  if (/^\d+$/.test(s)) return s;
  return s.startsWith('SIG') ? s : `SIG${s}`;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return true; // unknown: a directory mount point, and the runtime reports a missing source when it mounts
  }
}

/** Read one newline-terminated line from a stream, without waiting for EOF. */
function readLine(stream: Readable, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const cleanup = () => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        cleanup();
        resolve(buf.slice(0, nl));
      }
    };
    const onEnd = () => {
      cleanup();
      if (buf.trim()) resolve(buf.trim());
      else reject(new BerthError('Internal', 'conmon exited without reporting the container pid'));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new BerthError('Internal', `conmon sync pipe: ${e.message}`, { cause: e }));
    };
    const onAbort = () => {
      cleanup();
      reject(canceled(signal));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new BerthError('Unavailable', `conmon did not report the container pid within ${timeoutMs} ms`));
    }, timeoutMs);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
