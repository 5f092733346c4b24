/**
 * The Clock contract (src/common/clock.ts): test/unit/contract/clock.test.ts runs it against
 * the SimulatedClock (time moved by hand) and against systemClock (tiny real delays). What
 * is held is order and cancellation, never how long anything took.
 */
import { describe, expect, it } from 'vitest';
import { sleep, type Clock } from '../../src/common/clock.js';

export interface ClockHarness {
  clock: Clock;
  /** let at least `ms` of the clock pass, and the timers due by then run */
  advance(ms: number): Promise<void>;
  /** let the event loop turn a few times without moving a simulated clock */
  turn(): Promise<void>;
}

export function clockContract(label: string, open: () => ClockHarness): void {
  describe(`Clock contract: ${label}`, () => {
    it('moves now() forward by at least what passed', async () => {
      const h = open();
      const t0 = h.clock.now();
      await h.advance(20);
      expect(h.clock.now()).toBeGreaterThanOrEqual(t0 + 20);
    });

    it('runs a timer once its delay passed, never from inside setTimeout, and in order of deadlines', async () => {
      const h = open();
      const fired: string[] = [];
      const t0 = h.clock.now();
      let firedAt = 0;
      h.clock.setTimeout(() => fired.push('c'), 30);
      h.clock.setTimeout(() => {
        fired.push('a');
        firedAt = h.clock.now();
      }, 10);
      h.clock.setTimeout(() => fired.push('b'), 20);
      expect(fired).toEqual([]);
      await h.advance(40);
      expect(fired).toEqual(['a', 'b', 'c']);
      expect(firedAt).toBeGreaterThanOrEqual(t0 + 10);
    });

    it('runs the timers a timer sets when they fall due', async () => {
      const h = open();
      const fired: string[] = [];
      h.clock.setTimeout(() => {
        fired.push('outer');
        h.clock.setTimeout(() => fired.push('inner'), 5);
      }, 5);
      await h.advance(30);
      expect(fired).toEqual(['outer', 'inner']);
    });

    it('runs a timer of 0 ms at a later turn of the event loop without the clock having to move', async () => {
      const h = open();
      let fired = false;
      h.clock.setTimeout(() => (fired = true), 0);
      expect(fired).toBe(false);
      await h.turn();
      expect(fired).toBe(true);
    });

    it('does not run a cleared timer', async () => {
      const h = open();
      let fired = false;
      const t = h.clock.setTimeout(() => (fired = true), 5);
      h.clock.clearTimeout(t);
      await h.advance(20);
      expect(fired).toBe(false);
    });

    it('takes a negative or NaN delay as 0, and one longer than a timer can wait without firing early', async () => {
      const h = open();
      const fired: string[] = [];
      h.clock.setTimeout(() => fired.push('negative'), -5);
      h.clock.setTimeout(() => fired.push('nan'), NaN);
      const long = h.clock.setTimeout(() => fired.push('long'), 2 ** 40);
      await h.advance(5);
      h.clock.clearTimeout(long);
      expect(fired.sort()).toEqual(['nan', 'negative']);
    });

    it('sleep resolves after its delay and rejects with the reason on abort, also when aborted before', async () => {
      const h = open();
      let slept = false;
      const s = sleep(10, undefined, h.clock).then(() => (slept = true));
      await h.advance(20);
      await s;
      expect(slept).toBe(true);

      const ac = new AbortController();
      const aborted = sleep(1_000_000, ac.signal, h.clock).catch((e: unknown) => e);
      ac.abort(new Error('stop'));
      expect(((await aborted) as Error).message).toBe('stop');
      expect(((await sleep(1, ac.signal, h.clock).catch((e: unknown) => e)) as Error).message).toBe('stop');
    });
  });
}
