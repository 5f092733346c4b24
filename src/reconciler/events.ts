/**
 * Pod events, kubectl-style (contract C3): whoever sees something happen to a pod calls
 * `host.events.emit(...)`; the sink deduplicates and counts like the kubelet's event
 * correlator (same type + reason + app + message → count + 1, lastTimestamp moves) and keeps
 * them in `<state>/events/<uid>.json`, one file per pod, apart from the pod record so that
 * event writes never race its writes. A pod keeps at most MAX_EVENTS_PER_POD events, each
 * for EVENT_TTL_MS after it last happened (the kube-apiserver's default --event-ttl); the
 * file outlives the pod's directory by that much, so the Killing of a deleted pod can still
 * be read, and is removed by `sweep()` once its newest event has expired.
 *
 * emit() never throws and never blocks: writes are queued per pod, in order.
 */
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../common/clock.js';
import { readdirIfExists, readJsonIfExists, writeJsonAtomic } from '../common/fs.js';
import type { Logger } from '../common/logger.js';
import type { Layout } from './layout.js';

export interface PodEventInput {
  uid: string;
  podName: string;
  /** the container the event is about (kubectl's involvedObject.fieldPath spec.containers{app}) */
  app?: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface EventSink {
  /** record an event; never throws, never blocks (writes are queued) */
  emit(ev: PodEventInput): void;
  /** resolves when every event emitted so far is written (agent shutdown, tests) */
  flush(): Promise<void>;
}

/** One stored event, as kubectl shows it (count, first and last time). */
export interface StoredEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  app?: string;
  count: number;
  /** epoch ms */
  firstTimestamp: number;
  lastTimestamp: number;
  /** who reported it (kubectl's From column) */
  source: string;
}

export interface PodEventsFile {
  version: 1;
  uid: string;
  podName: string;
  /** oldest first by lastTimestamp */
  events: StoredEvent[];
}

export const MAX_EVENTS_PER_POD = 100;
export const EVENT_TTL_MS = 60 * 60 * 1000;
export const EVENT_SOURCE = 'berth';

export const eventsDir = (l: Layout) => join(l.stateDir, 'events');
const UID_RE = /^[0-9a-f-]{36}$/;
export const eventsPath = (l: Layout, uid: string) => join(eventsDir(l), `${uid}.json`);

/** The events kept for a pod, oldest first, expired ones left out. */
export async function readPodEvents(l: Layout, uid: string, now: number): Promise<StoredEvent[]> {
  if (!UID_RE.test(uid)) return [];
  const f = await readJsonIfExists<PodEventsFile>(eventsPath(l, uid)).catch(() => undefined); // events are advisory: a corrupt file shows none and is rewritten at the next event
  return (f?.events ?? []).filter((e) => now - e.lastTimestamp < EVENT_TTL_MS);
}

/** Every pod's kept events (pods deleted within the hour too), by events file. */
export async function readAllEvents(l: Layout, now: number): Promise<Array<{ uid: string; podName: string; events: StoredEvent[] }>> {
  const names = await readdirIfExists(eventsDir(l));
  const out: Array<{ uid: string; podName: string; events: StoredEvent[] }> = [];
  for (const n of names) {
    const uid = n.replace(/\.json$/, '');
    if (!n.endsWith('.json') || !UID_RE.test(uid)) continue;
    const f = await readJsonIfExists<PodEventsFile>(join(eventsDir(l), n)).catch(() => undefined); // advisory, as in readPodEvents
    const events = (f?.events ?? []).filter((e) => now - e.lastTimestamp < EVENT_TTL_MS);
    if (f && events.length) out.push({ uid, podName: f.podName, events });
  }
  return out;
}

/** Merge `ev` into `list` (kubelet correlator: identical events are counted, not repeated). */
export function mergeEvent(list: StoredEvent[], ev: PodEventInput, now: number): StoredEvent[] {
  const live = list.filter((e) => now - e.lastTimestamp < EVENT_TTL_MS);
  const i = live.findIndex(
    (e) => e.type === ev.type && e.reason === ev.reason && e.message === ev.message && (e.app ?? '') === (ev.app ?? ''),
  );
  if (i >= 0) {
    const [same] = live.splice(i, 1);
    live.push({ ...same!, count: same!.count + 1, lastTimestamp: now });
  } else {
    live.push({
      type: ev.type,
      reason: ev.reason,
      message: ev.message,
      ...(ev.app ? { app: ev.app } : {}),
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: EVENT_SOURCE,
    });
  }
  return live.slice(-MAX_EVENTS_PER_POD);
}

/** The state-dir sink of the agent. */
export class FileEventSink implements EventSink {
  private readonly pods = new Map<string, { file: PodEventsFile; loaded: Promise<void>; queue: Promise<void>; dirty: boolean }>();
  private readonly log: Logger;
  /** the first emit sweeps once, so that agents run only with --once drop expired files too */
  private sweeping?: Promise<unknown>;

  constructor(private readonly opts: { layout: Layout; clock: Pick<Clock, 'now'>; log: Logger }) {
    this.log = opts.log.child({ component: 'events' });
  }

  emit(ev: PodEventInput): void {
    try {
      if (!UID_RE.test(ev.uid)) {
        this.log.warn({ event: ev.reason }, `event for a pod without a uid dropped: ${ev.message}`);
        return;
      }
      const now = this.opts.clock.now();
      this.sweeping ??= this.sweep().catch((err: unknown) => this.log.warn({ err }, 'event sweep failed'));
      this.log.debug({ pod: ev.uid, podName: ev.podName, ...(ev.app ? { app: ev.app } : {}), event: ev.reason, type: ev.type }, ev.message);
      let p = this.pods.get(ev.uid);
      if (!p) {
        const file: PodEventsFile = { version: 1, uid: ev.uid, podName: ev.podName, events: [] };
        const loaded = readJsonIfExists<PodEventsFile>(eventsPath(this.opts.layout, ev.uid))
          .then((f) => {
            if (f?.events) file.events = [...f.events, ...file.events];
          })
          .catch((err: unknown) => this.log.warn({ pod: ev.uid, err }, 'unreadable events file: starting a new one'));
        p = { file, loaded, queue: Promise.resolve(), dirty: false };
        this.pods.set(ev.uid, p);
      }
      const pod = p;
      pod.file.podName = ev.podName;
      pod.queue = pod.queue
        .then(() => pod.loaded)
        .then(() => {
          pod.file.events = mergeEvent(pod.file.events, ev, now);
          pod.dirty = true;
          return this.write(pod);
        })
        .catch((err: unknown) => this.log.warn({ pod: ev.uid, err }, 'event write failed'));
    } catch (err) {
      this.log.warn({ err }, 'event dropped');
    }
  }

  /** Write once for a burst: the queue's later entries find nothing dirty. */
  private async write(pod: { file: PodEventsFile; dirty: boolean }): Promise<void> {
    if (!pod.dirty) return;
    pod.dirty = false;
    await writeJsonAtomic(eventsPath(this.opts.layout, pod.file.uid), pod.file, 0o600);
  }

  async flush(): Promise<void> {
    await this.sweeping;
    await Promise.all([...this.pods.values()].map((p) => p.queue));
  }

  /**
   * Remove the files (and forget the memory) of pods whose every event has expired; trims
   * the others on their next write. Returns the number of files removed.
   */
  async sweep(): Promise<number> {
    const now = this.opts.clock.now();
    const dir = eventsDir(this.opts.layout);
    const names = await readdirIfExists(dir);
    let removed = 0;
    for (const n of names) {
      const uid = n.replace(/\.json$/, '');
      if (!n.endsWith('.json') || !UID_RE.test(uid)) {
        // a temp file an interrupted write left (a minute old: no write of ours takes that long)
        if (n.endsWith('.tmp')) {
          const st = await stat(join(dir, n)).catch(() => undefined); // gone already: nothing to sweep
          if (st && now - st.mtimeMs > 60_000) await rm(join(dir, n), { force: true });
        }
        continue;
      }
      const p = this.pods.get(uid);
      if (p) {
        const q = p.queue;
        await q;
        if (p.queue !== q) continue;
      }
      // a corrupt events file has no live event: it is swept like an expired one
      const events = p ? p.file.events : ((await readJsonIfExists<PodEventsFile>(join(dir, n)).catch(() => undefined))?.events ?? []);
      if (events.some((e) => now - e.lastTimestamp < EVENT_TTL_MS)) continue;
      if (p && this.pods.get(uid) !== p) continue;
      this.pods.delete(uid);
      await rm(join(dir, n), { force: true });
      removed++;
    }
    return removed;
  }
}

/** For commands that only look (status, describe, --dry-run): nothing is written. */
export const discardEvents: EventSink = { emit: () => undefined, flush: async () => undefined };
