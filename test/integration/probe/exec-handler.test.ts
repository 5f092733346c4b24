/** Contract C2's exec handler against a real crun container: inside the app, exit code and timeout. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHandler } from '../../../src/probe/handlers.js';
import { closeRuntimeSandbox, makeLaunch, openRuntimeSandbox, type RuntimeSandbox } from '../runtime/helpers.js';

const isRoot = process.getuid?.() === 0;
const PREFIX = 'berth-tphx';

describe.skipIf(!isRoot)('exec handler in a real app', () => {
  let sb: RuntimeSandbox | undefined;
  beforeAll(async () => {
    sb = await openRuntimeSandbox(PREFIX);
  });
  afterAll(async () => {
    expect(await closeRuntimeSandbox(sb, PREFIX)).toBe(0);
  });

  it('runs in the app (its files, its hostname), passes on 0, fails on non-zero and on timeout', async () => {
    const l = makeLaunch({
      tmp: sb!.tmp,
      lower: sb!.lower,
      id: `${PREFIX}-a`,
      command: ['sh', '-c', 'touch /tmp/healthy; exec sleep 1000'],
    });
    const t = { containerId: l.containerId, container: l.container, hostNetwork: false };
    try {
      await sb!.rt.start(l);
      let r = { ok: false, message: '' };
      for (let i = 0; i < 50 && !r.ok; i++) {
        r = await runHandler(sb!.rt, { exec: { command: ['test', '-e', '/tmp/healthy'] } }, t, { timeoutMs: 5000 });
        if (!r.ok) await new Promise((res) => setTimeout(res, 100));
      }
      expect(r.ok).toBe(true);
      expect(await runHandler(sb!.rt, { exec: { command: ['hostname'] } }, t, { timeoutMs: 5000 })).toEqual({ ok: true, message: 'trt\n' });
      expect(await runHandler(sb!.rt, { exec: { command: ['sh', '-c', 'echo sick; exit 1'] } }, t, { timeoutMs: 5000 })).toEqual({
        ok: false,
        message: 'sick',
      });
      expect(await runHandler(sb!.rt, { exec: { command: ['sleep', '100'] } }, t, { timeoutMs: 300 })).toEqual({
        ok: false,
        message: 'command ["sleep","100"] timed out',
      });
      expect((await sb!.rt.status(l.containerId)).state).toBe('running');
    } finally {
      await sb!.rt.remove(l.containerId).catch(() => undefined);
    }
  });
});
