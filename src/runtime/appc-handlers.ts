/**
 * appc event handlers (appc `spec/ace.md` "Execution Environment", `eventHandlers`), run by
 * the runtime because both need the app's own container, which only the runtime knows:
 *
 * - `pre-start` runs INSIDE the app's container, after `runtime create` (namespaces, cgroup,
 *   mounts, pivot_root done; the app's process not exec'd yet) and before `runtime start`:
 *   `exec --process` with the app's own process (user, capabilities, seccomp, env, cwd),
 *   argv replaced. A non-zero exit fails the start (the container is removed).
 * - `post-stop` runs after the app exited, before its overlay is discarded: the app's
 *   namespaces are gone with its last process, so a one-shot container is made from the
 *   app's own config.json over the same (still mounted) rootfs and volumes, in the pod's
 *   network namespace, with its own cgroup, and deleted afterwards.
 *
 * Their output goes to the app's CRI log (the execution's log file), so `berth logs` shows it
 * next to the app's own output; the caller logs the exit code.
 */
import { appendFile, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, writeJsonAtomic } from '../common/index.js';
import type { OciRuntime } from './types.js';
import { makeDirs } from '../common/fs.js';

/** The runtime CLI calls these need (OciCli in oci-runtime.ts). */
/** The runtime calls a handler makes (the OciRuntime port's). */
export type HandlerCli = Pick<OciRuntime, 'exec' | 'run'>;

interface Config {
  process: Record<string, unknown> & { env?: string[] };
  root: { path: string; readonly?: boolean };
  linux?: { cgroupsPath?: string; namespaces?: Array<{ type: string; path?: string }> } & Record<string, unknown>;
  hooks?: unknown;
  [k: string]: unknown;
}

/** Lines of `text` as CRI log lines of `stream` (the k8s-file format conmon writes). */
export function criLines(stream: 'stdout' | 'stderr', text: string, now = new Date()): string {
  if (!text) return '';
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((l) => `${now.toISOString()} ${stream} F ${l}\n`).join('');
}

async function appendOutput(logPath: string | undefined, r: { stdout: string; stderr: string }): Promise<void> {
  if (!logPath) return;
  const text = criLines('stdout', r.stdout) + criLines('stderr', r.stderr);
  if (text) await appendFile(logPath, text, { mode: 0o640 });
}

/** What a handler run gave: exit code, output (each cut at 10 KiB), whether its timeout ended it. */
export interface HandlerRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const cap = (s: unknown) => String(s ?? '').slice(0, 10 * 1024);

/**
 * `pre-start` inside the created (not yet started) container `id`. Resolves with the result;
 * rejects FailedPrecondition (reason `PreStartHookError`) when it does not exit 0.
 */
export async function runPreStartInCreated(
  cli: HandlerCli,
  id: string,
  bundleDir: string,
  argv: string[],
  opts: { logPath?: string; timeoutMs: number; signal?: AbortSignal },
): Promise<HandlerRun> {
  const config = JSON.parse(await readFile(join(bundleDir, 'config.json'), 'utf8')) as Config;
  const proc = { ...config.process, args: argv, terminal: false };
  const file = join(bundleDir, `appc-pre-start-${process.pid}.json`);
  await writeJsonAtomic(file, proc);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), opts.timeoutMs);
  const onAbort = () => ac.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const r = await cli.exec(id, file, ac.signal);
    const res: HandlerRun = {
      exitCode: r.exitCode,
      stdout: cap(r.stdout),
      stderr: cap(r.stderr),
      timedOut: ac.signal.aborted && !opts.signal?.aborted,
    };
    await appendOutput(opts.logPath, res);
    if (res.exitCode !== 0 || res.timedOut) {
      const why = res.timedOut ? `did not finish within ${opts.timeoutMs} ms` : `exited with code ${res.exitCode}`;
      const tail = res.stderr.trim().split('\n').slice(-3).join('; ');
      throw new BerthError('FailedPrecondition', `appc pre-start handler ${JSON.stringify(argv)} ${why}${tail ? `: ${tail}` : ''}`, {
        details: { reason: 'PreStartHookError' },
      });
    }
    return res;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    await rm(file, { force: true });
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * `post-stop` in a one-shot container `<id>-post-stop` made from the exited app's bundle: same
 * process settings, rootfs (`rootfs`, still mounted), mounts and network namespace; new pid,
 * ipc, uts and mount namespaces; its own cgroup next to the app's. Always deleted afterwards.
 */
export async function runAfterExitInRootfs(
  cli: HandlerCli,
  id: string,
  bundleDir: string,
  rootfs: string,
  argv: string[],
  opts: { logPath?: string; timeoutMs: number; signal?: AbortSignal },
): Promise<HandlerRun> {
  if (!(await exists(join(rootfs, '.'))))
    throw new BerthError('FailedPrecondition', `container ${id}: its root filesystem is gone, post-stop cannot run`);
  const config = JSON.parse(await readFile(join(bundleDir, 'config.json'), 'utf8')) as Config;
  const hookId = `${id}-post-stop`;
  const dir = join(bundleDir, 'post-stop');
  const namespaces = [];
  for (const ns of config.linux?.namespaces ?? []) {
    // a namespace the app joined by path (the pod's network) is used while it exists
    if (ns.path && !(await exists(ns.path))) namespaces.push({ type: ns.type });
    else namespaces.push(ns);
  }
  const { hooks: _hooks, ...rest } = config;
  const spec = {
    ...rest,
    process: { ...config.process, args: argv, terminal: false },
    root: { ...config.root, path: rootfs },
    linux: { ...config.linux, namespaces, ...(config.linux?.cgroupsPath ? { cgroupsPath: `${config.linux.cgroupsPath}-post-stop` } : {}) },
  };
  await makeDirs(dir, 0o700);
  await writeJsonAtomic(join(dir, 'config.json'), spec);
  await cli.run(['delete', '--force', hookId]).catch(() => undefined); // a leftover of a killed agent
  try {
    const r = await cli.run(['run', '--bundle', dir, hookId], {
      timeoutMs: opts.timeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const res: HandlerRun = { exitCode: r.exitCode, stdout: cap(r.stdout), stderr: cap(r.stderr), timedOut: r.timedOut };
    await appendOutput(opts.logPath, res);
    return res;
  } finally {
    await cli.run(['delete', '--force', hookId]).catch(() => undefined); // the hook's own outcome is what counts; the next run deletes a leftover first
    await rm(dir, { recursive: true, force: true });
  }
}
