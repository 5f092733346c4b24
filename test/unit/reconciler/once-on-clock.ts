/**
 * `reconcile --once` on a fake host's SimulatedClock: once() returns by itself when the pods
 * settle; its deadline comes only when the clock gets there. For a run that is not to
 * converge, wait (for the fakes' work) until `reached` passes, then move the clock to the
 * deadline: no real time is waited for.
 */
import { vi } from 'vitest';
import type { OnceResult, Reconciler } from '../../../src/reconciler/index.js';
import type { SimulatedClock } from '../../fakes/clock.js';

export async function onceToDeadline(r: Reconciler, clock: SimulatedClock, timeoutMs: number, reached: () => unknown): Promise<OnceResult> {
  const res = r.once(timeoutMs);
  await vi.waitFor(reached, { timeout: 10_000, interval: 5 });
  await clock.advance(timeoutMs);
  return res;
}
