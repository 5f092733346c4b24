/**
 * `berth gc [--dry-run] [-o json]` (DESIGN.md §1, issue 13 item 9, issue 14 item 6): remove
 * every berth object no pod record owns — runtime containers and monitor files, CNI
 * attachments (DEL: IPAM and masquerade rules go with them), masquerade rules left behind,
 * netns handles, host-local reservations, mounts and pod dirs, log dirs, interrupted cache
 * writes, unused bridges — then the image gc (`berth image gc`). The find step is pure
 * (reconciler/orphans.ts); --dry-run prints its list and changes nothing. The apply step
 * takes the agent lock: with an agent running, gc refuses (exit 3), as the agent collects
 * its own garbage. Exit 0 when done, 1 when some removal failed (each named on stderr).
 */
import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { BerthError, codeOf, errnoOf, errorMessage, parseDuration } from '../../common/index.js';
import type { AppRuntime, OciRuntime } from '../../runtime/index.js';
import { Reconciler } from '../../reconciler/index.js';
import { acquireAgentLock, lockPath, type AgentLock } from '../../reconciler/lock.js';
import { applyOrphans, plannedAction, type Outcome } from '../../reconciler/orphan-apply.js';
import { scanHost } from '../../reconciler/orphan-scan.js';
import { findOrphans } from '../../reconciler/orphans.js';
import { BUILTIN_SOURCE_FILE } from '../../api/cni-config.js';
import { act, examples, EXIT_USAGE, opts } from '../common.js';
import { table } from '../format.js';
import { createLogger } from '../globals.js';
import { appRuntimeOf, createHost, iptablesOf, ociRuntimeOf } from '../wire.js';
import { imageGc, imageService } from './image.js';

export interface GcRow {
  kind: string;
  name: string;
  reason: string;
  action: string;
  error?: string;
}

export function gcTable(rows: GcRow[]): string {
  if (rows.length === 0) return 'nothing to collect';
  return table([
    ['KIND', 'NAME', 'ACTION', 'REASON'],
    ...rows.map((r) => [r.kind, r.name, r.error ? `failed: ${r.error}` : r.action, r.reason]),
  ]);
}

const RUNTIMES = ['crun', 'runc'] as const;

/**
 * Is the agent lock of `stateDir` held? Read from /proc/locks without taking it (a dry run
 * must not keep an agent that starts at that moment from locking). The pid is the holder's,
 * as written into the lock file.
 */
export async function lockHolder(stateDir: string): Promise<{ pid?: number } | undefined> {
  const path = lockPath(stateDir);
  const st = await stat(path).catch((err: unknown) => {
    if (errnoOf(err) !== 'ENOENT') throw err; // no lock file: no agent ever ran here
    return undefined;
  });
  if (!st) return undefined;
  // unreadable /proc/locks fails the gc: taking "not held" for granted could collect under a running agent
  const locks = await readFile('/proc/locks', 'utf8');
  const held = locks.split('\n').some((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === 'FLOCK' && f[5]?.split(':')[2] === String(st.ino);
  });
  if (!held) return undefined;
  const pid = (await readFile(path, 'utf8').catch(() => '')).trim(); // only shown: the lock is held either way
  return /^\d+$/.test(pid) ? { pid: Number(pid) } : {};
}

export function register(program: Command): void {
  program
    .command('gc')
    .description(
      'remove every berth object no pod owns (netns, containers, CNI attachments and IPAM, masquerade rules, mounts, pod and log dirs, bridges, images past the grace period)',
    )
    .option('--dry-run', 'only list what would be removed')
    .option('--grace <duration>', 'image gc: keep what was pulled or written within this time', '1h')
    .option('-o, --output <format>', 'json')
    .addHelpText(
      'after',
      examples([
        ['list what no pod owns (netns, containers, CNI attachments, mounts, bridges, images), remove nothing', 'berth gc --dry-run'],
        ['remove it; images pulled in the last hour are kept', 'berth gc'],
        ['as JSON', 'berth gc --dry-run -o json'],
      ]),
    )
    .action(
      act(async (c: { dryRun?: boolean; grace: string; output?: string }, cmd: Command) => {
        const o = opts(cmd);
        const dryRun = Boolean(c.dryRun);
        if (c.output !== undefined && c.output !== 'json')
          throw new BerthError('InvalidArgument', `-o: unknown format "${c.output}" (json)`);
        const graceMs = parseDuration(c.grace);
        const log = createLogger(o.logLevel === 'info' ? 'warn' : o.logLevel, true);
        let lock: AgentLock | undefined;
        if (dryRun) {
          const holder = await lockHolder(o.stateDir);
          if (holder) {
            process.stderr.write(
              `berth: note: another berth (pid ${holder.pid ?? 'unknown'}) holds ${o.stateDir}; a running agent collects its own garbage, so berth gc would refuse to apply this list now\n`,
            );
          }
        } else {
          try {
            lock = await acquireAgentLock(o.stateDir);
          } catch (err) {
            if (codeOf(err) !== 'FailedPrecondition') throw err;
            process.stderr.write(`berth: ${errorMessage(err)}; a running agent collects its own garbage (berth gc --dry-run only lists)\n`);
            return EXIT_USAGE;
          }
        }
        try {
          const host = await createHost(o, log, { readOnly: dryRun });
          const ocis: OciRuntime[] = [];
          for (const name of RUNTIMES) {
            // not installed or not usable: it has no containers of ours to look at
            const rt = await ociRuntimeOf(name, host.layout, { readOnly: dryRun }).catch(() => undefined);
            if (rt) ocis.push(rt);
          }
          const iptables = iptablesOf();
          const specNetworks = await new Reconciler(host, { cniConfDirs: o.cniConfDir })
            .loadDesired()
            .then((d) => d.networks.filter((n) => n.source.file !== BUILTIN_SOURCE_FILE).map((n) => JSON.stringify(n.conflist)))
            // specs that do not load protect no network here; networks of pod records and attachments are still kept
            .catch(() => [] as string[]);
          const observed = await scanHost({
            layout: host.layout,
            cni: host.cni,
            netns: host.netns,
            ociRuntimes: ocis,
            iptables,
            specNetworks,
            now: host.clock.now(),
          });
          const orphans = findOrphans(observed);
          const rows: GcRow[] = [];
          const svc = await imageService(o, log);
          if (dryRun) {
            for (const x of orphans) rows.push({ kind: x.kind, name: x.name, reason: x.reason, action: plannedAction(x) });
            const img = await imageGc(o, svc, graceMs, true);
            rows.push(...imageRows(img, 'would remove'));
          } else {
            const runtimes: Partial<Record<'crun' | 'runc', AppRuntime>> = {};
            for (const oci of ocis) {
              runtimes[oci.name as 'crun' | 'runc'] = oci.name === o.runtime ? host.runtime : appRuntimeOf(host.layout, oci, log);
            }
            const outcomes: Outcome[] = await applyOrphans({ host, runtimes, iptables }, orphans, observed.records);
            for (const x of outcomes)
              rows.push({
                kind: x.orphan.kind,
                name: x.orphan.name,
                reason: x.orphan.reason,
                action: x.action,
                ...(x.error ? { error: x.error } : {}),
              });
            try {
              rows.push(...imageRows(await imageGc(o, svc, graceMs, false), 'removed'));
            } catch (err) {
              rows.push({ kind: 'image', name: '-', reason: 'image gc', action: 'failed', error: errorMessage(err) });
            }
            if (observed.records.length === 0)
              // empty cgroup parents only; the next gc tries again
              await host.runtime.prune().catch((err: unknown) => log.warn({ err }, 'runtime prune failed'));
          }
          if (c.output === 'json') process.stdout.write(`${JSON.stringify({ dryRun, orphans: rows }, null, 2)}\n`);
          else process.stdout.write(`${gcTable(rows)}\n`);
          const failed = rows.filter((r) => r.error);
          for (const f of failed) process.stderr.write(`berth gc: could not remove ${f.kind} ${f.name}: ${f.error}\n`);
          return failed.length ? 1 : 0;
        } finally {
          await lock?.release();
        }
      }),
    );
}

function imageRows(r: { references: string[]; rendered: string[]; blobs: string[] }, action: string): GcRow[] {
  return [
    ...r.references.map((name) => ({ kind: 'image', name, reason: 'no pod uses it and it was pulled before the grace period', action })),
    ...r.rendered.map((name) => ({
      kind: 'rendered',
      name,
      reason: 'rendered tree of no kept image, older than the grace period',
      action,
    })),
    ...r.blobs.map((name) => ({ kind: 'blob', name, reason: 'no kept image refers to it, older than the grace period', action })),
  ];
}
