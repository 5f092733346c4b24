/**
 * Per pod key, one piece of work at a time, like the kubelet's pod workers: the sync loop
 * hands work out and never waits for it. A sync request waits in a latest-wins slot (many
 * requests while a teardown runs are one sync afterwards, computed from the newest input);
 * other work (a CNI check) queues behind it. Different keys never wait for each other, so
 * one pod's 30 s grace period delays no other pod.
 */
import type { Logger } from '../common/logger.js';

interface KeyQueue {
  running: boolean;
  sync?: () => Promise<void>;
  extra: Array<{ fn: () => Promise<void>; done: () => void }>;
}

export class PodQueues {
  private readonly queues = new Map<string, KeyQueue>();
  private readonly gens = new Map<string, number>();
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly log: Logger) {}

  /** How many pieces of work of `key` have finished: a snapshot read before is stale once this moved. */
  generation(key: string): number {
    return this.gens.get(key) ?? 0;
  }

  /** Is the key idle now (nothing running, nothing waiting)? */
  idleKey(key: string): boolean {
    return !this.queues.has(key);
  }

  /** The key's sync: runs now if the key is idle, else replaces any sync not yet started. */
  request(key: string, fn: () => Promise<void>): void {
    if (this.closed) return;
    const q = this.queue(key);
    q.sync = fn;
    if (!q.running) void this.drain(key, q);
  }

  /** Run `fn` in line with the key's other work; resolves when it has run (or the queues closed). */
  run(key: string, fn: () => Promise<void>): Promise<void> {
    if (this.closed) return Promise.resolve();
    const q = this.queue(key);
    const done = new Promise<void>((resolve) => {
      q.extra.push({ fn: () => fn().finally(resolve), done: resolve });
    });
    if (!q.running) void this.drain(key, q);
    return done;
  }

  /** Nothing runs or waits for any key. */
  idle(): boolean {
    return this.queues.size === 0;
  }

  /** Resolves when every key is idle. */
  whenIdle(): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** No new work starts (agent shutdown, end of --once); work running now is not waited for. */
  close(): void {
    this.closed = true;
    for (const q of this.queues.values()) {
      q.sync = undefined;
      for (const e of q.extra.splice(0)) e.done();
    }
  }

  private queue(key: string): KeyQueue {
    let q = this.queues.get(key);
    if (!q) {
      q = { running: false, extra: [] };
      this.queues.set(key, q);
    }
    return q;
  }

  private async drain(key: string, q: KeyQueue): Promise<void> {
    q.running = true;
    for (;;) {
      if (this.closed) break;
      let fn = q.sync;
      if (fn) q.sync = undefined;
      else fn = q.extra.shift()?.fn;
      if (!fn) break;
      try {
        await fn();
      } catch (err) {
        this.log.error({ err, podName: key }, 'pod sync failed');
      }
      this.gens.set(key, this.generation(key) + 1);
    }
    q.running = false;
    if (this.queues.get(key) === q) this.queues.delete(key);
    if (this.idle()) for (const w of this.idleWaiters.splice(0)) w();
  }
}
