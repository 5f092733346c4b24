/** `berth logs POD [-c APP] [-f] [--previous] [--tail N] [--timestamps]`. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { BerthError } from '../../common/errors.js';
import { readCriLog } from '../../runtime/index.js';
import { podLogDir } from '../../reconciler/index.js';
import { layoutOf } from '../wire.js';
import { act, findPod, globalOptions, opts } from '../common.js';

export function register(program: Command): void {
  globalOptions(
      program.command('logs').description('container logs').argument('<pod>'))
    .option('-c, --container <app>', 'app name (default: the only or first app)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-f, --follow', 'follow the log')
    .option('-p, --previous', 'the previous execution')
    .option('--tail <n>', 'last N lines')
    .option('--timestamps', 'prefix each line with its time')
    .action(act(async (pod: string, c: { container?: string; namespace: string; follow?: boolean; previous?: boolean; tail?: string; timestamps?: boolean }, cmd: Command) => {
      const o = opts(cmd);
      const rec = await findPod(o, pod, c.namespace);
      const app = c.container ?? rec.pod.spec.containers[0]!.name;
      if (!rec.apps[app]) throw new BerthError('NotFound', `pod ${rec.key} has no app ${app} (apps: ${Object.keys(rec.apps).join(', ')})`);
      const dir = join(podLogDir(layoutOf(o), rec.namespace, rec.name, rec.uid), app);
      const runs = (await readdir(dir).catch(() => [] as string[]))
        .map((f) => /^(\d+)\.log$/.exec(f)?.[1])
        .filter((n): n is string => n !== undefined)
        .map(Number)
        .sort((a, b) => a - b);
      const pick = c.previous ? runs.at(-2) : runs.at(-1);
      if (pick === undefined) throw new BerthError('NotFound', c.previous ? `no previous execution of ${app}` : `no logs yet for ${app}`);
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      for await (const line of readCriLog(join(dir, `${pick}.log`), {
        follow: Boolean(c.follow),
        timestamps: Boolean(c.timestamps),
        ...(c.tail !== undefined ? { tail: Number(c.tail) } : {}),
        signal: ac.signal,
      })) {
        process.stdout.write(`${line}\n`);
      }
      return 0;
    }));
}
