/** `berth validate PATH…`: check spec files without touching the host. */
import type { Command } from 'commander';
import { createCni, ExecCni } from '../../cni/index.js';
import { cniCacheDir, imageProblem, loadConfDirNetworks, networkPluginProblems, readSources, sourceIssue } from '../../reconciler/index.js';
import { formatIssue, resolveDesired } from '../../spec/index.js';
import { act, examples, opts } from '../common.js';
import { createLogger, layoutOf } from '../wire.js';

export function register(program: Command): void {
  program.command('validate').description('check spec files without touching the host').argument('[paths...]', 'files or directories')
    .option('-o, --output <format>', 'json for machine-readable issues')
    .addHelpText('after', examples([
      ['check the spec directories (--spec-dir, default /etc/podspecs) as reconcile would read them', 'berth validate'],
      ['check files or directories before committing them; exit 2 on any error', 'berth validate web.yaml specs/'],
      ['issues as JSON (file, line, column, path, reason, message, severity) for an editor or CI', 'berth validate -o json specs/ | jq \'.issues[] | select(.severity == "error")\''],
    ]))
    .action(act(async (paths: string[], cmdOpts: { output?: string }, cmd: Command) => {
      const o = opts(cmd);
      // Without PATH, the spec directories (--spec-dir, default /etc/podspecs) are checked; a
      // path that does not exist or cannot be read (a FIFO, a device) is an error, never "no pods".
      const { files, failed } = await readSources(paths.length ? paths : o.specDir);
      const hint = paths.length ? '' : ' (no PATH given: checking the spec directories; give PATH… or --spec-dir)';
      const sourceIssues = failed.map((f) => ({ ...sourceIssue(f), message: `${f.message}${hint}` }));
      // Networks of the CNI conf dirs are usable by name; plugin types must be in the plugin
      // path (--cni-plugin-dir) and speak the list's version (VERSION is run, nothing else).
      const log = createLogger('error', true);
      const extra = await loadConfDirNetworks(o.cniConfDir, log);
      const cni = createCni({ cacheDir: cniCacheDir(layoutOf(o)), pluginPaths: o.cniPluginDir, exec: new ExecCni(), log });
      const problems = await networkPluginProblems(cni, [...files.flatMap((f) => f.networks), ...extra], new Set(extra));
      const desired = resolveDesired(files, { extraNetworks: extra, networkProblems: (n) => problems.get(n) ?? [], imageProblem });
      const issues = [...sourceIssues, ...desired.issues, ...desired.conflicts];
      if (cmdOpts.output === 'json') process.stdout.write(`${JSON.stringify({ files: files.map((f) => f.file), pods: desired.pods.map((p) => p.key), networks: desired.networks.map((n) => n.name), issues }, null, 2)}\n`);
      else {
        for (const i of issues) process.stdout.write(`${formatIssue(i)}\n`);
        process.stdout.write(`${files.length} file(s), ${desired.pods.length} valid pod(s), ${desired.networks.length} network(s), ${issues.filter((i) => i.severity === 'error').length} error(s)\n`);
      }
      return issues.some((i) => i.severity === 'error') ? 2 : 0;
    }));
}
