/**
 * A git repository as a source of pod specs (issue 13 item 6). Each source keeps, in
 * `<state>/sources/git/<id>/`:
 *   mirror.git/      a bare repository, fetched into (never merged: a force-push is just a new tip)
 *   trees/<commit>/  a checkout of a commit that passed the checks
 *   tree             a symlink to the applied checkout, switched atomically (rename)
 * The spec directory the reconciler reads is `tree/<path>`: a stable path, so that a pod's
 * file is the same file from commit to commit and the last-known-good rules of spec
 * directories apply unchanged. A fetch that fails, a commit that fails verification or
 * lacks the path keeps the applied checkout: nothing that runs changes, and the failure is
 * reported as this source's error until a good commit arrives.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readlink, realpath, rename, rm, stat, symlink } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import { BerthError, errnoOf, errorMessage } from '../common/errors.js';
import { readJsonIfExists, readdirIfExists, writeJsonAtomic, makeDirs } from '../common/fs.js';
import type { Logger } from '../common/logger.js';
import type { ParsedFile } from '../api/types.js';
import { isSpecFile } from '../api/spec-files.js';
import { git, runGit } from './git-command.js';
import { verifyCommit } from './git-trust.js';

export interface GitSourceConfig {
  /** what git can fetch: a URL, `user@host:path`, a local path */
  repo: string;
  /** a branch, a tag, a full ref (`refs/heads/x`), `HEAD` or a 40-hex commit */
  ref: string;
  /** a directory inside the repository, `{hostname}` already replaced; `.` is the top */
  path: string;
  /** apply only commits signed by a key in `<config-dir>/git-trust/` */
  verify: boolean;
}

/** What the reconciler reads from a git source at one sync. */
export interface GitSnapshot {
  /** the spec directory: `<source>/tree/<path>` */
  specDir: string;
  /** the applied commit, or null before the first good fetch */
  revision: string | null;
  /** why the newest tip is not applied (fetch, verification, checkout), or null */
  error: string | null;
  /** files of the applied checkout refused by the source itself (symlinks out of the repository) */
  refused: ParsedFile[];
  /** `repo ref path`, for messages */
  label: string;
}

const SHA = /^[0-9a-f]{40}$/;

/** Reject paths that leave the repository (`..`, absolute) or hostnames that would make one. */
export function checkGitPath(path: string): string {
  if (path.includes('\0')) throw new BerthError('InvalidArgument', '--git-path: NUL is not allowed');
  if (path.startsWith('/')) throw new BerthError('InvalidArgument', `--git-path ${path}: must be relative to the repository's top`);
  const n = normalize(path).replace(/\/+$/, '') || '.';
  if (n === '..' || n.startsWith('../') || n.split('/').includes('..'))
    throw new BerthError('InvalidArgument', `--git-path ${path}: must stay inside the repository (no ..)`);
  return n;
}

export function expandHostname(path: string, hostname: string): string {
  if (path.includes('{hostname}') && !/^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(hostname)) {
    throw new BerthError(
      'InvalidArgument',
      `--hostname "${hostname}": only letters, digits, '.', '-' and '_' may replace {hostname} in --git-path`,
    );
  }
  return path.replaceAll('{hostname}', hostname);
}

export const gitSourcesDir = (stateDir: string) => join(stateDir, 'sources', 'git');

export class GitSource {
  readonly dir: string;
  readonly specDir: string;
  private readonly mirror: string;
  private active: string | null = null;
  private staged: string | null = null;
  private error: string | null = null;
  private refused = new Map<string, ParsedFile[]>();
  private refreshing?: Promise<boolean>;
  private readonly log: Logger;
  private ready?: Promise<void>;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    readonly config: GitSourceConfig,
    private readonly opts: { stateDir: string; configDir: string; log: Logger; timeoutMs?: number },
  ) {
    const id = createHash('sha256').update(`berth/git/v1\0${config.repo}\0${config.ref}\0${config.path}`).digest('hex').slice(0, 16);
    this.dir = join(gitSourcesDir(opts.stateDir), id);
    this.mirror = join(this.dir, 'mirror.git');
    this.specDir = config.path === '.' ? join(this.dir, 'tree') : join(this.dir, 'tree', config.path);
    this.log = opts.log.child({ component: 'git-source', repo: config.repo, ref: config.ref, path: config.path });
  }

  get label(): string {
    return `${this.config.repo} ${this.config.ref} ${this.config.path}`;
  }

  /** The applied commit of an earlier run (from the `tree` link), without touching the network. */
  init(): Promise<void> {
    this.ready ??= (async () => {
      try {
        const target = await readlink(join(this.dir, 'tree'));
        const sha = target.split('/').pop() ?? '';
        if (SHA.test(sha)) {
          this.active = sha;
          this.refused.set(sha, (await readJsonIfExists<ParsedFile[]>(join(this.dir, 'trees', `${sha}.refused.json`))) ?? []);
        }
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') this.log.warn({ err }, 'git source checkout link unreadable');
      }
    })();
    return this.ready;
  }

  snapshot(): GitSnapshot {
    return {
      specDir: this.specDir,
      revision: this.active,
      error: this.error,
      refused: this.active ? (this.refused.get(this.active) ?? []) : [],
      label: this.label,
    };
  }

  /**
   * Fetch, resolve the ref, verify and check the tip out beside the applied one. Resolves
   * true when a commit other than the applied one is ready for activate(). Never rejects:
   * a failure is this source's error (logged, shown by snapshot()) and changes nothing.
   * Calls while one runs share it.
   */
  refresh(signal?: AbortSignal): Promise<boolean> {
    this.refreshing ??= this.doRefresh(signal).finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(signal?: AbortSignal): Promise<boolean> {
    await this.init();
    const timeoutMs = this.opts.timeoutMs ?? 120_000;
    const o = { gitDir: this.mirror, timeoutMs, ...(signal ? { signal } : {}) };
    try {
      await makeDirs(this.dir, 0o700);
      await writeJsonAtomic(join(this.dir, 'source.json'), { repo: this.config.repo, ref: this.config.ref, path: this.config.path });
      if (!(await isDir(join(this.mirror, 'objects'))))
        await git(['init', '--quiet', '--bare', this.mirror], { timeoutMs, code: 'Internal' });
      await git(['config', 'remote.origin.url', this.config.repo], { ...o, code: 'Internal' });
      const ref = this.config.ref;
      const fetchArgs = SHA.test(ref)
        ? ['fetch', '--quiet', '--no-tags', '--prune', 'origin', '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*']
        : ['fetch', '--quiet', '--no-tags', 'origin', `+${ref}:refs/berth/target`];
      await git(fetchArgs, { ...o, what: `git fetch of ${this.config.repo} (${ref})` });
      const target = SHA.test(ref) ? `${ref}^{commit}` : 'refs/berth/target^{commit}';
      const r = await runGit(['rev-parse', '--verify', '--quiet', target], o);
      if (r.exitCode !== 0) throw new BerthError('NotFound', `${ref} is not a commit in ${this.config.repo}`);
      const sha = r.stdout.trim();
      if (this.config.verify) {
        const who = await verifyCommit(this.mirror, sha, this.opts.configDir, timeoutMs);
        this.log.debug({ revision: sha, signature: who }, 'commit signature verified');
      }
      return await this.exclusive(async () => {
        await this.checkout(sha, o);
        if (this.error) this.log.info({ revision: sha }, 'git source recovered');
        this.error = null;
        if (sha === this.active) {
          this.staged = null; // a tip moved back to the applied commit (force-push)
          return false;
        }
        if (sha !== this.staged) this.log.info({ revision: sha, applied: this.active }, 'new commit fetched');
        this.staged = sha;
        return true;
      });
    } catch (err) {
      const message = errorMessage(err);
      if (message !== this.error)
        this.log.error({ err, reason: 'SourceError', applied: this.active }, 'git source not updated: the applied commit stays');
      this.error = message;
      return false;
    }
  }

  /** Check `sha` out into trees/<sha> (once), refusing files that are symlinks out of the checkout. */
  private async checkout(sha: string, o: { gitDir: string; timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    const trees = join(this.dir, 'trees');
    const tree = join(trees, sha);
    if (!(await isDir(tree))) {
      await makeDirs(trees);
      const tmp = join(trees, `.${sha}.${randomBytes(4).toString('hex')}.tmp`);
      await mkdir(tmp);
      try {
        // A private index: the mirror's own is never touched, and two checkouts never share one.
        await git(['checkout', '--quiet', '--force', sha, '--', '.'], {
          ...o,
          workTree: tmp,
          env: { GIT_INDEX_FILE: `${tmp}.index` },
          code: 'Internal',
          what: `checkout of ${sha.slice(0, 12)}`,
        });
        await rm(`${tmp}.index`, { force: true });
        await rename(tmp, tree);
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        await rm(`${tmp}.index`, { force: true });
        throw err;
      }
    }
    const dir = this.config.path === '.' ? tree : join(tree, this.config.path);
    let st;
    try {
      st = await stat(dir);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT' && errnoOf(err) !== 'ENOTDIR') throw err;
      throw new BerthError(
        'NotFound',
        `${this.config.path} does not exist in commit ${sha.slice(0, 12)} of ${this.config.repo} (keep a .keep file in a directory that should hold no pods)`,
      );
    }
    const real = await realpath(dir);
    const root = await realpath(tree);
    if (!st.isDirectory() || !(real === root || real.startsWith(root + sep))) {
      throw new BerthError(
        'InvalidArgument',
        `${this.config.path} in commit ${sha.slice(0, 12)} of ${this.config.repo} is not a directory inside the repository`,
      );
    }
    const refused: ParsedFile[] = [];
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (!e.isSymbolicLink() || !isSpecFile(e.name)) continue;
      const p = join(dir, e.name);
      const to = await realpath(p).catch(() => undefined); // dangling or looping: refused below like a link that leads outside
      if (to && (to === root || to.startsWith(root + sep))) continue;
      // Never read a file outside the repository through a link in it; the file is invalid, so its pods are held.
      await rm(p, { force: true });
      refused.push({
        file: join(this.specDir, e.name),
        pods: [],
        networks: [],
        issues: [
          {
            severity: 'error',
            file: join(this.specDir, e.name),
            path: '',
            reason: 'SourceError',
            message: `a symlink that points outside the repository (or nowhere) in commit ${sha.slice(0, 12)}: not read`,
          },
        ],
      });
    }
    this.refused.set(sha, refused);
    await writeJsonAtomic(join(trees, `${sha}.refused.json`), refused);
  }

  /** Switch `tree` to the fetched commit (atomically) and drop checkouts no longer needed. Returns the applied commit. */
  async activate(): Promise<string | null> {
    await this.init();
    return this.exclusive(() => this.doActivate());
  }

  /** Checkouts and the switch never overlap (a switch removes the trees it does not need). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined); // the lock only orders the runs; the caller gets run's own error
    return run;
  }

  private async doActivate(): Promise<string | null> {
    const sha = this.staged;
    if (!sha || sha === this.active) return this.active;
    const link = join(this.dir, 'tree');
    const tmp = `${link}.${randomBytes(4).toString('hex')}.tmp`;
    await symlink(join('trees', sha), tmp);
    await rename(tmp, link);
    const prev = this.active;
    this.active = sha;
    this.staged = null;
    this.log.info({ revision: sha, previous: prev }, 'git source: commit applied');
    for (const n of await readdirIfExists(join(this.dir, 'trees'))) {
      if (n === sha || n === `${sha}.refused.json` || n.startsWith('.')) continue;
      // the new commit is applied; a checkout left behind is only disk space, retried at the next apply
      await rm(join(this.dir, 'trees', n), { recursive: true, force: true }).catch((err: unknown) =>
        this.log.warn({ err, tree: n }, 'old checkout not removed'),
      );
    }
    return sha;
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isDirectory();
  } catch {
    return false; // not there or not readable: not a checkout to use, so it is made again
  }
}
