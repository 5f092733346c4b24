/**
 * A hand-written OciRuntime (the port of src/runtime/types.ts): containers live in a table
 * with the runtime's lifecycle (created → running → stopped → deleted), every call is
 * recorded in `calls`, and no process is ever run. `create` stands in for what the monitor
 * (conmon) does with `<runtime> create`; `exitOn` decides how a killed container ends.
 * The contract suite test/contract/oci-runtime.ts runs against it and against crun/runc.
 */
import { BerthError } from '../../src/common/errors.js';
import type { OciFeatures, OciRunResult, OciRuntime } from '../../src/runtime/types.js';

export interface FakeOciState {
  status: string;
  pid: number;
  bundle: string;
}

export class FakeOciRuntime implements OciRuntime {
  readonly name = 'fake';
  /** no executable: a monitor cannot run the fake (ConmonRuntime over it needs a stand-in binary) */
  readonly binaryPath = '/nonexistent/fake-runtime';
  readonly globalArgs: readonly string[] = [];
  readonly hidesCgroup2 = false;
  /** the runtime's table: tests may set rows directly (what a killed agent left) */
  states = new Map<string, FakeOciState>();
  calls: string[] = [];
  /** answers of `exec` by the process file; default exit 0 */
  execResults = new Map<string, OciRunResult>();
  /** the exit code a one-shot `run --bundle <dir> <id>` reports; default 0 */
  runExitCode = 0;
  private nextPid = 4000;

  /** what `features` answers; undefined: a runtime without the command (crun 1.8) */
  featuresResult: OciFeatures | undefined = undefined;
  versionText = 'fake version 0';

  /** What `<runtime> create --bundle <bundle> <id>` does (conmon runs it in production). */
  async create(id: string, bundle: string): Promise<void> {
    this.calls.push(`create ${id}`);
    if (this.states.has(id)) throw new BerthError('AlreadyExists', `fake create ${id}: container already exists`);
    this.states.set(id, { status: 'created', pid: this.nextPid++, bundle });
  }

  async features(): Promise<OciFeatures | undefined> {
    this.calls.push('features');
    return this.featuresResult === undefined ? undefined : structuredClone(this.featuresResult);
  }

  async version(): Promise<string> {
    return this.versionText;
  }

  private known(verb: string, id: string): FakeOciState {
    const st = this.states.get(id);
    if (!st) throw new BerthError('NotFound', `fake ${verb} ${id}: container does not exist`);
    return st;
  }

  async state(id: string) {
    this.calls.push(`state ${id}`);
    const st = this.states.get(id);
    return st ? { ...st } : undefined;
  }

  async start(id: string): Promise<void> {
    this.calls.push(`start ${id}`);
    const st = this.known('start', id);
    if (st.status !== 'created') throw new BerthError('FailedPrecondition', `fake start ${id}: container is ${st.status}, not created`);
    st.status = 'running';
  }

  async kill(id: string, signal: string) {
    this.calls.push(`kill ${id} ${signal}`);
    const st = this.known('kill', id);
    if (st.status === 'stopped') throw new BerthError('FailedPrecondition', `fake kill ${id}: container is stopped`);
    // every signal ends the fake's process (it has no handlers); a created one dies too
    st.status = 'stopped';
    st.pid = 0;
  }

  async delete(id: string, force = false) {
    this.calls.push(`delete ${id}${force ? ' --force' : ''}`);
    const st = this.states.get(id);
    if (!st) return;
    if (st.status === 'running' && !force) throw new BerthError('FailedPrecondition', `fake delete ${id}: container is running`);
    this.states.delete(id);
  }

  async list() {
    this.calls.push('list');
    return [...this.states.keys()];
  }

  async exec(id: string, processFile: string): Promise<OciRunResult> {
    this.calls.push(`exec ${id} ${processFile}`);
    const st = this.states.get(id);
    if (st?.status !== 'running') return { exitCode: 1, stdout: '', stderr: `container ${id} is not running`, timedOut: false };
    return this.execResults.get(processFile) ?? { exitCode: 0, stdout: '', stderr: '', timedOut: false };
  }

  async run(args: string[]): Promise<OciRunResult> {
    this.calls.push(`run ${args.join(' ')}`);
    const [verb, ...rest] = args;
    const id = rest.at(-1) ?? '';
    const fail = (stderr: string): OciRunResult => ({ exitCode: 1, stdout: '', stderr, timedOut: false });
    try {
      if (verb === 'run') {
        if (this.states.has(id)) return fail(`container ${id} already exists`);
        return { exitCode: this.runExitCode, stdout: '', stderr: '', timedOut: false };
      }
      if (verb === 'delete') await this.delete(id, rest.includes('--force'));
      else if (verb === 'kill') await this.kill(rest[0] ?? '', rest[1] ?? 'SIGTERM');
      else if (verb === 'start') await this.start(id);
      else if (verb === 'state') {
        const st = await this.state(id);
        return st
          ? { exitCode: 0, stdout: JSON.stringify({ id, ...st }), stderr: '', timedOut: false }
          : fail(`container ${id} does not exist`);
      } else return fail(`fake: unknown command ${verb ?? ''}`);
      return { exitCode: 0, stdout: '', stderr: '', timedOut: false };
    } catch (err) {
      return fail((err as Error).message);
    }
  }
}
