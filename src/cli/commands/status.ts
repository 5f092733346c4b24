/** `berth status [POD] [-o wide|json]`: one row per pod. */
import type { Command } from 'commander';
import { BerthError } from '../../common/errors.js';
import { collectStatus, type PodStatusRow } from '../../reconciler/index.js';
import { createHost, createLogger } from '../wire.js';
import { statusJson, statusTable } from '../format.js';
import { act, globalOptions, opts } from '../common.js';

export function register(program: Command): void {
  globalOptions(
      program.command('status').description('one row per pod').argument('[pod]', 'only this pod (name or namespace/name)'))
    .option('-o, --output <format>', 'wide or json')
    .option('-n, --namespace <ns>', 'namespace of POD', 'default')
    .action(act(async (pod: string | undefined, cmdOpts: { output?: string; namespace: string }, cmd: Command) => {
      const o = opts(cmd);
      const log = createLogger('warn', true);
      const host = await createHost(o, log, { readOnly: true });
      let rows: PodStatusRow[] = await collectStatus(host);
      if (pod) {
        const key = pod.includes('/') ? pod : `${cmdOpts.namespace}/${pod}`;
        rows = rows.filter((r) => `${r.namespace}/${r.name}` === key);
        if (rows.length === 0) throw new BerthError('NotFound', `pod ${key} not found`);
      }
      if (cmdOpts.output === 'json') process.stdout.write(`${statusJson(rows)}\n`);
      else if (rows.length === 0) process.stdout.write('No pods.\n');
      else process.stdout.write(`${statusTable(rows, cmdOpts.output === 'wide')}\n`);
      return 0;
    }));
}
