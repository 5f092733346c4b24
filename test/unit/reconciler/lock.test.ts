import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireAgentLock, lockPath } from '../../../src/reconciler/lock.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('agent lock', () => {
  it('is held until released and names its holder', async () => {
    const state = join(dir, 'state');
    const lock = await acquireAgentLock(state);
    try {
      expect(await readFile(lockPath(state), 'utf8')).toBe(`${process.pid}\n`);
      // a second open file description (as a second agent has) is refused at once
      await expect(acquireAgentLock(state)).rejects.toMatchObject({
        code: 'FailedPrecondition',
        message: `another berth (pid ${process.pid}) holds ${state}`,
      });
      // util-linux flock on the same file agrees: it is a real flock(2)
      const r = await execa('flock', ['--nonblock', lockPath(state), 'true'], { reject: false });
      expect(r.exitCode).toBe(1);
      expect(await readFile(lockPath(state), 'utf8')).toBe(`${process.pid}\n`);
    } finally {
      await lock.release();
    }
    const again = await acquireAgentLock(state);
    await again.release();
  });

  it('is free again once its holder dies, even by SIGKILL', async () => {
    const path = lockPath(dir);
    const holder = execa('flock', ['--exclusive', path, 'sleep', '600'], { reject: false });
    try {
      // wait until the holder has the lock
      for (let i = 0; i < 200; i++) {
        const r = await execa('flock', ['--nonblock', path, 'true'], { reject: false });
        if (r.exitCode === 1) break;
        await new Promise((res) => setTimeout(res, 25));
      }
      await expect(acquireAgentLock(dir)).rejects.toThrow(`another berth (pid unknown) holds ${dir}`);
    } finally {
      // flock forks sleep holding the same description: kill both, by pid
      const kids = await execa('pgrep', ['-P', String(holder.pid)], { reject: false });
      for (const p of kids.stdout.split('\n').filter(Boolean)) process.kill(Number(p), 'SIGKILL');
      holder.kill('SIGKILL');
      await holder;
    }
    const lock = await acquireAgentLock(dir);
    await lock.release();
  });
});
