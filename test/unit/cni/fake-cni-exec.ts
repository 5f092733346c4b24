/**
 * A hand-written CniExec fake (STYLE.md §2.3, libcni `pkg/invoke/fakes`): it records every call
 * `{pluginPath, stdin, env}` and answers with canned returns per plugin type and command.
 */
import { BerthError } from '../../../src/common/index.js';
import type { CniExec } from '../../../src/cni/index.js';

export interface ExecPluginCall {
  pluginPath: string;
  stdin: string;
  env: Record<string, string>;
  /** stdin parsed */
  conf: Record<string, unknown>;
  /** plugin type (basename of pluginPath) */
  type: string;
  command: string;
  signal?: AbortSignal;
}

/** A canned return: stdout text, an error to throw, or a function of the call. */
export type CannedReturn = string | Error | ((call: ExecPluginCall) => string | Promise<string>);

export class FakeCniExec implements CniExec {
  readonly calls: ExecPluginCall[] = [];
  readonly findCalls: Array<{ type: string; paths: string[] }> = [];
  /** Types findInPath knows; undefined means every type is found in the first path. */
  available: Set<string> | undefined;
  /** Plugin files by full path (`<dir>/<type>`): when set, findInPath returns the first dir holding the type. */
  installed: Set<string> | undefined;
  private readonly returns = new Map<string, CannedReturn[]>();

  /** Queue returns for `type` + `command` ('*' matches any command); the last one repeats. */
  on(type: string, command: string, ...rets: CannedReturn[]): this {
    this.returns.set(`${type} ${command}`, rets);
    return this;
  }

  async execPlugin(pluginPath: string, stdin: string, env: Record<string, string>, signal?: AbortSignal): Promise<string> {
    if (signal?.aborted) throw new BerthError('Canceled', `plugin ${pluginPath} not started: canceled`, { cause: signal.reason });
    const type = pluginPath.split('/').pop() ?? pluginPath;
    const command = env.CNI_COMMAND ?? '';
    const call: ExecPluginCall = { pluginPath, stdin, env: { ...env }, conf: JSON.parse(stdin) as Record<string, unknown>, type, command };
    if (signal) call.signal = signal;
    this.calls.push(call);
    const q = this.returns.get(`${type} ${command}`) ?? this.returns.get(`${type} *`);
    if (!q || q.length === 0) return '';
    const ret = q.length > 1 ? q.shift() : q[0];
    if (ret instanceof Error) throw ret;
    if (typeof ret === 'function') return await ret(call);
    return ret ?? '';
  }

  async findInPath(type: string, paths: string[]): Promise<string> {
    this.findCalls.push({ type, paths });
    // as ExecCni (CNI-18)
    if (type === '') throw new BerthError('InvalidArgument', 'no plugin name provided');
    if (type.includes('/')) throw new BerthError('InvalidArgument', `invalid plugin name: ${type}`);
    if (paths.length === 0) throw new BerthError('InvalidArgument', 'no paths provided');
    if (this.installed) {
      const found = paths.map((d) => `${d}/${type}`).find((p) => this.installed!.has(p));
      if (found) return found;
      throw new BerthError('FailedPrecondition', `failed to find plugin "${type}" in path [${paths.join(' ')}]`);
    }
    if (this.available && !this.available.has(type)) {
      throw new BerthError('FailedPrecondition', `failed to find plugin "${type}" in path [${paths.join(' ')}]`);
    }
    return `${paths[0] ?? ''}/${type}`;
  }

  /** Calls of one command, in order. */
  commands(command: string): ExecPluginCall[] {
    return this.calls.filter((c) => c.command === command);
  }
}
