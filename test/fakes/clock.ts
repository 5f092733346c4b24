/**
 * A clock the test moves by hand (the Clock port of src/common/clock.ts plus timers on it):
 * `sleep` resolves when `advance` has moved the time past its deadline, never by itself.
 */
import type { Clock } from '../../src/common/clock.js';

/** Time and waiting, as a fake needs both (FakeRuntime's grace period). */
export interface Timers extends Clock {
  /** resolve after `ms` of this clock; an abort resolves at once (the caller decides what it means) */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Real time: Date.now and setTimeout. */
export const realTimers: Timers = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const t = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    }),
};

export class ManualClock implements Timers {
  private t: number;
  private waiting: Array<{ at: number; resolve: () => void }> = [];
  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted || ms <= 0) return resolve();
      const w = { at: this.t + ms, resolve };
      this.waiting.push(w);
      signal?.addEventListener('abort', () => ((this.waiting = this.waiting.filter((x) => x !== w)), resolve()), { once: true });
    });
  }
  /** Move the time by `ms`, waking every sleeper whose deadline passed, and let them run. */
  async advance(ms: number): Promise<void> {
    this.t += ms;
    const due = this.waiting.filter((w) => w.at <= this.t);
    this.waiting = this.waiting.filter((w) => w.at > this.t);
    for (const w of due) w.resolve();
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }
  /** how many sleepers wait */
  get pending(): number {
    return this.waiting.length;
  }
}
