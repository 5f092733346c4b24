/**
 * A simulated clock (the Clock port of src/common/clock.ts, test/contract/clock.ts): time
 * moves only when the test calls `advance`, which runs the timers that fell due, in order of
 * their deadlines, with `now()` at each one's deadline. A timer due already (a delay of 0)
 * runs at the next turn of the event loop, as a real one does, without the clock moving. Its timers are what xstate's
 * `createActor(machine, { clock })` takes, so machine delays run on it too.
 */
import { systemClock, type Clock, type TimerHandle } from '../../src/common/clock.js';
import { timerMs } from '../../src/common/timers.js';

/** Time and waiting, as a fake needs both (FakeRuntime's grace period). */
export interface Timers extends Clock {
  /** resolve after `ms` of this clock; an abort resolves at once (the caller decides what it means) */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = clock.setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clock.clearTimeout(t), resolve()), { once: true });
  });
}

/** Real time: systemClock. */
export const realTimers: Timers = { ...systemClock, sleep: (ms, signal) => sleepOn(systemClock, ms, signal) };

/** Lets promise chains a timer started run on (a few turns of the event loop, no real waiting). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
}

export class SimulatedClock implements Timers {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    const at = this.t + timerMs(ms);
    this.timers.set(id, { at, fn });
    if (at <= this.t) setImmediate(() => this.runDue());
    return id;
  }
  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }
  /**
   * Move the time by `ms`: every timer due by then runs in order of its deadline (the earlier
   * set first on a tie), timers those set included, each after the work the previous one
   * started had its turn.
   */
  async advance(ms: number): Promise<void> {
    const end = this.t + timerMs(ms);
    do await settle();
    while (this.runNext(end));
    this.t = end;
  }
  /** run the earliest timer due by `end` (time moves to its deadline); false when there is none */
  private runNext(end: number): boolean {
    let next: [number, { at: number; fn: () => void }] | undefined;
    for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
    if (!next) return false;
    this.timers.delete(next[0]);
    this.t = Math.max(this.t, next[1].at);
    next[1].fn();
    return true;
  }
  /** every timer due now, in order */
  private runDue(): void {
    while (this.runNext(this.t));
  }
  /** how many timers wait */
  get pending(): number {
    return this.timers.size;
  }
}
