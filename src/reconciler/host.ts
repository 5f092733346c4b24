/** The host capabilities the reconciler drives, wired by the composition root (src/cli). */
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import type { Cni, NetnsManager } from '../cni/types.js';
import type { ImageService } from '../image/types.js';
import type { AppRuntime } from '../runtime/types.js';
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
  /** bounds how many pods run heavy setup steps at once */
  limit: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** A counting semaphore: at most `n` functions run at once, the rest queue in order. */
export function createLimiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: Array<() => void> = [];
  const next = () => {
    if (active >= n) return;
    const run = queue.shift();
    if (run) {
      active++;
      run();
    }
  };
  return <T>(fn: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        fn()
          .then(resolve, reject)
          .finally(() => {
            active--;
            next();
          });
      });
      next();
    });
}
