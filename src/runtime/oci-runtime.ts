/**
 * The OCI runtime CLI (crun or runc), driven with the same argv for both. On a hybrid cgroup
 * host whose cgroup2 mount still holds controllers, crun refuses to run ("cgroups in hybrid
 * mode not supported"); berth then runs it through a wrapper that unmounts the cgroup2
 * hierarchy in a private mount namespace, so that crun sees a pure v1 host (HOST-NOTES §4a).
 * The wrapper is a file because conmon takes the runtime as a single path (`-r`).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { access, constants, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { execa } from '../common/process.js';
import { BerthError, writeFileAtomic } from '../common/index.js';
import type { OciFeatures, OciRunResult, OciRuntime } from './types.js';
import { detectCgroupFacts, type CgroupFacts } from './host-facts.js';

export type OciRuntimeName = 'crun' | 'runc';

export interface OciState {
  status: string;
  pid: number;
  bundle: string;
}

/** Messages the runtimes print when a container id is unknown (crun and runc differ). */
const NOT_EXIST = /does not exist|no such file or directory|not found|container not exist/i;

export function isNotExistMessage(text: string): boolean {
  return NOT_EXIST.test(text);
}

/**
 * OciRuntime over a CLI (crun, runc, or the crun wrapper). `direct`: the runtime's own binary
 * behind a wrapper, for the verbs that set up no cgroup (state, start, kill, delete, list).
 * crun's hybrid-mode refusal comes from its cgroup setup (create, run, exec); these verbs
 * work on the containers the wrapper created (checked on the hybrid host, HOST-NOTES §4a),
 * and the wrapper's extra unshare, shell and umount are two of the three processes of each
 * such call (issue 11: about 100 ms per call on the loaded 2-core host).
 */
export class CliOciRuntime implements OciRuntime {
  readonly name: string;
  readonly binaryPath: string;
  readonly globalArgs: readonly string[];
  readonly hidesCgroup2: boolean;
  private readonly direct: string | undefined;

  constructor(name: string, binaryPath: string, opts: { globalArgs?: readonly string[]; hidesCgroup2?: boolean; direct?: string } = {}) {
    if (binaryPath === '') throw new BerthError('InvalidArgument', 'oci runtime binary path is empty');
    this.name = name;
    this.binaryPath = binaryPath;
    this.globalArgs = opts.globalArgs ?? [];
    this.hidesCgroup2 = opts.hidesCgroup2 ?? false;
    this.direct = opts.direct;
  }

  async run(args: string[], opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<OciRunResult> {
    return this.runWith(this.binaryPath, [...this.globalArgs, ...args], opts);
  }

  /** A verb that sets up no cgroup: the runtime's own binary when a wrapper stands in front of it. */
  private runDirect(args: string[], opts: { signal?: AbortSignal } = {}): Promise<OciRunResult> {
    return this.direct ? this.runWith(this.direct, args, opts) : this.run(args, opts);
  }

  private async runWith(cmd: string, argv: string[], opts: { signal?: AbortSignal; timeoutMs?: number }): Promise<OciRunResult> {
    const r = await execa(cmd, argv, {
      reject: false,
      stdin: 'ignore',
      timeout: opts.timeoutMs ?? 30_000,
      ...(opts.signal ? { cancelSignal: opts.signal } : {}),
    });
    return { exitCode: r.exitCode ?? 255, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), timedOut: r.timedOut === true };
  }

  private fail(verb: string, id: string, r: OciRunResult): never {
    const text = String(r.stderr || r.stdout || '').trim();
    throw new BerthError(isNotExistMessage(text) ? 'NotFound' : 'Internal', `${this.name} ${verb} ${id}: ${text || `exit ${r.exitCode}`}`);
  }

  async state(id: string): Promise<OciState | undefined> {
    const r = await this.runDirect(['state', id]);
    if (r.exitCode !== 0) {
      const text = String(r.stderr);
      if (isNotExistMessage(text)) return undefined;
      this.fail('state', id, r);
    }
    const s = JSON.parse(String(r.stdout)) as { status?: string; pid?: number; bundle?: string };
    return { status: s.status ?? 'unknown', pid: s.pid ?? 0, bundle: s.bundle ?? '' };
  }

  async start(id: string, signal?: AbortSignal): Promise<void> {
    const r = await this.runDirect(['start', id], signal ? { signal } : {});
    if (r.exitCode !== 0) this.fail('start', id, r);
  }

  async kill(id: string, signal: string): Promise<void> {
    const r = await this.runDirect(['kill', id, signal]);
    if (r.exitCode !== 0) this.fail('kill', id, r);
  }

  /** Tolerates an unknown id (already deleted). */
  async delete(id: string, force = false): Promise<void> {
    const r = await this.runDirect(['delete', ...(force ? ['--force'] : []), id]);
    if (r.exitCode !== 0 && !isNotExistMessage(String(r.stderr))) this.fail('delete', id, r);
  }

  async list(): Promise<string[]> {
    const r = await this.runDirect(['list', '-q']);
    if (r.exitCode !== 0) this.fail('list', '', r);
    return String(r.stdout)
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
  }

  /** `exec --process <file> <id>`; the process JSON carries args, env, user and capabilities. */
  async exec(id: string, processFile: string, signal?: AbortSignal): Promise<OciRunResult> {
    return this.run(['exec', '--process', processFile, id], { timeoutMs: 0, ...(signal ? { signal } : {}) });
  }

  /**
   * The container's init inherits the caller's stdio and outlives this call, so its stdout and
   * stderr go to `<bundleDir>/create.log` (a pipe would stay open until the container ends).
   */
  async create(id: string, bundleDir: string): Promise<void> {
    const logFile = join(bundleDir, 'create.log');
    const fd = openSync(logFile, 'w', 0o600);
    let exit: { code: number | null; timedOut: boolean };
    try {
      // not execa: it waits for the end of every stdio stream, which the container's init holds
      exit = await new Promise((resolve, reject) => {
        const child = spawn(this.binaryPath, [...this.globalArgs, 'create', '--bundle', bundleDir, id], { stdio: ['ignore', fd, fd] });
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.once('error', (err) => {
          clearTimeout(timer);
          reject(new BerthError('Unavailable', `${this.name} create ${id}: ${err.message}`, { cause: err }));
        });
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          resolve({ code, timedOut: signal === 'SIGKILL' });
        });
      });
    } finally {
      closeSync(fd);
    }
    if (exit.code === 0) return;
    const text = (await readFile(logFile, 'utf8').catch(() => '')).trim() || (exit.timedOut ? 'timed out after 30 s' : `exit ${exit.code}`);
    throw new BerthError(/already exists/i.test(text) ? 'AlreadyExists' : 'Internal', `${this.name} create ${id}: ${text}`);
  }

  /** `features` output; a runtime without the command (or with output that is not a JSON object) is undefined. */
  async features(): Promise<OciFeatures | undefined> {
    const r = await this.run(['features']);
    if (r.exitCode !== 0) return undefined;
    try {
      const f: unknown = JSON.parse(r.stdout);
      return f !== null && typeof f === 'object' && !Array.isArray(f) ? (f as OciFeatures) : undefined;
    } catch {
      return undefined; // not the features document: nothing is known from it
    }
  }

  async version(): Promise<string> {
    const r = await this.run(['--version']);
    const first = (r.stdout || r.stderr).split('\n')[0]?.trim();
    return r.exitCode === 0 && first ? first : `${this.name} (version unknown: ${first || `exit ${r.exitCode}`})`;
  }
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false; // missing or not executable alike: not a candidate
  }
}

/** First executable named `name` on PATH (plus the sbin dirs a non-login root shell may lack). */
export async function findExecutable(name: string, pathEnv = process.env.PATH ?? ''): Promise<string | undefined> {
  if (name.includes('/')) return (await isExecutable(name)) ? name : undefined;
  const dirs = [...pathEnv.split(delimiter).filter(Boolean), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const d of dirs) {
    const p = join(d, name);
    if (await isExecutable(p)) return p;
  }
  return undefined;
}

/** Quote for a POSIX shell single-quoted context. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The wrapper's inner command: drop the cgroup2 mount, then exec crun. */
const crunWrapperInner = (crunPath: string, unifiedMount: string) =>
  `umount ${shq(unifiedMount)} 2>/dev/null || umount -l ${shq(unifiedMount)} || exit 125; exec ${shq(crunPath)} "$@"`;

/**
 * The wrapper that lets crun run on a hybrid host: a private mount namespace in which the
 * cgroup2 mount is gone. `"$@"` passes conmon's (or berth's) argv through unchanged.
 */
export function crunWrapperScript(crunPath: string, unifiedMount: string): string {
  const inner = crunWrapperInner(crunPath, unifiedMount);
  return `#!/bin/sh\n# written by berth: run crun without the cgroup2 mount of this hybrid host (see HOST-NOTES §4)\nexec unshare -m --propagation private sh -c ${shq(inner)} crun "$@"\n`;
}

export interface ResolveOciRuntimeOptions {
  name: OciRuntimeName;
  /** berth's run dir; the crun wrapper goes to `<runDir>/bin/crun` */
  runDir: string;
  /** path of the runtime binary; default: found on PATH */
  binary?: string;
  /** cgroup facts; default: detected */
  cgroup?: CgroupFacts;
  /**
   * Write nothing (read-only commands: status, describe, --dry-run): the wrapper's command line
   * runs inline. Enough for state queries; conmon needs the wrapper file.
   */
  readOnly?: boolean;
}

/** Whether crun needs the wrapper on a host with these cgroup facts. */
export function crunNeedsWrapper(cg: CgroupFacts): boolean {
  return cg.mode === 'hybrid' && cg.unifiedControllers.length > 0 && cg.unifiedMount !== undefined;
}

/** The runtime berth should drive on this host (crun through the wrapper where needed). */
export async function resolveOciRuntime(opts: ResolveOciRuntimeOptions): Promise<CliOciRuntime> {
  const binary = opts.binary ?? (await findExecutable(opts.name));
  if (!binary) throw new BerthError('FailedPrecondition', `OCI runtime ${opts.name} not found on PATH`);
  if (opts.name === 'runc') return new CliOciRuntime('runc', binary);
  const cg = opts.cgroup ?? (await detectCgroupFacts());
  if (!crunNeedsWrapper(cg)) return new CliOciRuntime('crun', binary);
  if (opts.readOnly)
    return new CliOciRuntime('crun', 'unshare', {
      globalArgs: ['-m', '--propagation', 'private', 'sh', '-c', crunWrapperInner(binary, cg.unifiedMount!), 'crun'],
      hidesCgroup2: true,
      direct: binary,
    });
  const wrapper = join(opts.runDir, 'bin', 'crun');
  await writeFileAtomic(wrapper, crunWrapperScript(binary, cg.unifiedMount!), 0o755);
  return new CliOciRuntime('crun', wrapper, { hidesCgroup2: true, direct: binary });
}
