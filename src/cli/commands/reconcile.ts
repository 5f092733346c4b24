/** `berth reconcile [--once [--dry-run]]`: converge the host to the specs. */
import { Option, type Command } from 'commander';
import { parseDuration } from '../../common/duration.js';
import { formatIssue } from '../../api/index.js';
import { formatPlan, hasChanges, listRecords, Reconciler, type PodRecord } from '../../reconciler/index.js';
import { BerthError } from '../../common/errors.js';
import { useHumanLines } from '../log-format.js';
import { formatSummary, summarize, type AppliedPod } from '../once-summary.js';
import { TtyProgress } from '../progress.js';
import { acquireAgentLock } from '../../reconciler/lock.js';
import { createLogger, layoutOf } from '../globals.js';
import { createHost } from '../wire.js';
import { startDaemon } from '../../daemon/daemon.js';
import { takeNotifyEnv } from '../../daemon/notify.js';
import { act, examples, opts } from '../common.js';
import { GitSource } from '../../source/git.js';
import { collectFlag, gitSourceConfigs, type GitFlags } from '../../source/git-flags.js';

export function register(program: Command): void {
  const command = program
    .command('reconcile')
    .description('converge the host to the specs: as a daemon, or --once')
    .option('--once', 'converge once, wait until every pod is settled or --timeout passes, exit')
    .option('--no-progress', 'with --once on a terminal: log lines instead of a line per pod redrawn in place')
    .option('--dry-run', 'print the plan, change nothing (with --once)')
    .option('-o, --output <format>', 'with --once: json prints the summary as one JSON document on stdout (logs go to stderr)')
    .option('--timeout <duration>', 'how long --once waits for pods to settle', '2m')
    .option(
      '--relist-interval <duration>',
      'daemon: how often to relist the host for drift (killed monitors, removed trees, netns) besides the host events',
      '10s',
    )
    // the old name of --relist-interval, kept for scripts and units that use it
    .addOption(new Option('--resync <duration>').hideHelp())
    .option(
      '--min-ready <duration>',
      'with --once: how long apps must have run to count as converged (0: started, as the monitor reported, and not exited)',
      '0s',
    )
    .option('--cni-check <duration>', "daemon: how often to CHECK the pods' CNI attachments and repair failed ones (0: never)", '60s')
    .option('--git-repo <url>', 'a git repository of specs (repeatable; combines with --spec-dir)', collectFlag)
    .option(
      '--git-ref <ref>',
      'branch, tag, ref or commit to apply: once for every --git-repo, or once per --git-repo in order (default: HEAD)',
      collectFlag,
    )
    .option(
      '--git-path <dir>',
      'directory in the repository; {hostname} is replaced by --hostname: once, or once per --git-repo (default: the top)',
      collectFlag,
    )
    .option('--git-interval <duration>', 'daemon: how often to fetch each git source (±10 %); SIGHUP fetches at once', '60s')
    .option('--git-verify', 'apply only commits signed by a key in <config-dir>/git-trust/')
    .option('--hostname <name>', "the name {hostname} stands for in --git-path (default: this host's name)");
  command.addHelpText(
    'after',
    examples([
      [
        'converge once: a progress line per pod on a terminal, then a summary table; exit 0 when every pod converged',
        'berth reconcile --once --spec-dir examples/pods',
      ],
      ['what would change, without changing anything (exit 1: changes pending)', 'berth reconcile --once --dry-run'],
      ['for CI: the summary as one JSON document on stdout, logs on stderr', 'berth reconcile --once --timeout 5m -o json > summary.json'],
      ['the host agent: converge, then follow every change of the spec directories', 'berth reconcile --spec-dir /etc/podspecs'],
      [
        'specs from git, one directory per host, only signed commits',
        "berth reconcile --git-repo https://git.example.com/fleet.git --git-path 'hosts/{hostname}' --git-verify",
      ],
    ]),
  );
  command.action(
    act(
      async (
        cmdOpts: {
          once?: boolean;
          progress?: boolean;
          dryRun?: boolean;
          output?: string;
          timeout: string;
          relistInterval: string;
          resync?: string;
          minReady: string;
          cniCheck: string;
          gitInterval: string;
        } & GitFlags,
        cmd: Command,
      ) => {
        // systemd's notify socket is the agent's alone: no child (conmon, crun, runc) may see it
        const notifyEnv = takeNotifyEnv();
        const git = gitSourceConfigs(cmdOpts);
        const given = cmd.optsWithGlobals() as { specDir?: string[] };
        // With git sources and no --spec-dir, the git sources are all there is (not /etc/podspecs too).
        const o = git.length && !given.specDir?.length ? { ...opts(cmd), specDir: [] } : opts(cmd);
        if (cmdOpts.output !== undefined && (cmdOpts.output !== 'json' || !cmdOpts.once || cmdOpts.dryRun))
          throw new BerthError('InvalidArgument', `-o ${cmdOpts.output}: only --once has an output format, json`);
        // --once on a terminal: one line per pod redrawn in place, warnings above it, then the summary
        const progress =
          cmdOpts.once &&
          !cmdOpts.dryRun &&
          cmdOpts.output === undefined &&
          cmdOpts.progress !== false &&
          process.stdout.isTTY &&
          useHumanLines(logFormatOf(cmd), 1)
            ? new TtyProgress(process.stdout, { level: o.logLevel })
            : undefined;
        const log = progress
          ? createLogger(TtyProgress.loggerLevel(o.logLevel), false, progress)
          : createLogger(o.logLevel, Boolean(cmdOpts.dryRun) || cmdOpts.output === 'json');
        const timeoutMs = parseDuration(cmdOpts.timeout);
        // One agent per state dir, for the agent's whole life; --dry-run only reads and takes none.
        const lock = cmdOpts.dryRun ? undefined : await acquireAgentLock(layoutOf(o).stateDir);
        const host = await createHost(
          o,
          log,
          cmdOpts.dryRun ? { readOnly: true } : progress ? { pullProgress: (pod, p) => progress.pull(pod, p) } : {},
        );
        // --relist-interval given wins over the old --resync; a relist needs time in between
        const relistMs = parseDuration(
          cmd.getOptionValueSource('relistInterval') !== 'cli' && cmdOpts.resync !== undefined ? cmdOpts.resync : cmdOpts.relistInterval,
        );
        if (relistMs < 100) throw new BerthError('InvalidArgument', `--relist-interval must be at least 100ms (got ${relistMs}ms)`);
        const cniCheckMs = /^0+$/.test(cmdOpts.cniCheck) ? 0 : parseDuration(cmdOpts.cniCheck);
        const gitSources = git.map((c) => new GitSource(c, { stateDir: host.layout.stateDir, configDir: host.layout.configDir, log }));
        const rec = new Reconciler(host, {
          cniConfDirs: o.cniConfDir,
          relistMs,
          minReadyMs: parseDuration(cmdOpts.minReady),
          cniCheckMs,
          gitSources,
          gitIntervalMs: parseDuration(cmdOpts.gitInterval),
        });
        if (cmdOpts.dryRun) {
          const { desired, plan } = await rec.plan(true);
          for (const i of [...desired.issues, ...desired.conflicts]) process.stderr.write(`${formatIssue(i)}\n`);
          const lines = formatPlan(plan);
          process.stdout.write(lines.length ? `${lines.join('\n')}\n` : 'no changes\n');
          return desired.issues.some((i) => i.severity === 'error') || desired.conflicts.length ? 2 : hasChanges(plan) ? 1 : 0;
        }
        if (cmdOpts.once) {
          const before = podsOf(await listRecords(host.layout));
          const res = await rec
            .once(timeoutMs)
            .finally(() => host.appcMetadata.close())
            .finally(() => progress?.finish());
          for (const i of res.issues.filter((x) => x.severity === 'error')) process.stderr.write(`${formatIssue(i)}\n`);
          const summary = summarize(before, res, podsOf(await listRecords(host.layout)));
          if (cmdOpts.output === 'json') process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
          else if (useHumanLines(logFormatOf(cmd), 1)) process.stdout.write(`\n${formatSummary(summary)}`);
          else log.info({ summary }, 'reconcile summary');
          return res.exitCode;
        }
        const daemon = await startDaemon({ host, rows: () => rec.rows(), log, notifyEnv, git: gitSources });
        const ac = new AbortController();
        for (const sig of ['SIGINT', 'SIGTERM'] as const) {
          process.once(sig, () => {
            daemon.stopping(sig);
            ac.abort();
          });
        }
        // SIGHUP: fetch every git source now and read every source again
        process.on('SIGHUP', () => {
          log.info({ signal: 'SIGHUP' }, 'fetching the git sources and reading every source now');
          void rec.refreshSources().then(() => rec.sync());
        });
        await rec
          .run(ac.signal)
          .finally(() => host.appcMetadata.close())
          .finally(() => daemon.stop());
        await lock?.release();
        return 0;
      },
    ),
  );
}

const logFormatOf = (cmd: Command) => String(cmd.optsWithGlobals().logFormat ?? 'auto');

/** namespace/name → uid of the newest record of each pod (an older one may still be terminating). */
function podsOf(records: PodRecord[]): Map<string, AppliedPod> {
  const out = new Map<string, AppliedPod>();
  for (const r of [...records].sort((a, b) => a.createdAt - b.createdAt)) out.set(r.key, { uid: r.uid, hash: r.hash });
  return out;
}
