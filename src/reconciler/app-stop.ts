/**
 * Stopping one app as the kubelet's killContainer does (contract C5): the preStop hook
 * (exec, httpGet, sleep) first, bounded by the deadline; then the stop signal
 * (lifecycle.stopSignal, else the image's STOPSIGNAL, else SIGTERM) with what is left of the
 * grace period — at least the kubelet's 2 s minimum once a hook ran — then SIGKILL.
 * A failed or timed-out preStop is a FailedPreStopHook warning event; the stop goes on.
 * Used by the liveness/startup/postStart kills (probing.ts) and by the pod teardown.
 */
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { MAX_TIMER_MS } from '../common/timers.js';
import { runHandler, type HandlerAction } from '../probe/handlers.js';
import type { Container } from '../api/pod.js';
import type { Host } from './host.js';
import { containerId } from './layout.js';
import type { PodRecord } from './records.js';

/** The kubelet's minimumGracePeriodInSeconds, after a preStop hook used up the grace period. */
export const MIN_GRACE_AFTER_HOOK_MS = 2000;

/** The handler target of an app: its container, the pod's IP (host network: 127.0.0.1, see handlers.ts). */
export function handlerTarget(rec: PodRecord, c: Container) {
  const podIP = rec.attachments.flatMap((a) => a.ips.map((ip) => ip.split('/')[0]!))[0];
  return {
    containerId: containerId(rec.uid, c.name),
    container: c,
    hostNetwork: rec.pod.spec.hostNetwork,
    ...(podIP ? { podIP } : {}),
  };
}

/** `lifecycle.stopSignal` (Pod API 1.33), when the spec has it. */
export function specStopSignal(c: Container): string | undefined {
  const s = (c.lifecycle as { stopSignal?: unknown } | undefined)?.stopSignal;
  return typeof s === 'string' && s !== '' ? s : undefined;
}

export async function stopApp(
  host: Host,
  rec: PodRecord,
  c: Container,
  opts: { deadline: number; log: Logger; reason?: string },
): Promise<void> {
  const id = containerId(rec.uid, c.name);
  const log = opts.log.child({ app: c.name });
  const stopSignal = specStopSignal(c);
  const stopOpts = stopSignal ? { stopSignal } : undefined;
  const preStop = c.lifecycle?.preStop as HandlerAction | undefined;
  let hookRan = false;
  if (preStop) {
    const st = await host.runtime.status(id);
    const left = opts.deadline - host.clock.now();
    if (st.state === 'running' && left > 0) {
      hookRan = true;
      let message: string | undefined;
      try {
        const r = await runHandler(host.runtime, preStop, handlerTarget(rec, c), {
          timeoutMs: left,
          signal: AbortSignal.timeout(Math.min(left + 1000, MAX_TIMER_MS)),
          purpose: 'lifecycle',
        });
        if (!r.ok) message = r.message;
      } catch (err) {
        message = errorMessage(err);
      }
      if (message !== undefined) {
        const text = `PreStopHook failed: ${message}`;
        log.warn({ reason: 'FailedPreStopHook', err: message }, 'preStop hook failed');
        host.events.emit({ uid: rec.uid, podName: rec.key, app: c.name, type: 'Warning', reason: 'FailedPreStopHook', message: text });
      } else log.info({ reason: opts.reason }, 'preStop hook completed');
    }
  }
  const left = Math.max(0, opts.deadline - host.clock.now());
  const graceMs = hookRan ? Math.max(left, MIN_GRACE_AFTER_HOOK_MS) : left;
  await host.runtime.stop(id, graceMs, undefined, stopOpts);
}
