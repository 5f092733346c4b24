/**
 * The system `git`, run with an argument array (never a shell). The environment is the
 * agent's own, so that credentials work as git has them (GIT_SSH_COMMAND, credential
 * helpers, ~/.ssh, ~/.gitconfig); only GIT_TERMINAL_PROMPT=0 is added when unset, so that a
 * daemon without a terminal fails instead of waiting for a password nobody types.
 */
import { execa } from '../common/process.js';
import { BerthError, errnoOf } from '../common/errors.js';

export interface GitRunOptions {
  gitDir?: string;
  workTree?: string;
  /** extra environment (added to the agent's) */
  env?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface GitRunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The last meaningful line of git's stderr, for messages ("fatal: …"). */
export function gitMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.filter((l) => /^(fatal|error):/.test(l)).pop() ?? lines.pop() ?? 'no message';
}

/** Run git; never rejects for a non-zero exit (the caller decides), rejects when git cannot be run or times out. */
export async function runGit(args: string[], o: GitRunOptions = {}): Promise<GitRunResult> {
  const pre: string[] = [];
  if (o.gitDir) pre.push(`--git-dir=${o.gitDir}`);
  if (o.workTree) pre.push(`--work-tree=${o.workTree}`);
  const env: Record<string, string> = { ...o.env };
  if (process.env.GIT_TERMINAL_PROMPT === undefined) env.GIT_TERMINAL_PROMPT = '0';
  const r = await execa('git', [...pre, ...args], {
    env,
    extendEnv: true,
    reject: false,
    stdin: 'ignore',
    timeout: o.timeoutMs ?? 120_000,
    ...(o.signal ? { cancelSignal: o.signal } : {}),
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.timedOut)
    throw new BerthError('DeadlineExceeded', `git ${args[0]} did not finish within ${Math.round((o.timeoutMs ?? 120_000) / 1000)} s`);
  if (r.isCanceled) throw new BerthError('Canceled', `git ${args[0]} canceled`);
  if (r.exitCode === undefined) {
    const why = errnoOf(r) === 'ENOENT' ? 'git is not installed (no git on the PATH)' : r.message;
    throw new BerthError('FailedPrecondition', `git ${args[0]} could not be run: ${why}`);
  }
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Run git and reject (code `code`) with git's own message when it fails. */
export async function git(args: string[], o: GitRunOptions & { code?: BerthError['code']; what?: string } = {}): Promise<string> {
  const r = await runGit(args, o);
  if (r.exitCode !== 0) throw new BerthError(o.code ?? 'Unavailable', `${o.what ?? `git ${args[0]}`} failed: ${gitMessage(r.stderr)}`);
  return r.stdout;
}
