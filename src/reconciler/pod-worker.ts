/**
 * One worker per pod uid: runs the pod machine with the host actors, writes the pod record
 * when its status changes (only then), and logs every transition with pod/app fields.
 * Like the kubelet's pod workers, one pod's work is serialized inside its machine.
 */
import { createActor, type Actor } from 'xstate';
import type { Logger } from '../common/logger.js';
import type { AppStatus } from '../runtime/types.js';
import type { AppObserved, AppRecorded, AppSummary } from '../state-machines/app.machine.js';
import { podMachine, type PodAppInput, type PodAppKind, type PodStateValue } from '../state-machines/pod.machine.js';
import type { Container } from '../api/pod.js';
import type { LoadedPod } from '../api/types.js';
import { isSidecar, podEnding } from './pod-stop.js';
import type { Host } from './host.js';
import { containerId } from './layout.js';
import { createPodActors, newResources, type PodResources } from './pod-actors.js';
import { containerSpecHash } from './pod-changes.js';
import { PodEventDeriver } from './pod-events.js';
import { errnoOf } from '../common/errors.js';
import { removePodDir, writeRecord, type RecordedEvent, type PodRecord } from './records.js';
import { appFailureReason, stepReason } from './status.js';

export function stateName(value: unknown): PodStateValue {
  return (typeof value === 'string' ? value : Object.keys(value as object)[0]) as PodStateValue;
}

/**
 * The app machine's view of a runtime status: running (adopted as is), exited (with
 * `startedAt` only when the execution had been started: without it, it is an interrupted
 * start, not an app exit), or none (nothing, or created but never started: start it).
 */
export function observedApp(st: AppStatus, now: number): AppObserved {
  if (st.state === 'running') return { state: 'running', ...(st.pid ? { pid: st.pid } : {}), startedAt: st.startedAt ?? now };
  if (st.state === 'exited')
    return {
      state: 'exited',
      exitCode: st.exitCode ?? -1,
      finishedAt: st.finishedAt ?? now,
      ...(st.startedAt ? { startedAt: st.startedAt } : {}),
    };
  return { state: 'none' };
}

export class PodWorker {
  readonly rec: PodRecord;
  private actor?: Actor<typeof podMachine>;
  private readonly log: Logger;
  private writes: Promise<void> = Promise.resolve();
  private lastWritten = '';
  /** set once the teardown is done and the pod's directory is being removed: no more record writes */
  private removing = false;
  private terminated?: Promise<void>;
  private onChange: () => void;
  private readonly res: PodResources = newResources();

  constructor(
    private readonly host: Host,
    rec: PodRecord,
    onChange: () => void = () => undefined,
  ) {
    this.rec = rec;
    delete rec.events; // older versions kept events in the record; events.ts keeps them now
    this.onChange = onChange;
    this.log = host.log.child({ pod: rec.uid, podName: rec.key });
  }

  get state(): PodStateValue {
    return this.actor ? stateName(this.actor.getSnapshot().value) : ('pending' as PodStateValue);
  }

  /**
   * Observe the apps on the host, then run the machine from the top (every step is
   * idempotent). `fresh`: the record was made by this agent just now, so nothing of the
   * pod can be on the host yet and there is nothing to observe. Apps seen on the host
   * (running, or exited after they had started) make this an adoption: the machine skips
   * pulling and rendering, and only an app that needs a (re)start fetches its image.
   */
  async start(opts: { stopping?: boolean; fresh?: boolean } = {}): Promise<void> {
    const stopping = opts.stopping ?? false;
    const apps: PodAppInput[] = [];
    let seen = false;
    const now = this.host.clock.now();
    const kinds: Array<[Container, PodAppKind]> = [
      ...(this.rec.pod.spec.initContainers ?? []).map((c): [Container, PodAppKind] => [c, isSidecar(c) ? 'sidecar' : 'init']),
      ...this.rec.pod.spec.containers.map((c): [Container, PodAppKind] => [c, 'app']),
    ];
    for (const [c, kind] of kinds) {
      const prev = this.rec.apps[c.name];
      const id = containerId(this.rec.uid, c.name);
      const st: AppStatus = opts.fresh || stopping ? { containerId: id, state: 'unknown' } : await this.host.runtime.status(id);
      const observed = observedApp(st, now);
      // An execution that exited before it was started is the agent's own interrupted start.
      // Only a regular app seen says init is done (init containers and sidecars run before).
      if (kind === 'app' && (observed.state === 'running' || (observed.state === 'exited' && observed.startedAt !== undefined)))
        seen = true;
      const recorded: AppRecorded = {
        state: prev?.state,
        lastExit: prev?.lastExit ?? null,
        backoffMs: prev?.backoffMs,
        lastError: prev?.lastError ?? null,
        ready: prev?.ready,
        started: prev?.started,
      };
      // a regular app's spec now and the one its execution on the host was started from (an agent
      // killed after the record took a new spec, before the app was replaced: replaced now)
      const spec = kind === 'app' ? { spec: containerSpecHash(c), ...(prev?.specHash ? { runningSpec: prev.specHash } : {}) } : {};
      apps.push({
        name: c.name,
        kind,
        restartCount: prev?.restartCount ?? 0,
        backoffStep: prev?.backoffStep ?? 0,
        observed,
        recorded,
        ...spec,
      });
    }
    const machine = podMachine.provide({ actors: createPodActors(this.host, this.rec, this.res, this.log) });
    this.actor = createActor(machine, {
      clock: this.host.clock,
      input: {
        uid: this.rec.uid,
        key: this.rec.key,
        restartPolicy: this.rec.pod.spec.restartPolicy,
        apps,
        initDone: this.rec.initDone || seen,
        stopping,
        adopt: seen && !stopping,
        now,
        ...podEnding(this.rec, now),
      },
    });
    let lastState = '';
    const lastApps = new Map<string, string>();
    const events = new PodEventDeriver(this.host, this.rec);
    this.actor.subscribe({
      next: (snap) => {
        const state = stateName(snap.value);
        const ctx = snap.context;
        if (state !== lastState) {
          const data: Record<string, unknown> = { state };
          if ((state === 'setupBackoff' || state === 'failed') && ctx.lastError)
            Object.assign(data, { reason: stepReason(ctx.lastError, state === 'setupBackoff'), err: ctx.lastError });
          if (state === 'setupBackoff') data.retryInMs = ctx.backoffMs;
          if (state === 'failed') this.log.error(data, 'pod state');
          else if (state === 'setupBackoff') this.log.warn(data, 'pod state');
          else this.log.info(data, 'pod state');
          lastState = state;
        }
        for (const [app, s] of Object.entries(ctx.apps)) {
          const sig = `${s.state}/${s.restartCount}`;
          if (lastApps.get(app) !== sig) {
            lastApps.set(app, sig);
            const data: Record<string, unknown> = { app, state: s.state, restartCount: s.restartCount };
            if (s.lastExit) data.exitCode = s.lastExit.exitCode;
            if (s.state === 'backoff') data.retryInMs = s.backoffMs;
            if (s.lastError) data.err = s.lastError;
            const reason = appFailureReason(s);
            if (reason) data.reason = reason;
            if (s.state === 'failed' || reason) this.log.warn(data, 'app state');
            else this.log.info(data, 'app state');
          }
        }
        events.observe({ state, apps: ctx.apps, lastError: ctx.lastError });
        this.persist(state, ctx.apps, ctx.lastError, ctx.netns, ctx.attachments, ctx.initDone);
        this.onChange();
      },
      error: (err) => this.log.error({ err }, 'pod worker failed'),
    });
    this.actor.start();
  }

  private persist(
    phase: PodStateValue,
    apps: Record<string, AppSummary>,
    lastError: PodRecord['lastError'],
    netns: string | null,
    attachments: PodRecord['attachments'],
    initDone: boolean,
  ) {
    if (phase === 'terminated') return;
    const r = this.rec;
    r.phase = phase;
    r.lastError = lastError;
    r.netns = netns ?? r.netns;
    if (attachments.length) r.attachments = attachments;
    r.initDone = initDone;
    for (const [name, s] of Object.entries(apps)) r.apps[name] = { ...r.apps[name]!, ...s };
    const { updatedAt: _u, ...rest } = r;
    const sig = JSON.stringify(rest);
    if (sig === this.lastWritten) return;
    this.lastWritten = sig;
    void this.writeNow();
  }

  /** Write the record as it is now, in line with the state writes (an older queued snapshot never overwrites it). */
  private writeNow(): Promise<void> {
    if (this.removing) return this.writes; // the record goes with the pod's directory
    this.rec.updatedAt = this.host.clock.now();
    const snapshot = JSON.parse(JSON.stringify(this.rec)) as PodRecord;
    this.writes = this.writes
      .then(() => writeRecord(this.host.layout, snapshot))
      .catch((err: unknown) => {
        // the directory went with a removal that began after this write was queued
        if (this.removing && errnoOf(err) === 'ENOENT') return;
        this.log.error({ err }, 'pod record write failed');
      });
    return this.writes;
  }

  /**
   * Emit events about the pod (a repaired network) and write the record in line with the
   * state writes (the repair changed its attachments), so that an older queued snapshot
   * never overwrites it.
   */
  recordEvents(events: RecordedEvent[]): Promise<void> {
    const r = this.rec;
    for (const e of events) {
      const where = [e.network && `network ${e.network}`, e.interface && `interface ${e.interface}`].filter(Boolean).join(', ');
      this.host.events.emit({
        uid: r.uid,
        podName: r.key,
        type: e.type,
        reason: e.reason,
        message: where ? `${where}: ${e.message}` : e.message,
      });
    }
    return this.writeNow();
  }

  /**
   * The same spec read from another place or commit (a git source moved on, the document
   * moved in its file): the record says where it was applied from (`source.revision` for
   * status), written in line with the state writes.
   */
  updateSource(source: PodRecord['source']): Promise<void> {
    const r = this.rec;
    r.source = source;
    return this.writeNow();
  }

  /**
   * The same pod with new specs for some regular containers (pod-changes.ts): the record takes
   * the new spec first (an agent killed after this replaces the apps at its next start), then
   * the machine replaces each app whose execution runs an older spec.
   */
  updateApps(pod: LoadedPod, apps: string[]): Promise<void> {
    const r = this.rec;
    for (const name of apps) {
      const old = r.pod.spec.containers.find((c) => c.name === name);
      if (old && !this.res.retired.has(name)) this.res.retired.set(name, old);
    }
    r.pod = pod.pod;
    r.hash = pod.hash;
    r.source = pod.source;
    for (const c of pod.pod.spec.containers) {
      const a = r.apps[c.name];
      if (!a || a.image === c.image) continue;
      a.image = c.image;
      delete a.imageDigest; // set again when the new image is pulled
    }
    const specs = Object.fromEntries(pod.pod.spec.containers.map((c) => [c.name, containerSpecHash(c)]));
    return this.writeNow().then(() => {
      this.log.info({ apps }, 'container spec changed: replacing the apps');
      this.actor?.send({ type: 'pod.update', specs });
    });
  }

  /** Tear the pod down completely; resolves when nothing of it is left on the host. */
  terminate(): Promise<void> {
    if (this.terminated) return this.terminated;
    if (!this.actor) throw new Error('terminate before start');
    const actor = this.actor;
    this.terminated = new Promise<void>((resolve) => {
      const sub = actor.subscribe((snap) => {
        if (snap.status === 'done') {
          sub.unsubscribe();
          resolve();
        }
      });
      if (actor.getSnapshot().status === 'done') resolve();
    }).then(async () => {
      this.removing = true;
      await this.writes;
      await removePodDir(this.host.layout, this.rec.uid);
      this.log.info({ state: 'gone' }, 'pod removed');
      this.onChange();
    });
    actor.send({ type: 'pod.stop' });
    return this.terminated;
  }

  /** Stop driving the pod without touching it (agent shutdown: apps keep running). */
  async detach(): Promise<void> {
    this.actor?.stop();
    await this.writes;
  }

  snapshot() {
    return this.actor?.getSnapshot();
  }
}
