/** `berth events [POD] [-w]`: the pods' events as `kubectl get events` lists them (events.ts keeps them an hour). */
import type { Command } from 'commander';
import { readAllEvents, type StoredEvent } from '../../reconciler/events.js';
import { sleep, systemClock } from '../../common/clock.js';
import { layoutOf } from '../globals.js';
import { act, examples, opts } from '../common.js';
import { kubeAge, table } from '../format.js';
import { BerthError } from '../../common/errors.js';

interface Row {
  key: string;
  uid: string;
  e: StoredEvent;
}

const HEAD = ['NAMESPACE', 'LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'];
const cells = (r: Row, now: number) => {
  const [ns, name] = r.key.split('/') as [string, string];
  return [ns, kubeAge(now - r.e.lastTimestamp), r.e.type, r.e.reason, `pod/${name}`, r.e.message.trim()];
};
const json = (r: Row) => {
  const [namespace, pod] = r.key.split('/') as [string, string];
  return {
    namespace,
    pod,
    uid: r.uid,
    ...r.e,
    firstTimestamp: new Date(r.e.firstTimestamp).toISOString(),
    lastTimestamp: new Date(r.e.lastTimestamp).toISOString(),
  };
};
const idOf = (r: Row) => `${r.uid}\0${r.e.type}\0${r.e.reason}\0${r.e.app ?? ''}\0${r.e.message}`;

export function register(program: Command): void {
  program
    .command('events')
    .description("the pods' events (kubectl get events), oldest first: of one pod (any instance of that name), or of every pod")
    .argument('[pod]', 'name or namespace/name')
    .option('-n, --namespace <ns>', 'namespace of POD', 'default')
    .option('-w, --watch', 'after the list, print events as they happen (until interrupted)')
    .option('-o, --output <format>', 'json (with -w: one JSON object per line)')
    .addHelpText(
      'after',
      examples([
        ['every event of every pod, oldest first', 'berth events'],
        ['the events of pod web, then new ones as they happen', 'berth events web -w'],
        ['as JSON, for a script', 'berth events -o json | jq \'.[] | select(.type == "Warning")\''],
      ]),
    )
    .action(
      act(async (pod: string | undefined, cmdOpts: { namespace: string; watch?: boolean; output?: string }, cmd: Command) => {
        if (cmdOpts.output !== undefined && cmdOpts.output !== 'json')
          throw new BerthError('InvalidArgument', `-o ${cmdOpts.output}: the output formats are json`);
        const layout = layoutOf(opts(cmd));
        const key = pod === undefined ? undefined : pod.includes('/') ? pod : `${cmdOpts.namespace}/${pod}`;
        const collect = async (now: number): Promise<Row[]> =>
          (await readAllEvents(layout, now))
            .filter((f) => key === undefined || f.podName === key)
            .flatMap((f) => f.events.map((e) => ({ key: f.podName, uid: f.uid, e })))
            .sort((a, b) => a.e.lastTimestamp - b.e.lastTimestamp);
        let now = systemClock.now();
        const rows = await collect(now);
        const seen = new Map(rows.map((r) => [idOf(r), r.e.lastTimestamp]));
        if (cmdOpts.output === 'json' && !cmdOpts.watch) process.stdout.write(`${JSON.stringify(rows.map(json), null, 2)}\n`);
        else if (cmdOpts.output === 'json') for (const r of rows) process.stdout.write(`${JSON.stringify(json(r))}\n`);
        else if (rows.length) process.stdout.write(`${table([HEAD, ...rows.map((r) => cells(r, now))])}\n`);
        else if (!cmdOpts.watch) process.stderr.write(`No events found${key ? ` for pod ${key}` : ''}.\n`);
        if (!cmdOpts.watch) return 0;
        for (;;) {
          await sleep(1000);
          now = systemClock.now();
          for (const r of await collect(now)) {
            const id = idOf(r);
            if ((seen.get(id) ?? -1) >= r.e.lastTimestamp) continue;
            seen.set(id, r.e.lastTimestamp);
            process.stdout.write(cmdOpts.output === 'json' ? `${JSON.stringify(json(r))}\n` : `${cells(r, now).join('   ')}\n`);
          }
        }
      }),
    );
}
