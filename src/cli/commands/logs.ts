/**
 * `berth logs POD [-c APP | --all-containers] [-f] [-p] [--tail N] [--since D | --since-time T]
 * [--timestamps] [--prefix]`, as `kubectl logs`: without -c the app is the pod's
 * `kubectl.kubernetes.io/default-container`, else its first, with kubectl's "Defaulted
 * container" notice on stderr when the pod has more than one. An execution's log is its
 * rotated files and its live file (runtime/log-rotation.ts); `-f` follows it across rotations
 * and restarts and ends when the pod is deleted.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock } from '../../common/clock.js';
import type { Command } from 'commander';
import { BerthError } from '../../common/errors.js';
import { parseDuration } from '../../common/duration.js';
import { logSegments, readAppLog } from '../../runtime/logs.js';
import { podLogDir } from '../../reconciler/layout.js';
import { layoutOf } from '../globals.js';
import { act, examples, findPod, opts } from '../common.js';
import { pickApp } from './exec.js';

interface LogsFlags {
  container?: string;
  namespace: string;
  follow?: boolean;
  previous?: boolean;
  tail?: string;
  timestamps?: boolean;
  since?: string;
  sinceTime?: string;
  allContainers?: boolean;
  prefix?: boolean;
}

export function register(program: Command): void {
  program
    .command('logs')
    .description('container logs (as kubectl logs)')
    .argument('<pod>')
    .option('-c, --container <app>', 'app name (default: the kubectl.kubernetes.io/default-container annotation, else the first app)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-f, --follow', 'follow the log, across restarts, until the pod is deleted')
    .option('-p, --previous', 'the previous execution')
    .option('--tail <n>', 'last N lines (-1: all)')
    .option('--timestamps', 'prefix each line with its time')
    .option('--since <duration>', 'only lines newer than this (5s, 2m, 3h)')
    .option('--since-time <time>', 'only lines at or after this RFC 3339 time')
    .option('--all-containers', "every app's log (init containers first)")
    .option('--prefix', 'prefix each line with [pod/NAME/APP]')
    .addHelpText(
      'after',
      examples([
        ['the log of the default app of pod web', 'berth logs web'],
        ['follow app httpd across restarts, with timestamps', 'berth logs web -c httpd -f --timestamps'],
        ['why did it crash: the execution before the restart, last 50 lines', 'berth logs web -c httpd --previous --tail 50'],
        ['every app of the pod, each line prefixed, of the last 10 minutes', 'berth logs web --all-containers --prefix --since 10m'],
      ]),
    )
    .action(
      act(async (pod: string, c: LogsFlags, cmd: Command) => {
        const o = opts(cmd);
        if (c.since !== undefined && c.sinceTime !== undefined)
          throw new BerthError('InvalidArgument', 'at most one of --since and --since-time may be given');
        if (c.follow && c.previous) throw new BerthError('InvalidArgument', 'only one of -f (--follow) and -p (--previous) may be given');
        if (c.allContainers && c.container !== undefined)
          throw new BerthError('InvalidArgument', '--all-containers and -c (--container) exclude each other');
        let sinceMs: number | undefined;
        if (c.since !== undefined) sinceMs = systemClock.now() - parseDuration(c.since);
        if (c.sinceTime !== undefined) {
          sinceMs = Date.parse(c.sinceTime);
          if (!Number.isFinite(sinceMs) || !/^\d{4}-\d\d-\d\dT/.test(c.sinceTime))
            throw new BerthError('InvalidArgument', `--since-time: "${c.sinceTime}" is not an RFC 3339 time (2026-12-02T00:00:00Z)`);
        }
        let tail: number | undefined;
        if (c.tail !== undefined) {
          tail = Number(c.tail);
          if (!Number.isInteger(tail) || tail < -1)
            throw new BerthError('InvalidArgument', `--tail: "${c.tail}" is not a number of lines (-1: all)`);
          if (tail === -1) tail = undefined;
        }

        const rec = await findPod(o, pod, c.namespace);
        let apps: string[];
        if (c.allContainers)
          apps = [...(rec.pod.spec.initContainers ?? []).map((x) => x.name), ...rec.pod.spec.containers.map((x) => x.name)];
        else {
          const { app, notice } = pickApp(rec.pod, c.container);
          if (!rec.apps[app])
            throw new BerthError(
              'NotFound',
              `container ${app} is not valid for pod ${rec.key} (apps: ${Object.keys(rec.apps).join(', ')})`,
            );
          if (notice) process.stderr.write(`${notice}\n`);
          apps = [app];
        }
        const podDir = podLogDir(layoutOf(o), rec.namespace, rec.name, rec.uid);
        const gone = async () =>
          access(podDir).then(
            () => false,
            () => true,
          );
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());

        const one = async (app: string, write: (line: string) => void) => {
          const dir = join(podDir, app);
          const execs = [...new Set((await logSegments(dir)).map((s) => s.execution))];
          let execution: number | undefined = execs.at(-1);
          if (c.previous) {
            execution = execs.at(-2);
            if (execution === undefined)
              throw new BerthError('NotFound', `previous terminated container "${app}" in pod ${rec.key} not found`);
          }
          if (execution === undefined && !c.follow) {
            if (c.allContainers) return; // an init container that has not run, an app not started yet
            throw new BerthError('NotFound', `no logs yet for ${app} in pod ${rec.key}`);
          }
          const prefix = c.prefix ? `[pod/${rec.name}/${app}] ` : '';
          for await (const line of readAppLog(dir, {
            ...(execution !== undefined ? { execution } : {}),
            follow: Boolean(c.follow),
            timestamps: Boolean(c.timestamps),
            ...(tail !== undefined ? { tail } : {}),
            ...(sinceMs !== undefined ? { sinceMs } : {}),
            gone,
            signal: ac.signal,
          })) {
            write(`${prefix}${line}\n`);
          }
        };
        const out = (line: string) => process.stdout.write(line);
        if (c.follow) await Promise.all(apps.map((a) => one(a, out)));
        else for (const a of apps) await one(a, out);
        return 0;
      }),
    );
}
