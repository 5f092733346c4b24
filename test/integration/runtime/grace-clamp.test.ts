/**
 * Issue 14.7: a grace period longer than Node's timers can wait (terminationGracePeriodSeconds
 * above 2147483, and above 4294967 where AbortSignal.timeout throws ERR_OUT_OF_RANGE) must
 * still send the stop signal and wait for the app, not throw and not kill it at once.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRuntimeSandbox, makeLaunch, openRuntimeSandbox, type RuntimeSandbox } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const PREFIX = 'berth-tgrace';

describe.skipIf(!isRoot)('stop with a grace period longer than a timer', () => {
  let sb: RuntimeSandbox | undefined;

  beforeAll(async () => {
    sb = await openRuntimeSandbox(PREFIX);
  });

  afterAll(async () => {
    expect(await closeRuntimeSandbox(sb, PREFIX)).toBe(0);
  });

  // 3e9 ms: setTimeout and AbortSignal.timeout would fire after 1 ms (SIGKILL at once, exit 137);
  // 5e12 ms: AbortSignal.timeout throws ERR_OUT_OF_RANGE (the pod stayed Terminating).
  it.each([3_000_000_000, 5_000_000_000_000])('stop(id, %d ms) sends TERM and returns when the app exits', async (graceMs) => {
    const l = makeLaunch({
      tmp: sb!.tmp,
      lower: sb!.lower,
      id: `${PREFIX}-${graceMs}`,
      command: ['sh', '-c', 'trap "exit 0" TERM; touch /tmp/ready; sleep 765432 & wait'],
    });
    try {
      const started = await sb!.rt.start(l);
      // wait until the shell has installed its trap
      for (let i = 0; i < 200 && spawnSync('test', ['-e', `/proc/${started.pid}/root/tmp/ready`]).status !== 0; i++)
        await new Promise((r) => setTimeout(r, 25));
      await sb!.rt.stop(l.containerId, graceMs);
      expect(await sb!.rt.status(l.containerId)).toMatchObject({ state: 'exited', exitCode: 0 });
    } finally {
      await sb!.rt.remove(l.containerId).catch(() => undefined);
    }
  });
});
