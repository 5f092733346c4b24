import { timerMs } from './timers.js';

/** A timer of a Clock; only the clock that made it can clear it. */
export type TimerHandle = unknown;

/**
 * Time as berth sees it, and waiting on it: tests inject a simulated clock
 * (test/fakes/clock.ts). The timer pair is xstate's `Clock`, so a Clock can be handed to
 * `createActor(machine, { clock })` and the machines' delays run on it too.
 */
export interface Clock {
  now(): number;
  /** run `fn` once `ms` of this clock have passed (delays clamped as timers.ts says) */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Wall time and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, timerMs(ms)),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Wait `ms` of `clock` (clamped, see timers.ts); rejects with the signal's reason on abort. */
export function sleep(ms: number, signal?: AbortSignal, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clock.clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** setInterval on `clock`: `fn` every `ms` (at least 1 ms) until the returned function is called. */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let stopped = false;
  let t: TimerHandle;
  const arm = () => {
    t = clock.setTimeout(
      () => {
        if (stopped) return;
        fn();
        if (!stopped) arm();
      },
      Math.max(1, ms),
    );
  };
  arm();
  return () => {
    stopped = true;
    clock.clearTimeout(t);
  };
}
