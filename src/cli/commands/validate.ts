/** `berth validate PATH…`: check spec files without touching the host. */
import type { Command } from 'commander';
import { readSpecFiles } from '../../reconciler/index.js';
import { formatIssue, resolveDesired } from '../../spec/index.js';
import { act, globalOptions, opts } from '../common.js';

export function register(program: Command): void {
  globalOptions(
      program.command('validate').description('check spec files without touching the host').argument('[paths...]', 'files or directories'))
    .option('-o, --output <format>', 'json for machine-readable issues')
    .action(act(async (paths: string[], cmdOpts: { output?: string }, cmd: Command) => {
      const o = opts(cmd);
      const files = await readSpecFiles(paths.length ? paths : o.specDir);
      const desired = resolveDesired(files);
      const issues = [...desired.issues, ...desired.conflicts];
      if (cmdOpts.output === 'json') process.stdout.write(`${JSON.stringify({ files: files.map((f) => f.file), pods: desired.pods.map((p) => p.key), networks: desired.networks.map((n) => n.name), issues }, null, 2)}\n`);
      else {
        for (const i of issues) process.stdout.write(`${formatIssue(i)}\n`);
        process.stdout.write(`${files.length} file(s), ${desired.pods.length} valid pod(s), ${desired.networks.length} network(s), ${issues.filter((i) => i.severity === 'error').length} error(s)\n`);
      }
      return issues.some((i) => i.severity === 'error') ? 2 : 0;
    }));
}
