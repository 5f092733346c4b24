/**
 * Issue 14.7: a grace period longer than Node's timers can wait (terminationGracePeriodSeconds
 * above 2147483, and above 4294967 where AbortSignal.timeout throws ERR_OUT_OF_RANGE) must
 * still send the stop signal and wait for the app, not throw and not kill it at once.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConmonRuntime, resolveOciRuntime } from '../../../src/runtime/index.js';
import { buildBusyboxRootfs, makeLaunch } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const PREFIX = 'berth-tgrace';

describe.skipIf(!isRoot)('stop with a grace period longer than a timer', () => {
  let tmp = '';
  let lower = '';
  let rt: ConmonRuntime;

  beforeAll(async () => {
    tmp = await mkdtemp(`/tmp/${PREFIX}-`);
    lower = join(tmp, 'lower');
    await buildBusyboxRootfs(lower);
    const runDir = join(tmp, 'run');
    rt = new ConmonRuntime({ runDir, ociRuntime: await resolveOciRuntime({ name: 'crun', runDir }), cgroupParent: PREFIX });
  });

  afterAll(async () => {
    if (rt) {
      for (const id of await rt.list(PREFIX)) await rt.remove(id).catch(() => undefined);
      await rt.pruneCgroupParent();
    }
    if (tmp) await rm(tmp, { recursive: true, force: true });
    expect(spawnSync('sh', ['-c', `ps -eo args= | grep -c '[c]onmon.*${PREFIX}'`]).stdout.toString().trim()).toBe('0');
  });

  // 3e9 ms: setTimeout and AbortSignal.timeout would fire after 1 ms (SIGKILL at once, exit 137);
  // 5e12 ms: AbortSignal.timeout throws ERR_OUT_OF_RANGE (the pod stayed Terminating).
  it.each([3_000_000_000, 5_000_000_000_000])('stop(id, %d ms) sends TERM and returns when the app exits', async (graceMs) => {
    const l = makeLaunch({ tmp, lower, id: `${PREFIX}-${graceMs}`, command: ['sh', '-c', 'trap "exit 0" TERM; touch /tmp/ready; sleep 765432 & wait'] });
    try {
      const started = await rt.start(l);
      // wait until the shell has installed its trap
      for (let i = 0; i < 200 && spawnSync('test', ['-e', `/proc/${started.pid}/root/tmp/ready`]).status !== 0; i++) await new Promise((r) => setTimeout(r, 25));
      await rt.stop(l.containerId, graceMs);
      expect(await rt.status(l.containerId)).toMatchObject({ state: 'exited', exitCode: 0 });
    } finally {
      await rt.remove(l.containerId).catch(() => undefined);
    }
  });
});
