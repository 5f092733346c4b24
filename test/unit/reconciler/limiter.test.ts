import { describe, expect, it } from 'vitest';
import { createLimiter, STEP_PRIORITY } from '../../../src/reconciler/host.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('the setup limiter', () => {
  it('runs at most n at once, the rest in order', async () => {
    const limit = createLimiter(2);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        limit(async () => {
          running++;
          most = Math.max(most, running);
          await new Promise((r) => setTimeout(r, 5));
          order.push(i);
          running--;
        }),
      ),
    );
    expect(most).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it('lets a pod further along (attach, render) go before pods waiting to pull', async () => {
    const limit = createLimiter(1);
    const gate = deferred();
    const started: string[] = [];
    const job = (name: string) => async () => {
      started.push(name);
      if (name === 'first') await gate.promise;
    };
    const all = [
      limit(job('first'), STEP_PRIORITY.pull),
      limit(job('pull-b'), STEP_PRIORITY.pull),
      limit(job('pull-c'), STEP_PRIORITY.pull),
      limit(job('render-a'), STEP_PRIORITY.render),
      limit(job('attach-a'), STEP_PRIORITY.attach),
    ];
    gate.resolve();
    await Promise.all(all);
    expect(started).toEqual(['first', 'attach-a', 'render-a', 'pull-b', 'pull-c']);
  });

  it('passes results and errors through', async () => {
    const limit = createLimiter(1);
    await expect(limit(async () => 7)).resolves.toBe(7);
    await expect(limit(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limit(async () => 8)).resolves.toBe(8);
  });
});
