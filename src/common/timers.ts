/**
 * Timers fed from specs and flags. Node's timers take at most 2^31-1 ms (about 24.8 days):
 * `setTimeout`/`setInterval` with more fire after 1 ms (with a TimeoutOverflowWarning), and
 * `AbortSignal.timeout` throws ERR_OUT_OF_RANGE above 2^32-1 ms. A Pod's
 * `terminationGracePeriodSeconds` is an int64 for the kubelet, which hands it to the runtime
 * as seconds; berth waits as long as a timer can, which for any practical purpose is
 * "wait until the app exits", and says so.
 */

/** The longest delay Node's timers honour, in ms (2^31-1, about 24 days 20 h). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` as a delay every timer accepts: NaN and negatives are 0, more than MAX_TIMER_MS is MAX_TIMER_MS. */
export function timerMs(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(Math.ceil(ms), MAX_TIMER_MS);
}

/** Whether `ms` is longer than a timer can wait (so that callers can log that it was shortened). */
export const exceedsTimer = (ms: number): boolean => ms > MAX_TIMER_MS;

/** AbortSignal.timeout that never throws: the delay is clamped with timerMs (at least 1 ms). */
export function timeoutSignal(ms: number): AbortSignal {
  return AbortSignal.timeout(Math.max(1, timerMs(ms)));
}

/** setTimeout with a clamped delay. */
export function safeTimeout(fn: () => void, ms: number): NodeJS.Timeout {
  return setTimeout(fn, timerMs(ms));
}

/**
 * A grace period in whole seconds (a spec's terminationGracePeriodSeconds) as timer ms:
 * `{ ms, clamped }`, clamped when the seconds are longer than a timer can wait.
 */
export function gracePeriodMs(seconds: number): { ms: number; clamped: boolean } {
  const ms = seconds * 1000;
  return { ms: timerMs(ms), clamped: exceedsTimer(ms) };
}
