/**
 * The git source flags of `berth reconcile`:
 *   --git-repo URL    repeatable: one git source per occurrence
 *   --git-ref REF     once (every source) or once per --git-repo, in the same order; default HEAD (the remote's default branch)
 *   --git-path DIR    the same rule; default `.`; `{hostname}` is replaced by --hostname
 *   --git-verify      every source applies only commits signed by a key in <config-dir>/git-trust/
 *   --hostname NAME   default: the host's name (os.hostname())
 */
import { hostname as osHostname } from 'node:os';
import { BerthError } from '../common/errors.js';
import { checkGitPath, expandHostname, type GitSourceConfig } from './git.js';

export interface GitFlags {
  gitRepo?: string[];
  gitRef?: string[];
  gitPath?: string[];
  gitVerify?: boolean;
  hostname?: string;
}

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];
export const collectFlag = collect;

function perRepo(name: string, values: string[] | undefined, n: number, dflt: string): string[] {
  if (!values?.length) return Array.from({ length: n }, () => dflt);
  if (values.length === 1) return Array.from({ length: n }, () => values[0]!);
  if (values.length === n) return values;
  throw new BerthError(
    'InvalidArgument',
    `--${name} is given ${values.length} times for ${n} --git-repo: give it once (for every repository) or once per --git-repo, in the same order`,
  );
}

function checkRef(ref: string): string {
  if (!ref || ref.startsWith('-') || ref.includes(':') || /[\s\0~^?*[\\]/.test(ref) || ref.includes('..')) {
    throw new BerthError('InvalidArgument', `--git-ref "${ref}": not a branch, tag, ref or commit name`);
  }
  return ref;
}

/** The git sources the flags name (none without --git-repo). */
export function gitSourceConfigs(f: GitFlags): GitSourceConfig[] {
  const repos = f.gitRepo ?? [];
  if (!repos.length) {
    if (f.gitRef?.length || f.gitPath?.length || f.gitVerify)
      throw new BerthError('InvalidArgument', '--git-ref, --git-path and --git-verify need --git-repo');
    return [];
  }
  const host = f.hostname ?? osHostname();
  const refs = perRepo('git-ref', f.gitRef, repos.length, 'HEAD');
  const paths = perRepo('git-path', f.gitPath, repos.length, '.');
  return repos.map((repo, i) => {
    if (!repo || repo.startsWith('-')) throw new BerthError('InvalidArgument', `--git-repo "${repo}": not a repository URL or path`);
    return { repo, ref: checkRef(refs[i]!), path: checkGitPath(expandHostname(paths[i]!, host)), verify: Boolean(f.gitVerify) };
  });
}
