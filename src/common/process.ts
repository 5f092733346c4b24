/**
 * execa (DESIGN.md §4: every external process), loaded on first use. Most command lines never
 * start a process (`berth status` over running pods reads files and /proc), and execa with its
 * dependencies is about 245 KB of code to compile before the first line of output (issue 11
 * item 5). Same call shape as execa's `execa(file, args, options)`, awaited for its result.
 */
import type { execa as Execa, Options, Result } from 'execa';

let loaded: Promise<{ execa: typeof Execa }> | undefined;

// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- execa's own result type is keyed by `{} & Options`
export async function execa<O extends Options = {}>(file: string, args: readonly string[] = [], options?: O): Promise<Result<{} & O>> {
  loaded ??= import('execa');
  const { execa: run } = await loaded;
  const result: Promise<Result<{} & O>> = run(file, args, options);
  return result;
}
