/**
 * `berth condition POD TYPE=True|False [-n NS]`: set the condition of one of the pod's
 * readiness gates (spec.readinessGates), which an API server's controllers would set in a
 * cluster. The pod is Ready only when every gate's condition is True (reconciler/pod-conditions.ts).
 */
import { systemClock } from '../../common/clock.js';
import type { Command } from 'commander';
import { parseConditionArg, setGateCondition } from '../../reconciler/pod-conditions.js';
import { act, examples, findPod, opts } from '../common.js';
import { layoutOf } from '../globals.js';

export function register(program: Command): void {
  program
    .command('condition')
    .description("set a readiness gate's condition of a pod (spec.readinessGates): the pod is Ready only when every gate is True")
    .argument('<pod>')
    .argument('<condition>', 'TYPE=True or TYPE=False')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .addHelpText(
      'after',
      examples([
        [
          'mark a readiness gate of pod web True: the pod becomes Ready if its apps are',
          'berth condition web example.com/load-balancer=True',
        ],
        ['take the pod out of rotation again', 'berth condition web example.com/load-balancer=False'],
      ]),
    )
    .action(
      act(async (pod: string, condition: string, cmdOpts: { namespace: string }, cmd: Command) => {
        const o = opts(cmd);
        const { type, status } = parseConditionArg(condition);
        const rec = await findPod(o, pod, cmdOpts.namespace);
        await setGateCondition(layoutOf(o), rec, type, status, systemClock.now());
        process.stdout.write(`pod/${rec.name} condition ${type}=${status}\n`);
        return 0;
      }),
    );
}
