/** Issue 14.7: timers fed from specs and flags never throw and never fire early. */
import { describe, expect, it } from 'vitest';
import { gracePeriodMs, MAX_TIMER_MS, safeTimeout, sleep, timeoutSignal, timerMs } from '../../../src/common/index.js';

describe('safe timers', () => {
  it('clamps delays to what Node timers accept', () => {
    expect(timerMs(-5)).toBe(0);
    expect(timerMs(Number.NaN)).toBe(0);
    expect(timerMs(1.2)).toBe(2);
    expect(timerMs(1000)).toBe(1000);
    expect(timerMs(5e12)).toBe(MAX_TIMER_MS);
    expect(timerMs(Infinity)).toBe(MAX_TIMER_MS);
  });

  it('turns terminationGracePeriodSeconds into timer ms, saying when it was clamped', () => {
    expect(gracePeriodMs(30)).toEqual({ ms: 30_000, clamped: false });
    expect(gracePeriodMs(0)).toEqual({ ms: 0, clamped: false });
    expect(gracePeriodMs(2_147_483)).toEqual({ ms: 2_147_483_000, clamped: false });
    expect(gracePeriodMs(4_294_968)).toEqual({ ms: MAX_TIMER_MS, clamped: true });
    expect(gracePeriodMs(Number.MAX_SAFE_INTEGER)).toEqual({ ms: MAX_TIMER_MS, clamped: true });
  });

  it('timeoutSignal, safeTimeout and sleep accept any length without throwing or firing early', async () => {
    expect(() => AbortSignal.timeout(5e12)).toThrow(/out of range/);
    const s = timeoutSignal(5e12);
    let fired = false;
    const t = safeTimeout(() => (fired = true), 5e12);
    const ac = new AbortController();
    const slept = sleep(5e12, ac.signal);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.aborted).toBe(false);
    expect(fired).toBe(false);
    clearTimeout(t);
    ac.abort(new Error('done'));
    await expect(slept).rejects.toThrow('done');
  });
});
