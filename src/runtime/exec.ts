/**
 * One `runtime exec --process FILE` of a command inside a running app: the process JSON is the
 * app's own `process` from its bundle (user, capabilities, no_new_privs, apparmor profile,
 * rlimits, env, cwd); the runtime adds the container's namespaces, cgroup and seccomp filter,
 * so the command is never less confined than the app. The runtime is run through the same argv
 * as every other runtime call (the crun wrapper on hybrid cgroup hosts).
 *
 * A timeout or an abort SIGKILLs the exec'd process only (its pid from `--pid-file`), never
 * the app; the runtime then reports its exit and returns.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { BerthError, errorMessage, readTextIfExists, safeTimeout, sleep, writeJsonAtomic } from '../common/index.js';
import { isAlive, readProcStat } from './proc.js';
import { EXEC_OUTPUT_CAP, type ExecOptions, type ExecResult } from './types.js';

/** After the exec'd process was killed, how long the runtime gets to notice before it is killed too. */
const RUNTIME_GRACE_MS = 5_000;

export interface ExecTarget {
  containerId: string;
  /** the runtime's executable (OciRuntime.binaryPath) and its global options */
  binaryPath: string;
  globalArgs: readonly string[];
  bundleDir: string;
  /** where the process file and pid file go (berth's per-container dir) */
  workDir: string;
}

/** The app's own process from its bundle, with argv, terminal and the extra env. */
export async function execProcess(bundleDir: string, argv: string[], opts: ExecOptions): Promise<Record<string, unknown>> {
  let config: { process?: Record<string, unknown> };
  try {
    config = JSON.parse(await readFile(join(bundleDir, 'config.json'), 'utf8')) as typeof config;
  } catch (err) {
    throw new BerthError('FailedPrecondition', `exec: cannot read ${join(bundleDir, 'config.json')}: ${errorMessage(err)}`, { cause: err });
  }
  if (!config.process) throw new BerthError('FailedPrecondition', `exec: ${join(bundleDir, 'config.json')} has no process`);
  const { consoleSize: _drop, ...base } = config.process;
  const env = [...((base.env as string[] | undefined) ?? []), ...(opts.env ?? [])];
  const tty = opts.tty === true;
  const size = tty && process.stdout.isTTY ? { consoleSize: { height: process.stdout.rows, width: process.stdout.columns } } : {};
  return { ...base, args: argv, env, terminal: tty, ...size };
}

/** Append to a capped buffer (bytes beyond `cap` are dropped, the stream keeps draining). */
class Capped {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly cap: number) {}
  push(b: Buffer) {
    if (this.size >= this.cap) return;
    const part = b.subarray(0, this.cap - this.size);
    this.chunks.push(part);
    this.size += part.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export async function runExec(target: ExecTarget, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (argv.length === 0 || argv[0] === '') throw new BerthError('InvalidArgument', 'exec needs a command');
  const stdio = opts.stdio ?? 'pipe';
  if (opts.tty && stdio !== 'inherit') throw new BerthError('InvalidArgument', 'exec: a terminal needs stdio "inherit"');
  if (opts.stdin && stdio !== 'inherit') throw new BerthError('InvalidArgument', 'exec: stdin is passed only with stdio "inherit"');
  if (opts.signal?.aborted) throw new BerthError('Canceled', 'exec canceled', { cause: opts.signal.reason });
  const proc = await execProcess(target.bundleDir, argv, opts);
  const base = join(target.workDir, `exec-${randomUUID()}`);
  const processFile = `${base}.json`;
  const pidFile = `${base}.pid`;
  await writeJsonAtomic(processFile, proc);
  const cmd = target.binaryPath;
  const args = [
    ...target.globalArgs,
    'exec',
    '--process',
    processFile,
    '--pid-file',
    pidFile,
    ...(opts.tty ? ['--tty'] : []),
    target.containerId,
  ];
  const out = new Capped(EXEC_OUTPUT_CAP);
  const err = new Capped(EXEC_OUTPUT_CAP);
  let timedOut = false;
  let killing: Promise<void> | undefined;
  try {
    const child = spawn(cmd!, args, {
      stdio: stdio === 'inherit' ? [opts.stdin ? 'inherit' : 'ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    const closed = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', (e) => reject(new BerthError('FailedPrecondition', `exec: spawn ${cmd}: ${e.message}`, { cause: e })));
      child.once('close', (code, sig) => resolve({ code, sig }));
    });
    let done = false;
    const killExeced = () => {
      killing ??= (async () => {
        // the pid file appears once the process runs; the runtime writes it before exec
        for (let i = 0; i < 100 && !done; i++) {
          const pid = Number((await readTextIfExists(pidFile))?.trim());
          if (Number.isInteger(pid) && pid > 0) {
            const st = await readProcStat(pid);
            if (st && (await isAlive(pid, st.startTime))) {
              try {
                process.kill(pid, 'SIGKILL');
              } catch {
                /* gone already */
              }
            }
            break;
          }
          await sleep(20);
        }
        // the runtime reaps it and returns; if it hangs on, end it too
        // a real process waited for with real sleeps: wall clock, as the timers are
        const deadline = Date.now() + RUNTIME_GRACE_MS;
        while (!done && Date.now() < deadline) await sleep(50);
        if (!done) child.kill('SIGKILL');
      })();
    };
    const timer =
      opts.timeoutMs !== undefined && opts.timeoutMs > 0 ? safeTimeout(() => ((timedOut = true), killExeced()), opts.timeoutMs) : undefined;
    const onAbort = () => killExeced();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let res;
    try {
      res = await closed;
    } finally {
      done = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
    await killing;
    if (opts.signal?.aborted && !timedOut) throw new BerthError('Canceled', 'exec canceled', { cause: opts.signal.reason });
    const exitCode = res.code ?? (res.sig ? 128 + (constants.signals[res.sig] ?? 0) : 255);
    return { exitCode, stdout: out.text(), stderr: err.text(), timedOut };
  } finally {
    // scratch files of this exec (removed with the bundle anyway); the exec's own outcome is what counts
    await Promise.all([unlink(processFile).catch(() => undefined), unlink(pidFile).catch(() => undefined)]);
  }
}
