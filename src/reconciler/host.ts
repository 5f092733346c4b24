/** The host capabilities the reconciler drives, wired by the composition root (src/cli). */
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import type { Cni, NetnsManager } from '../cni/types.js';
import type { ImageService, PullProgress } from '../image/types.js';
import type { AppRuntime } from '../runtime/types.js';
import type { AppcMetadataService } from '../appc-metadata/types.js';
import type { EventSink } from './events.js';
import type { BridgeManager } from './gc.js';
import type { Layout } from './layout.js';

export interface Host {
  layout: Layout;
  images: ImageService;
  cni: Cni;
  netns: NetnsManager;
  runtime: AppRuntime;
  bridges: BridgeManager;
  clock: Clock;
  log: Logger;
  /** kubectl-style pod events (Pulling, Started, BackOff…), see events.ts */
  events: EventSink;
  /**
   * the appc metadata service for pods with ACI apps: the agent's (appc-metadata/service.ts),
   * which it closes when it stops, or one that refuses to serve (appc-metadata/disabled.ts)
   */
  appcMetadata: AppcMetadataService;
  /**
   * bounds how many pods run heavy setup steps and app starts at once; a waiting step of
   * higher `priority` (a pod further along: start over attach over render over pull) goes first
   */
  limit: <T>(fn: () => Promise<T>, priority?: number) => Promise<T>;
  /** a port for the bytes of each image pull, by pod (`reconcile --once`'s progress display); `ignorePullProgress` where nobody shows them */
  pullProgress: (podKey: string, p: PullProgress) => void;
}

/** The pullProgress of a host whose caller shows no pull progress. */
export const ignorePullProgress: Host['pullProgress'] = () => undefined;

/** Priorities of the setup steps: a pod that got further is finished before others start. */
export const STEP_PRIORITY = { pull: 0, render: 1, attach: 2, start: 3 } as const;

/**
 * A counting semaphore: at most `n` functions run at once; the rest wait, highest priority
 * first, then in order. Without priorities every pod would pull, then every pod render, then
 * every pod attach, and under an agent killed often no pod would ever reach its apps (found by
 * scripts/chaos.mjs); with them a pod that got further is finished first.
 */
export function createLimiter(n: number): <T>(fn: () => Promise<T>, priority?: number) => Promise<T> {
  let active = 0;
  let seq = 0;
  const queue: Array<{ priority: number; seq: number; run: () => void }> = [];
  const next = () => {
    if (active >= n || queue.length === 0) return;
    let best = 0;
    for (let i = 1; i < queue.length; i++) {
      const q = queue[i]!;
      const b = queue[best]!;
      if (q.priority > b.priority || (q.priority === b.priority && q.seq < b.seq)) best = i;
    }
    const [job] = queue.splice(best, 1);
    active++;
    job!.run();
  };
  return <T>(fn: () => Promise<T>, priority = 0) =>
    new Promise<T>((resolve, reject) => {
      queue.push({
        priority,
        seq: seq++,
        run: () => {
          fn()
            .then(resolve, reject)
            .finally(() => {
              active--;
              next();
            });
        },
      });
      next();
    });
}
