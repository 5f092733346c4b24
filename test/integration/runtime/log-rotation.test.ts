/**
 * Log rotation with a real conmon: the live file is renamed and conmon reopens it through its
 * ctl FIFO while the app keeps writing; every line is in exactly one file, in order.
 */
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotatedLogs } from '../../../src/runtime/log-rotation.js';
import { readAppLog } from '../../../src/runtime/logs.js';
import { closeRuntimeSandbox, makeLaunch, openRuntimeSandbox, type RuntimeSandbox } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const PREFIX = 'berth-trot';

describe.skipIf(!isRoot)('log rotation under a running app', () => {
  let sb: RuntimeSandbox | undefined;
  beforeAll(async () => {
    sb = await openRuntimeSandbox(PREFIX);
  });
  afterAll(async () => {
    expect(await closeRuntimeSandbox(sb, PREFIX)).toBe(0);
  });

  it('rotates without losing or repeating a line', async () => {
    const l = makeLaunch({
      tmp: sb!.tmp,
      lower: sb!.lower,
      id: `${PREFIX}-a`,
      command: [
        'sh',
        '-c',
        'i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); [ $((i % 20)) = 0 ] && sleep 0.05; done; echo END; exec sleep 1000',
      ],
    });
    try {
      await sb!.rt.start(l);
      let rotations = 0;
      for (let i = 0; i < 200 && rotations < 6; i++) {
        if (await sb!.rt.rotateLog(l.containerId, { maxBytes: 300, maxFiles: 20 })) rotations++;
        await new Promise((r) => setTimeout(r, 30));
      }
      expect(rotations).toBeGreaterThanOrEqual(2);
      let lines: string[] = [];
      for (let i = 0; i < 100 && !lines.includes('END'); i++) {
        lines = [];
        for await (const x of readAppLog(dirname(l.logPath))) lines.push(x);
        if (!lines.includes('END')) await new Promise((r) => setTimeout(r, 100));
      }
      expect(lines).toEqual([...Array.from({ length: 400 }, (_, i) => `line-${i}`), 'END']);
      expect((await rotatedLogs(l.logPath)).length).toBe(rotations);
      // an app whose monitor is gone is not rotated
      await sb!.rt.stop(l.containerId, 0);
      expect(await sb!.rt.rotateLog(l.containerId, { maxBytes: 1, maxFiles: 2 })).toBe(false);
    } finally {
      await sb!.rt.remove(l.containerId).catch(() => undefined);
    }
  });
});
