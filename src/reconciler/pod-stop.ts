/**
 * Stopping a pod's containers in the kubelet's order (issue 9 item 2, KEP-753): regular apps
 * (and an init container still running) stop in parallel; then the sidecars
 * (initContainers with restartPolicy Always), one after the other in reverse spec order,
 * each with what is left of the pod's terminationGracePeriodSeconds (at least the kubelet's
 * 2 s minimum, never more than the whole grace). Used by the teardown and by ending a pod
 * without tearing it down (activeDeadlineSeconds, a failed init container, sidecars after
 * the apps completed).
 */
import { codeOf, isNotFound } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Container } from '../api/pod.js';
import type { Host } from './host.js';
import { containerId } from './layout.js';
import type { PodRecord } from './records.js';

/** The kubelet's minimumGracePeriodInSeconds: a sidecar stopped late still gets this long. */
export const MIN_SIDECAR_GRACE_MS = 2000;

export const isSidecar = (c: Container): boolean => (c as Container & { restartPolicy?: string }).restartPolicy === 'Always';

/** The pod's containers in stop order: first the group stopped in parallel, then the sidecars one by one. */
export function stopOrder(rec: PodRecord): { parallel: Container[]; sidecars: Container[] } {
  const inits = rec.pod.spec.initContainers ?? [];
  return {
    parallel: [...rec.pod.spec.containers, ...inits.filter((c) => !isSidecar(c))],
    sidecars: inits.filter(isSidecar).reverse(),
  };
}

export interface StopOptions {
  /** the pod's grace period, ms */
  graceMs: number;
  /** remove each container once stopped (teardown) or keep it for status and logs (ending) */
  remove: boolean;
  log: Logger;
  reason?: string;
  /** only the sidecars (the apps have exited, or never started) */
  sidecarsOnly?: boolean;
  /** stop one container before its deadline (epoch ms); default: runtime.stop with the time left */
  stopOne?: (c: Container, deadline: number) => Promise<void>;
  /**
   * Run once every container is stopped, beside the removals (the teardown's network: the
   * kubelet tears a sandbox's network down once its containers are stopped, before it removes
   * them); its errors are returned with the others.
   */
  whileRemoving?: () => Promise<unknown[]>;
}

/** Stop the pod's containers in order; resolves with the errors met (a container already gone is none). */
export async function stopPodContainers(host: Host, rec: PodRecord, opts: StopOptions): Promise<unknown[]> {
  const errors: unknown[] = [];
  const removals: Array<Promise<void>> = [];
  const start = host.clock.now();
  const deadline = start + opts.graceMs;
  const stopOne =
    opts.stopOne ??
    (async (c: Container, until: number) => {
      await host.runtime.stop(containerId(rec.uid, c.name), Math.max(0, until - host.clock.now()));
    });
  const one = async (c: Container, until: number) => {
    const id = containerId(rec.uid, c.name);
    try {
      await stopOne(c, until);
      opts.log.info({ app: c.name, reason: opts.reason }, 'app stopped');
    } catch (err) {
      if (!isNotFound(err)) {
        opts.log.warn({ app: c.name, code: codeOf(err), err }, 'app stop failed');
        errors.push(err);
      }
      return;
    }
    // a stopped container's removal goes on beside the next stops (nothing of it runs any more)
    if (opts.remove)
      removals.push(
        host.runtime.remove(id).catch((err: unknown) => {
          if (!isNotFound(err)) errors.push(err);
        }),
      );
  };
  const { parallel, sidecars } = stopOrder(rec);
  if (!opts.sidecarsOnly) await Promise.all(parallel.map((c) => one(c, deadline)));
  for (const c of sidecars) {
    const now = host.clock.now();
    const until = Math.max(deadline, now + Math.min(opts.graceMs, MIN_SIDECAR_GRACE_MS));
    opts.log.debug({ app: c.name, graceMs: until - now, reason: opts.reason }, 'stopping sidecar');
    await one(c, until);
  }
  const along = opts.whileRemoving?.();
  await Promise.all(removals);
  if (along) errors.push(...(await along));
  return errors;
}

/**
 * How a pod's machine resumes its end: a pod that ended for good before an agent restart (past
 * its activeDeadlineSeconds, or an init container failed under restartPolicy Never) stays
 * failed; otherwise the time left of activeDeadlineSeconds, counted from the pod's creation
 * on this host (the kubelet's status.startTime).
 */
export function podEnding(rec: PodRecord, now: number): { ended?: NonNullable<PodRecord['lastError']>; deadlineMs?: number } {
  const err = rec.lastError;
  if (rec.phase === 'failed' && err && (err.step === 'deadline' || (err.step === 'init' && err.code === 'InitFailed')))
    return { ended: err };
  const seconds = rec.pod.spec.activeDeadlineSeconds;
  if (seconds === undefined) return {};
  return { deadlineMs: Math.max(0, rec.createdAt + seconds * 1000 - now) };
}
