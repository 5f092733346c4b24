/**
 * The kubelet's container restart back-off (DESIGN.md §5): the first restart is immediate,
 * then 10 s doubling up to 300 s; a container that ran for 10 minutes resets it.
 */
export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
export const BACKOFF_RESET_AFTER_MS = 600_000;

/** Delay before restart number `step` (0-based: step 0 is the first restart). */
export function backoffDelay(step: number): number {
  if (step <= 0) return 0;
  return Math.min(BACKOFF_INITIAL_MS * 2 ** (step - 1), BACKOFF_MAX_MS);
}

/** The step to use for the next restart, given how long the last execution ran. */
export function nextBackoffStep(currentStep: number, ranForMs: number): number {
  return ranForMs >= BACKOFF_RESET_AFTER_MS ? 0 : currentStep;
}
