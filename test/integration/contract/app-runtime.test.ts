/** The AppRuntime contract against ConmonRuntime over crun and runc, as root (busybox apps, real signals and time). */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { sleep } from '../../../src/common/clock.js';
import { ConmonRuntime, resolveOciRuntime } from '../../../src/runtime/index.js';
import { appRuntimeContract, type ContractProgram } from '../../contract/app-runtime.js';
import { buildBusyboxRootfs, makeLaunch } from '../runtime/helpers.js';

const isRoot = process.getuid?.() === 0;
const PREFIX = 'ports-app';

/** The busybox command line that behaves as `program`: `/tmp/ready` appears once its traps are set. */
function argv(program: ContractProgram): string[] {
  if ('exitCode' in program) return ['sh', '-c', `exit ${program.exitCode}`];
  const traps = Object.entries(program.traps).map(([sig, code]) => `trap 'exit ${code}' ${sig.replace(/^SIG/, '')}; `);
  // no trap: PID 1 of the container without a handler, so every signal but SIGKILL is ignored
  if (traps.length === 0) return ['sh', '-c', 'touch /tmp/ready; exec sleep 1000'];
  return ['sh', '-c', `${traps.join('')}touch /tmp/ready; sleep 1000 & wait`];
}

describe.skipIf(!isRoot)('AppRuntime contract on the host', () => {
  let tmp = '';
  let lower = '';
  beforeAll(async () => {
    tmp = await mkdtemp(`/tmp/${PREFIX}-`);
    lower = join(tmp, 'lower');
    await buildBusyboxRootfs(lower);
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  for (const name of ['crun', 'runc'] as const) {
    appRuntimeContract(`ConmonRuntime (${name})`, async () => {
      const runDir = join(tmp, `run-${name}`);
      const runtime = new ConmonRuntime({ runDir, ociRuntime: await resolveOciRuntime({ name, runDir }), cgroupParent: PREFIX });
      const made = new Set<string>();
      const cgroups = new Set<string>();
      return {
        runtime,
        id: (what) => `${PREFIX}-${name}-${what}`,
        launch: async (id, program, opts = {}) => {
          made.add(id);
          return makeLaunch({ tmp, lower, id, command: argv(program), ...(opts.stopSignal ? { stopSignal: opts.stopSignal } : {}) });
        },
        ready: async (id) => {
          for (let i = 0; i < 200; i++) {
            if ((await runtime.exec(id, ['test', '-e', '/tmp/ready'])).exitCode === 0) return;
            await sleep(25);
          }
          throw new Error(`${id} never became ready`);
        },
        elapse: (ms) => sleep(ms),
        removeBundle: (id) => rm(join(tmp, 'bundles', id, 'config.json')),
        podCgroup: (what) => {
          const cg = `pod-${PREFIX}-${name}-${what}`;
          cgroups.add(cg);
          return cg;
        },
        cleanup: async () => {
          for (const id of made) await runtime.remove(id).catch(() => undefined);
          for (const cg of cgroups) await runtime.removePodCgroup(cg).catch(() => undefined);
          await runtime.prune();
          runtime.close();
          await rm(runDir, { recursive: true, force: true });
        },
      };
    });
  }
});
