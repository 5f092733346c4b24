/** `berth validate PATH…`: check spec files without touching the host, as `reconcile` would. */
import type { Command } from 'commander';
import { systemClock } from '../../common/clock.js';
import { checkInput } from '../../reconciler/index.js';
import { formatIssue, type SpecIssue } from '../../api/index.js';
import { BerthError } from '../../common/errors.js';
import { act, examples, opts } from '../common.js';
import { createLogger, layoutOf } from '../globals.js';
import { cniOf } from '../wire.js';

/** One issue of `validate -o json`: every field always present (null when not known). */
export interface ValidateIssue {
  severity: 'error' | 'warning';
  /** InvalidSpec (the pod or file is refused), Conflict (a second document for a pod), SourceError (a path that cannot be read); null for warnings */
  reason: 'InvalidSpec' | 'Conflict' | 'SourceError' | null;
  file: string;
  line: number | null;
  column: number | null;
  /** the field path, e.g. spec.containers[0].image ('' for a whole document or file) */
  path: string;
  message: string;
  /** namespace/name of the pod, or the network's name, when it can be told */
  key: string | null;
}

export function issueJson(i: SpecIssue, conflict = false): ValidateIssue {
  const reason = i.reason ?? (conflict ? 'Conflict' : i.severity === 'error' ? 'InvalidSpec' : null);
  return {
    severity: i.severity,
    reason,
    file: i.file,
    line: i.line ?? null,
    column: i.column ?? null,
    path: i.path,
    message: i.message,
    key: i.key ?? null,
  };
}

export function register(program: Command): void {
  program
    .command('validate')
    .description(
      'check spec files without touching the host: every rule reconcile applies (schema, image references, networks, duplicate pods, hostPorts)',
    )
    .argument('[paths...]', 'files or directories (default: the spec directories)')
    .option('-o, --output <format>', 'json for machine-readable issues')
    .addHelpText(
      'after',
      examples([
        ['check the spec directories (--spec-dir, default /etc/podspecs) as reconcile would read them', 'berth validate'],
        ['check files or directories before committing them; exit 2 on any error', 'berth validate web.yaml specs/'],
        [
          'issues as JSON (severity, reason, file, line, column, path, message, key) for an editor or CI',
          `berth validate -o json specs/ | jq '.issues[] | select(.severity == "error")'`,
        ],
      ]),
    )
    .action(
      act(async (paths: string[], cmdOpts: { output?: string }, cmd: Command) => {
        if (cmdOpts.output !== undefined && cmdOpts.output !== 'json')
          throw new BerthError('InvalidArgument', `-o ${cmdOpts.output}: the only output format of validate is json`);
        const o = opts(cmd);
        const layout = layoutOf(o);
        // Without PATH, the spec directories (--spec-dir, default /etc/podspecs) are checked; a
        // path that does not exist or cannot be read (a FIFO, a device) is an error, never "no pods".
        const hint = paths.length ? '' : ' (no PATH given: checking the spec directories; give PATH… or --spec-dir)';
        const log = createLogger('error', true);
        // Networks of the CNI conf dirs are usable by name; plugin types must be in the plugin
        // path (--cni-plugin-dir) and speak the list's version (VERSION is run, nothing else).
        const cni = cniOf(o, layout, log);
        const { desired, files } = await checkInput({
          roots: paths.length ? paths : layout.specDirs,
          cni,
          cniConfDirs: o.cniConfDir,
          layout,
          log,
          clock: systemClock,
          failedNote: () => hint,
        });
        const issues = [...desired.issues.map((i) => issueJson(i)), ...desired.conflicts.map((i) => issueJson(i, true))];
        const errors = issues.filter((i) => i.severity === 'error').length;
        if (cmdOpts.output === 'json') {
          const doc = {
            valid: errors === 0,
            files,
            pods: desired.pods.map((p) => p.key),
            networks: desired.networks.map((n) => n.name),
            issues,
          };
          process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
        } else {
          for (const i of [...desired.issues, ...desired.conflicts]) process.stdout.write(`${formatIssue(i)}\n`);
          process.stdout.write(
            `${files.length} file(s), ${desired.pods.length} valid pod(s), ${desired.networks.length} network(s), ${errors} error(s)\n`,
          );
        }
        return errors ? 2 : 0;
      }),
    );
}
