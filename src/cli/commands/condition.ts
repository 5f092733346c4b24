/**
 * `berth condition POD TYPE=True|False [-n NS]`: set the condition of one of the pod's
 * readiness gates (spec.readinessGates), which an API server's controllers would set in a
 * cluster. The pod is Ready only when every gate's condition is True (reconciler/pod-conditions.ts).
 */
import type { Command } from 'commander';
import { parseConditionArg, setGateCondition } from '../../reconciler/pod-conditions.js';
import { act, findPod, globalOptions, opts } from '../common.js';
import { layoutOf } from '../wire.js';

export function register(program: Command): void {
  globalOptions(
    program
      .command('condition')
      .description("set a readiness gate's condition of a pod (spec.readinessGates): the pod is Ready only when every gate is True")
      .argument('<pod>')
      .argument('<condition>', 'TYPE=True or TYPE=False'),
  )
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .action(
      act(async (pod: string, condition: string, cmdOpts: { namespace: string }, cmd: Command) => {
        const o = opts(cmd);
        const { type, status } = parseConditionArg(condition);
        const rec = await findPod(o, pod, cmdOpts.namespace);
        await setGateCondition(layoutOf(o), rec, type, status, Date.now());
        process.stdout.write(`pod/${rec.name} condition ${type}=${status}\n`);
        return 0;
      }),
    );
}
