/**
 * Issue 14.12: an environment or argument list execve(2) refuses (E2BIG) used to end in
 * "exit code 1" with "Argument list too long" only in the app's log. The final argv and envp
 * (the image's environment included) are now checked before anything is created, and the
 * limit is the kernel's: a string just under MAX_ARG_STRLEN still runs.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ARG_STRLEN } from '../../../src/api/limits.js';
import { closeRuntimeSandbox, makeLaunch, openRuntimeSandbox, type RuntimeSandbox } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const PREFIX = 'berth-te2big';

describe.skipIf(!isRoot)('argument and environment limits at start', () => {
  let sb: RuntimeSandbox | undefined;

  beforeAll(async () => {
    sb = await openRuntimeSandbox(PREFIX);
  });

  afterAll(async () => {
    expect(await closeRuntimeSandbox(sb, PREFIX)).toBe(0);
  });

  const launch = (what: string, env: string[]) => {
    const l = makeLaunch({ tmp: sb!.tmp, lower: sb!.lower, id: `${PREFIX}-${what}`, command: ['sh', '-c', 'echo ${#BIG}'] });
    return { ...l, image: { ...l.image, Env: ['PATH=/bin', ...env] } };
  };

  it('refuses an image environment variable over MAX_ARG_STRLEN with the real reason, creating nothing', async () => {
    const l = launch('one', [`BIG=${'x'.repeat(MAX_ARG_STRLEN)}`]);
    await expect(sb!.rt.start(l)).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(/^app app: Argument list too long: environment variable BIG is 131077 bytes/),
    });
    expect(await sb!.rt.list(PREFIX)).toEqual([]);
  });

  it('refuses an environment over what execve takes in total', async () => {
    const l = launch(
      'total',
      Array.from({ length: 20 }, (_, i) => `V${i}=${'x'.repeat(120 * 1024)}`),
    );
    await expect(sb!.rt.start(l)).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining('over the 2097152 bytes execve(2) takes'),
    });
  });

  it('runs a variable just under the limit', async () => {
    const n = MAX_ARG_STRLEN - 'BIG='.length - 1;
    const l = launch('fits', [`BIG=${'x'.repeat(n)}`]);
    try {
      await sb!.rt.start(l);
      expect((await sb!.rt.waitExit(l.containerId)).exitCode).toBe(0);
      expect(await readFile(l.logPath, 'utf8')).toContain(`stdout F ${n}`);
    } finally {
      await sb!.rt.remove(l.containerId).catch(() => undefined);
    }
  });
});
