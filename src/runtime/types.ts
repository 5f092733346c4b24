/**
 * The runtime module's ports: an OCI runtime (crun, runc) driven through bundles, behind a
 * per-container monitor (conmon) that holds stdio, writes CRI logs and the exit code, and
 * lets apps outlive the agent. Observed, not remembered: status is read back from the
 * monitor's exit file, the runtime's state and /proc.
 */
import type { Container, Pod } from '../api/pod.js';
import type { PodUserns } from './userns.js';

/** The image config fields the bundle needs (OCI image config `config`, IMG-18..21). */
export interface ImageProcessConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  StopSignal?: string;
  /**
   * Set for appc (ACI) apps (appc ACE): the environment gets `AC_APP_NAME` (the app's name)
   * and `container`; supplementary GIDs and the isolators berth maps (`resource/cpu`,
   * `resource/memory`, `os/linux/capabilities-retain-set` / `-remove-set`,
   * `os/linux/no-new-privileges`) apply where the pod spec says nothing else.
   */
  appc?: { supplementaryGids?: number[]; isolators?: Array<{ name: string; value: unknown }> };
}

/** Everything needed to start one execution of one app. */
export interface AppLaunch {
  /** runtime container id, `berth-…`; the same for every execution of an app */
  containerId: string;
  podUid: string;
  namespace: string;
  podName: string;
  appName: string;
  /** 0 for the first execution, then the restart count: names the log file and the upper dir */
  execution: number;
  /** directory for config.json and the per-execution overlay (`<state>/pods/<uid>/apps/<app>`) */
  bundleDir: string;
  /** the rendered image tree, used read-only as the overlay's lower dir */
  rootfsLower: string;
  image: ImageProcessConfig;
  container: Container;
  pod: Pod;
  /** the pod's network namespace path; undefined for hostNetwork pods */
  netnsPath?: string;
  /** `hostUsers: false`: the pod's user namespace, joined by the app (runtime/userns.ts) */
  userns?: PodUserns;
  /** shareProcessNamespace: the PID namespace to join (`/proc/<infra pid>/ns/pid`, reconciler/pod-infra.ts) */
  pidNamespacePath?: string;
  /** pod-level resources: the pod cgroup (`pod-<short id>`, below the cgroup parent) the app's cgroup goes in */
  podCgroup?: string;
  hostname: string;
  /** absolute path of this execution's CRI-format log file */
  logPath: string;
  /** extra files to bind-mount read-only (e.g. /etc/hosts, /etc/resolv.conf): container path → host path */
  etcFiles?: Record<string, string>;
  /** volume mounts resolved by the caller (hostPath, emptyDir dirs): bind-mounted into the rootfs */
  mounts?: Array<{
    destination: string;
    source: string;
    readOnly: boolean;
    /** `mountPropagation`: None (rprivate, the default), HostToContainer (rslave), Bidirectional (rshared, privileged only) */
    propagation?: 'None' | 'HostToContainer' | 'Bidirectional';
    /** no execution from the mount (image volumes, as the kubelet mounts them) */
    noexec?: boolean;
  }>;
  /** the pod's IPs, for `status.podIP(s)` fieldRefs in env (added by the runtime module) */
  podIPs?: string[];
  /** the host's IPs, for `status.hostIP(s)` fieldRefs in env (added by the runtime module) */
  hostIPs?: string[];
  /**
   * appc `pre-start` event handler: run inside the created container (the app's own process
   * settings, argv replaced) before the app's process is exec'd; not exiting 0 within
   * timeoutMs fails the start (src/runtime/appc-handlers.ts)
   */
  appcPreStart?: { exec: string[]; timeoutMs: number };
}

export type AppState = 'created' | 'running' | 'exited' | 'unknown';

export interface AppStatus {
  containerId: string;
  state: AppState;
  pid?: number;
  exitCode?: number;
  /** epoch ms */
  startedAt?: number;
  finishedAt?: number;
  /** the execution was ended by the kernel's OOM killer (the container cgroup's oom_kill count > 0) */
  reason?: 'OOMKilled';
}

/**
 * What changed under a running app behind the agent's back (drift, issue 13 item 8), as the
 * host shows it now. Every field false/undefined: nothing to repair.
 */
export interface AppDrift {
  /** the app runs but its monitor (conmon) is gone: nobody holds its stdio, writes its log or will report its exit */
  monitorLost: boolean;
  /** the rendered tree the running execution's overlay was mounted on (its lower dir) */
  lowerDir?: string;
  /** lowerDir no longer exists on the host (removed by hand or by a gc) */
  lowerGone: boolean;
  /** the execution's bundle (`config.json` under bundleDir) was removed */
  bundleGone: boolean;
}

/** What `waitExit` resolves with. */
export interface AppExit {
  exitCode: number;
  /** epoch ms */
  finishedAt: number;
  reason?: 'OOMKilled';
}

/** Limits of a pod cgroup (pod-level resources after the API server's defaulting). */
export interface PodCgroupResources {
  limits: { cpu?: number; memory?: number };
  requests: { cpu?: number; memory?: number };
}

/** How `exec` runs a command inside a running app. */
export interface ExecOptions {
  /** kill the exec'd process (and only it) after this many ms; the result has `timedOut: true` */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** 'pipe' (default): capture stdout/stderr, each capped at EXEC_OUTPUT_CAP bytes; 'inherit': this process's stdio (berth exec) */
  stdio?: 'pipe' | 'inherit';
  /** allocate a terminal for the process (with stdio 'inherit') */
  tty?: boolean;
  /** pass stdin through (with stdio 'inherit'); otherwise the process gets /dev/null */
  stdin?: boolean;
  /** extra environment, added after the app's own */
  env?: string[];
}

export interface ExecResult {
  exitCode: number;
  /** captured output (stdio 'pipe'), cut at EXEC_OUTPUT_CAP bytes; empty with 'inherit' */
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** The kubelet keeps 10 KiB of a probe's output; exec results are capped the same way. */
export const EXEC_OUTPUT_CAP = 10 * 1024;

/** Start, observe, stop and remove app executions. Every method is idempotent. */
export interface AppRuntime {
  /**
   * Fresh overlay on the lower tree, bundle, monitor, runtime create + start. A process that
   * cannot be executed (entrypoint missing or not executable, bad working directory) rejects
   * with BerthError('FailedPrecondition', …, { details: { reason: 'StartError' } }).
   */
  start(launch: AppLaunch, signal?: AbortSignal): Promise<AppStatus>;
  /** What the host says about the container now; `unknown` when there is no trace of it. */
  status(containerId: string): Promise<AppStatus>;
  /** Resolves with the exit code when the monitor reports the exit (already exited: at once). */
  waitExit(containerId: string, signal?: AbortSignal): Promise<AppExit>;
  /**
   * Stop signal (`opts.stopSignal`, else the image's StopSignal, else SIGTERM), wait up to
   * graceMs, then SIGKILL; no-op when not running.
   */
  stop(containerId: string, graceMs: number, signal?: AbortSignal, opts?: { stopSignal?: string }): Promise<void>;
  /**
   * Run argv inside the running app, as confined as the app itself (its namespaces, cgroup,
   * user, capabilities, seccomp, no_new_privs, apparmor, env, cwd from its own bundle).
   * FailedPrecondition when the app is not running.
   */
  exec(containerId: string, argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Rotate the running app's live log when it reached limits.maxBytes, keeping limits.maxFiles
   * files (log-rotation.ts); resolves false when nothing was rotated.
   */
  rotateLog(containerId: string, limits: { maxBytes: number; maxFiles: number }): Promise<boolean>;
  /** Delete the runtime container, unmount and remove the execution's rootfs, forget exit files. */
  remove(containerId: string): Promise<void>;
  /** Container ids with any trace on the host (runtime state, monitor files) that start with prefix. */
  list(prefix: string): Promise<string[]>;
  /** Why pods with `hostUsers: false` cannot run here (runtime or kernel), or undefined when they can. */
  usernsProblem(): Promise<string | undefined>;
  /**
   * Drift of a running app (a killed monitor, a removed lower dir or bundle); undefined when
   * the app is not running.
   */
  drift(containerId: string): Promise<AppDrift | undefined>;
  /** Write the running app's bundle config again from the runtime's own copy (after it was removed); false when there is no copy. */
  restoreBundle(containerId: string): Promise<boolean>;
  /** Remove shared leftovers no container needs any more (empty cgroup parents). */
  prune(): Promise<void>;
  /**
   * Pod-level resources: make the pod cgroup `name` below the cgroup parent with these limits
   * (cpu in cores, memory in bytes) in every hierarchy that has the controller
   * (runtime/pod-cgroup.ts); idempotent, rewrites the limits.
   */
  ensurePodCgroup(name: string, resources: PodCgroupResources): Promise<void>;
  /** Remove the pod cgroup `name` (its apps' cgroups are gone); no-op when it is not there. */
  removePodCgroup(name: string): Promise<void>;
  /**
   * appc `post-stop`: run argv after the app exited, over its still-mounted rootfs with its own
   * process settings and mounts (a one-shot container, see appc-handlers.ts). FailedPrecondition
   * when the rootfs is gone.
   */
  runAfterExit(
    containerId: string,
    argv: string[],
    opts: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<{ exitCode: number; stdout: string; stderr: string; timedOut: boolean }>;
}

/** What one runtime subcommand returned; a non-zero exit is a result, not a rejection. */
export interface OciRunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** ended by `timeoutMs` (or the caller's signal) */
  timedOut: boolean;
}

/**
 * The bare OCI runtime (crun, runc): create through a monitor, then start/state/kill/delete,
 * `exec --process` and any other subcommand. `ConmonRuntime` drives every implementation
 * through this port only.
 */
export interface OciRuntime {
  readonly name: string;
  /**
   * What a monitor that cannot call back into berth runs (conmon's `-r`): the runtime's
   * executable, or the wrapper in front of it on a hybrid cgroup host. An exec with a
   * terminal spawns it too, with inherited stdio.
   */
  readonly binaryPath: string;
  /** global options before every subcommand (conmon's `--runtime-arg`s); usually none */
  readonly globalArgs: readonly string[];
  /**
   * The runtime runs with the host's cgroup2 mount hidden (crun's wrapper on a hybrid host,
   * HOST-NOTES §4a): its containers see a pure cgroup v1 host, and bundles are written so.
   */
  readonly hidesCgroup2: boolean;
  /** undefined when the runtime does not know the id */
  state(id: string): Promise<{ status: string; pid: number; bundle: string } | undefined>;
  /** Start the created container's process; NotFound for an unknown id. */
  start(id: string, signal?: AbortSignal): Promise<void>;
  /** NotFound for an unknown id. */
  kill(id: string, signal: string): Promise<void>;
  /** Idempotent: an unknown id is success. */
  delete(id: string, force?: boolean): Promise<void>;
  list(): Promise<string[]>;
  /** `exec --process <file> <id>`: the process JSON carries args, env, user and capabilities. */
  exec(id: string, processFile: string, signal?: AbortSignal): Promise<OciRunResult>;
  /** Any subcommand (`run --bundle …` for one-shot containers); `timeoutMs` 0 waits for ever. */
  run(args: string[], opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<OciRunResult>;
  /**
   * `create --bundle <bundleDir> <id>` without a monitor: the container's stdio is not berth's
   * (no pipe is held open), it waits for `start`; AlreadyExists for a known id. Apps are
   * created by their monitor; this is for containers berth only looks at (idmap-support.ts).
   */
  create(id: string, bundleDir: string): Promise<void>;
  /**
   * What the runtime says it supports (runtime-spec features.md, `<runtime> features`);
   * undefined when it has no such command (crun 1.8), which says nothing either way.
   */
  features(): Promise<OciFeatures | undefined>;
  /** The runtime's own name and version (`<runtime> --version`, first line), for messages. */
  version(): Promise<string>;
}

/** The part of runtime-spec features.md berth reads; a missing field is "unknown", not "false". */
export interface OciFeatures {
  ociVersionMin?: string;
  ociVersionMax?: string;
  linux?: { mountExtensions?: { idmap?: { enabled?: boolean } } };
  annotations?: Record<string, string>;
}
