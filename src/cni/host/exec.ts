/**
 * ExecCni: the real CniExec (libcni `pkg/invoke` RawExec). Runs a plugin with its config on
 * stdin and the CNI_* variables on top of this process's environment, returns stdout on exit 0
 * and throws PluginExitError otherwise (the runtime parses it, G5). An aborted signal kills the
 * plugin with SIGKILL, as Go's exec.CommandContext does (CNI-20).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from '../../common/process.js';
import { BerthError } from '../../common/index.js';
import { PluginExitError } from '../errors.js';
import type { CniExec } from '../types.js';

export class ExecCni implements CniExec {
  async execPlugin(pluginPath: string, stdin: string, env: Record<string, string>, signal?: AbortSignal): Promise<string> {
    if (signal?.aborted) throw new BerthError('Canceled', `plugin ${pluginPath} not started: canceled`, { cause: signal.reason });
    const r = await execa(pluginPath, [], {
      input: stdin,
      env,
      extendEnv: true,
      reject: false,
      stripFinalNewline: false,
      killSignal: 'SIGKILL',
      forceKillAfterDelay: false,
      ...(signal ? { cancelSignal: signal } : {}),
    });
    // exit 0 is success even if writing stdin failed (a plugin need not read it).
    if (r.exitCode === 0) return r.stdout;
    if (r.isCanceled) {
      throw new BerthError('Canceled', `plugin ${pluginPath} killed: ${String(signal?.reason ?? 'canceled')}`, { cause: r });
    }
    if (r.exitCode === undefined && r.signal === undefined) {
      // It did not start (ENOENT, EACCES, ETXTBSY, …): keep the errno for the retry (CNI-19).
      const cause = r.cause as { code?: string; message?: string } | undefined;
      const err = new BerthError('Internal', `failed to run plugin ${pluginPath}: ${cause?.message ?? r.message}`, { cause });
      (err as unknown as { errno?: string }).errno = cause?.code;
      throw err;
    }
    throw new PluginExitError(pluginPath, r.exitCode, r.stdout, r.stderr);
  }

  /** CNI-18: the first `dir/type` that is a regular file (symlinks followed). */
  async findInPath(type: string, paths: string[]): Promise<string> {
    if (type === '') throw new BerthError('InvalidArgument', 'no plugin name provided');
    if (type.includes('/')) throw new BerthError('InvalidArgument', `invalid plugin name: ${type}`);
    if (paths.length === 0) throw new BerthError('InvalidArgument', 'no paths provided');
    for (const dir of paths) {
      const candidate = join(dir, type);
      try {
        if ((await stat(candidate)).isFile()) return candidate;
      } catch {
        // not here
      }
    }
    throw new BerthError('FailedPrecondition', `failed to find plugin "${type}" in path [${paths.join(' ')}]`);
  }
}
