/** `berth describe POD`: kubectl describe pod's layout, with the pod's events (describe-format.ts). */
import { hostname, networkInterfaces } from 'node:os';
import type { Command } from 'commander';
import { containerId } from '../../reconciler/layout.js';
import { readPodEvents } from '../../reconciler/events.js';
import type { AppStatus } from '../../runtime/types.js';
import { createLogger } from '../globals.js';
import { act, examples, findPod, opts } from '../common.js';
import { formatDescribe } from '../describe-format.js';

/** `name/hostIP` as kubectl's Node line: the first non-internal IPv4 of the host. */
function nodeLine(): string {
  const ip = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  return ip ? `${hostname()}/${ip}` : hostname();
}

export function register(program: Command): void {
  program
    .command('describe')
    .description("a pod in kubectl describe's layout: containers, state, probes, env, mounts, conditions, volumes, events")
    .argument('<pod>')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .addHelpText(
      'after',
      examples([
        ['containers, state, probes, mounts, conditions and the events of pod web', 'berth describe web'],
        ['a pod of another namespace', 'berth describe -n monitoring node-exporter'],
      ]),
    )
    .action(
      act(async (pod: string, cmdOpts: { namespace: string }, cmd: Command) => {
        const o = opts(cmd);
        const [{ createHost }, { collectStatus }] = await Promise.all([import('../wire.js'), import('../../reconciler/observe.js')]);
        const host = await createHost(o, createLogger('warn', true), { readOnly: true });
        const rec = await findPod(o, pod, cmdOpts.namespace);
        const row = (await collectStatus(host)).find((r) => r.uid === rec.uid)!;
        const live: Record<string, AppStatus | undefined> = {};
        for (const c of [...(rec.pod.spec.initContainers ?? []), ...rec.pod.spec.containers])
          // no live status (the runtime does not answer): describe shows the record's alone
          live[c.name] = await host.runtime.status(containerId(rec.uid, c.name)).catch(() => undefined);
        const now = host.clock.now();
        const events = await readPodEvents(host.layout, rec.uid, now);
        process.stdout.write(
          formatDescribe({ rec, row, live, events, now, node: nodeLine(), runtime: o.runtime, terminating: row.status === 'Terminating' }),
        );
        return 0;
      }),
    );
}
