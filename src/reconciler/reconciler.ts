/**
 * The reconciler: desired state from the spec directories, applied state from pod records,
 * observed state from the host; one worker per pod uid. `once()` converges and waits until
 * every pod is settled; `run()` keeps converging as files change and repairs drift.
 */
import { codeOf } from '../common/errors.js';
import { writeJsonAtomic } from '../common/fs.js';
import type { Logger } from '../common/logger.js';
import { every, sleep, type Clock, type TimerHandle } from '../common/clock.js';
import { cachedConfigList } from '../cni/index.js';
import type { NetworkConfigList } from '../cni/types.js';
import type { DesiredSet, LoadedPod, SpecIssue } from '../api/types.js';
import { checkPodAttachments, FULL_CHECK_EVERY } from './attachments.js';
import { IssueEventTracker } from './issue-events.js';
import { loadDesired, recordFor, sourceReport, type InputReport } from './desired.js';
import { bridgesOf, removeUnusedBridges } from './gc.js';
import type { Host } from './host.js';
import { containerId, inputReportPath, installationId, netnsName, podUid, sandboxId } from './layout.js';
import { diff, type ObservedApp, type PlanAction } from './plan.js';
import { PodQueues } from './pod-queues.js';
import { PodWorker } from './pod-worker.js';
import type { GitSource } from '../source/git.js';
import { podLevelHash } from './pod-changes.js';
import { heldRecord, listRecords, readRecords, writeRecord, type HeldRecord, type PodRecord } from './records.js';
import { watchSpecDirs } from './sources.js';
import { converged, statusRows, type PodStatusRow } from './status.js';
import { appcPostStopRunning } from './appc-hooks.js';
import { driftDirs, repairAppDrift, runningApps, watchDrift } from './drift.js';

export interface ReconcilerOptions {
  /** directories with CNI conflists usable by name (`/etc/cni/net.d`, `<config>/net.d`) */
  cniConfDirs: string[];
  /** daemon: how often to relist the host for drift (ms, `--relist-interval`); default 10 s */
  relistMs?: number;
  /** the old name of relistMs (`--resync`) */
  resyncMs?: number;
  /**
   * `--once`: how long an app must have been running to count as converged (ms); default 0:
   * converged is what the host shows (the monitor reported the start and no exit file is
   * there when the result is taken, see once()). A longer window catches apps that crash
   * some time after they start.
   */
  minReadyMs?: number;
  /** daemon: how often to CHECK every running pod's CNI attachments (ms); 0 turns it off. Default 60 s. */
  cniCheckMs?: number;
  /** git sources (`--git-repo`), read beside the spec directories */
  gitSources?: GitSource[];
  /** daemon: how often each git source is fetched (ms, ±10 %). Default 60 s. */
  gitIntervalMs?: number;
}

export interface OnceResult {
  exitCode: 0 | 1 | 2;
  rows: PodStatusRow[];
  issues: SpecIssue[];
}

export class Reconciler {
  private readonly workers = new Map<string, PodWorker>();
  private readonly queues: PodQueues;
  private installation?: string;
  private readonly log: Logger;
  private syncing: Promise<void> = Promise.resolve();
  /** a sync asked for while one runs and not started yet: later requests join it (coalesced) */
  private syncQueued?: Promise<void> | undefined;
  private lastDesired?: DesiredSet;
  private pruned = false;
  private checking?: Promise<number> | undefined;
  /** check rounds each pod has had: the plugins' CHECK runs every FULL_CHECK_EVERY-th (attachments.ts) */
  private readonly checkRounds = new Map<string, number>();
  private gcDone = false;
  private readonly issueEvents: IssueEventTracker;
  private closed = false;
  /** record creation and the attachment/bridge clean-up never overlap (a GC must see every record whose ADD may run) */
  private recordLock: Promise<unknown> = Promise.resolve();
  private gone: PodRecord[] = [];
  private cleanupWanted = false;
  private cleaning?: Promise<void> | undefined;
  /** uids of pods held for an unreadable record (records.ts HeldRecord), already reported */
  private readonly heldReported = new Set<string>();
  /** pods held for an unreadable record at the last sync (rows() shows them) */
  private held: HeldRecord[] = [];
  /** pod state changes seen so far, and who waits for the next one (once()) */
  private changes = 0;
  private changeWaiters: Array<() => void> = [];
  /** the pod work queued is being waited for (its end counts as a change) */
  private idleWatch?: Promise<void> | undefined;

  constructor(
    private readonly host: Host,
    private readonly opts: ReconcilerOptions,
  ) {
    this.log = host.log.child({ component: 'reconciler' });
    this.issueEvents = new IssueEventTracker(host);
    this.queues = new PodQueues(this.log);
  }

  private async uidOf(create = true): Promise<(p: LoadedPod) => string> {
    const inst = this.installation ?? (await installationId(this.host.layout, { create }));
    if (create) this.installation = inst;
    // the uid follows the pod-level spec only: a change of one container's own fields is the same pod (pod-changes.ts)
    return (p) => podUid(inst, p.key, podLevelHash(p.pod));
  }

  async loadDesired(): Promise<DesiredSet> {
    const git = this.opts.gitSources ?? [];
    await Promise.all(git.map((g) => g.init()));
    return loadDesired(
      this.host,
      this.opts.cniConfDirs,
      this.log,
      git.map((g) => g.snapshot()),
    );
  }

  /**
   * Fetch every git source now (SIGHUP, `--once`, the poll timer); a new commit is applied by
   * the sync that follows. Never rejects: a failed fetch is that source's error.
   */
  async refreshSources(opts: { sync?: boolean } = {}): Promise<void> {
    const changed = await Promise.all((this.opts.gitSources ?? []).map((g) => g.refresh()));
    if (opts.sync && changed.some(Boolean)) await this.sync();
  }

  /** The plan for the current input; with `observe` (--dry-run), also app restarts the host needs, and nothing is written. */
  async plan(observe = false): Promise<{ desired: DesiredSet; records: PodRecord[]; plan: PlanAction[] }> {
    const desired = await this.loadDesired();
    const records = await listRecords(this.host.layout);
    const observed: Record<string, Record<string, ObservedApp>> = {};
    if (observe) {
      for (const r of records) {
        observed[r.uid] = {};
        for (const c of r.pod.spec.containers) {
          const st = await this.host.runtime.status(containerId(r.uid, c.name));
          observed[r.uid]![c.name] = { state: st.state, ...(st.exitCode !== undefined ? { exitCode: st.exitCode } : {}) };
        }
      }
    }
    return { desired, records, plan: diff(desired, records, await this.uidOf(!observe), observed) };
  }

  /** Run `fn` in line with the pod key's other work (its pod worker queue). */
  private serial(key: string, fn: () => Promise<void>): Promise<void> {
    return this.queues.run(key, fn);
  }

  private withRecordLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.recordLock.then(fn, fn);
    this.recordLock = run.catch(() => undefined); // the chain only orders; the caller gets the error from `run`
    return run;
  }

  private async startWorker(rec: PodRecord, opts: { stopping?: boolean; fresh?: boolean } = {}): Promise<PodWorker> {
    const w = new PodWorker(this.host, rec, () => this.changed());
    this.workers.set(rec.uid, w);
    await w.start(opts);
    return w;
  }

  /**
   * Write a new pod's record and start its worker (under the record lock: see gcAttachments).
   * A record that exists but cannot be read is never written over: that pod is held.
   */
  private async createPod(rec: PodRecord): Promise<void> {
    if (this.closed || this.workers.has(rec.uid)) return;
    await this.withRecordLock(async () => {
      if (this.closed) return;
      const held = await heldRecord(this.host.layout, rec.uid);
      if (held) return this.reportHeld([held], rec.key);
      await writeRecord(this.host.layout, rec, { create: true });
      await this.startWorker(rec, { fresh: true });
    });
  }

  private async terminate(rec: PodRecord): Promise<void> {
    const w = this.workers.get(rec.uid) ?? (await this.startWorker(rec, { stopping: true }));
    await w.terminate();
    if (this.workers.get(rec.uid) === w) this.workers.delete(rec.uid);
    this.afterTeardown(rec);
  }

  /**
   * Converge once: read the input, then hand every pod key its work and return — a pod's
   * teardown never holds up another pod (issue 13 item 1). Calls while a sync runs are
   * coalesced into one sync after it.
   */
  sync(): Promise<void> {
    if (this.syncQueued) return this.syncQueued;
    const next = this.syncing
      .then(() => {
        this.syncQueued = undefined;
        return this.closed ? undefined : this.doSync();
      })
      .catch((err) => this.log.error({ err }, 'sync failed'));
    this.syncQueued = next;
    this.syncing = next;
    return next;
  }

  /** Nothing is running or waiting: no pod key has work, no sync is queued, no clean-up runs. */
  private idle(): boolean {
    return this.queues.idle() && !this.syncQueued && !this.cleaning;
  }

  private async doSync(): Promise<void> {
    if (!this.pruned) {
      this.pruned = true;
      const n = await this.host.images.pruneIncomplete().catch((err) => this.log.warn({ err }, 'image prune failed'));
      if (n) this.log.info({ count: n }, 'removed half-written image data left by a crash');
    }
    // A fetched commit is switched to here, between syncs, so that one sync reads one commit.
    for (const g of this.opts.gitSources ?? [])
      await g.activate().catch((err) => this.log.error({ err, repo: g.config.repo }, 'git checkout switch failed'));
    const gens = new Map<string, number>();
    // the generation of each key's queue before its records are read: a key that did work since has a stale snapshot
    const before = (key: string) => this.queues.generation(key);
    const { records, held } = await readRecords(this.host.layout);
    this.held = held;
    this.reportHeld(held);
    for (const r of records) if (!gens.has(r.key)) gens.set(r.key, before(r.key));
    const desired = await this.loadDesired();
    for (const p of desired.pods) if (!gens.has(p.key)) gens.set(p.key, before(p.key));
    this.lastDesired = desired;
    for (const i of desired.issues) {
      if (i.severity === 'error') this.log.error({ file: i.file, line: i.line, column: i.column, path: i.path, podName: i.key }, i.message);
      else this.log.warn({ file: i.file, line: i.line, column: i.column, path: i.path, podName: i.key }, i.message);
    }
    for (const c of desired.conflicts) this.log.error({ file: c.file, line: c.line, podName: c.key, reason: 'Conflict' }, c.message);
    this.issueEvents.report(
      desired.issues,
      records,
      desired.pods.map((p) => `${p.key}@${p.hash}`),
    );
    await writeJsonAtomic(inputReportPath(this.host.layout), {
      at: new Date(this.host.clock.now()).toISOString(),
      issues: desired.issues,
      invalidKeys: desired.invalidKeys,
      conflicts: desired.conflicts,
      loaded: desired.pods.map((p) => `${p.key}@${p.hash}`),
      ...((this.opts.gitSources ?? []).length
        ? { sources: (this.opts.gitSources ?? []).map((g) => sourceReport(g.snapshot(), g.config)) }
        : {}),
    } satisfies InputReport);
    if (this.gcDone) {
      // A temporary file too young at the first pass (the agent killed just before this one
      // started) goes at a later pass once it is old enough (issue 14 item 10).
      await this.host.cni
        .removeStaleCacheFiles()
        .catch((err: unknown) => this.log.warn({ err }, 'cni cache temporary files could not be removed'));
    }
    const uidOf = await this.uidOf();
    const byKey = new Map<string, PodRecord[]>();
    for (const p of desired.pods) byKey.set(p.key, []);
    for (const r of records) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
    for (const [key, snap] of byKey) {
      const gen = gens.get(key) ?? 0;
      this.queues.request(key, async () => {
        // the snapshot is good while the key did nothing since it was read; else read again
        const recs = this.queues.generation(key) === gen ? snap : (await listRecords(this.host.layout)).filter((r) => r.key === key);
        await this.syncKey(key, recs, desired, uidOf);
      });
    }
    if (!this.gcDone) {
      // The first pass collects what a crash left. It waits for the record lock behind the
      // new pods handed out just now, so that their records are seen (their ADD comes later).
      this.gcDone = true;
      this.afterTeardown();
    }
  }

  /** One pod key's sync, in its queue: the plan of this key from its records now, applied in order. */
  private async syncKey(key: string, records: PodRecord[], desired: DesiredSet, uidOf: (p: LoadedPod) => string): Promise<void> {
    const plan = diff({ ...desired, pods: desired.pods.filter((p) => p.key === key) }, records, uidOf);
    const recs = new Map(records.map((r) => [r.uid, r]));
    for (const a of plan) {
      if (this.closed) return;
      switch (a.action) {
        case 'delete':
          this.log.info({ podName: a.key, pod: a.uid, reason: a.reason }, 'deleting pod');
          await this.terminate(recs.get(a.uid)!);
          break;
        case 'create':
        case 'update': {
          const pod = a.pod;
          if (a.action === 'update') {
            this.log.info({ podName: a.key, pod: a.oldUid, newPod: a.uid, fields: a.fields }, 'pod-level spec changed: replacing pod');
            await this.terminate(recs.get(a.oldUid)!);
          } else this.log.info({ podName: a.key, pod: a.uid, file: pod.source.file }, 'creating pod');
          await this.createPod(recordFor(pod, a.uid, desired, this.host.clock.now()));
          break;
        }
        case 'update-apps': {
          const rec = recs.get(a.uid)!;
          const names = a.apps.map((c) => c.name);
          this.log.info({ podName: a.key, pod: a.uid, apps: names }, 'container spec changed: restarting only those apps');
          const w = this.workers.get(a.uid);
          if (w) await w.updateApps(a.pod, names);
          else if (rec.phase === 'terminating' || rec.phase === 'terminated') {
            // an interrupted teardown is finished first (termination is one-way), then the pod starts afresh
            await this.terminate(rec);
            await this.createPod(recordFor(a.pod, a.uid, desired, this.host.clock.now()));
          } else if (!this.closed) {
            // no worker yet (agent start): it adopts the apps and replaces those started from the older spec
            const started = await this.startWorker(rec);
            await started.updateApps(a.pod, names);
          }
          break;
        }
        case 'keep': {
          const w = this.workers.get(a.uid);
          const rec = recs.get(a.uid)!;
          const pod = a.pod;
          if (!w && pod && (rec.phase === 'terminating' || rec.phase === 'terminated')) {
            // A teardown a killed agent left half done and the pod's file put back: termination
            // is one-way, so finish it and start the pod afresh (the app's exit was our own stop,
            // not a restart).
            this.log.info({ podName: a.key, pod: a.uid }, 'finishing an interrupted teardown before starting the pod again');
            await this.terminate(rec);
            await this.createPod(recordFor(pod, a.uid, desired, this.host.clock.now()));
          } else if (!w) {
            if (pod) rec.source = pod.source; // written with the worker's first state
            if (!this.closed) await this.startWorker(rec);
          } else {
            // same spec from another commit or place: the record says where it was applied from
            if (pod && JSON.stringify(w.rec.source) !== JSON.stringify(pod.source)) await w.updateSource(pod.source);
            await this.repairDrift(w);
          }
          break;
        }
        default:
          break;
      }
    }
  }

  /** Say once per pod (log and event) that it is held for its unreadable record; the event sink counts repeats. */
  private reportHeld(held: HeldRecord[], podName?: string): void {
    for (const h of held) {
      if (this.heldReported.has(h.uid)) continue;
      this.heldReported.add(h.uid);
      this.log.error({ pod: h.uid, ...(podName ? { podName } : {}), reason: 'DataLoss', err: h.error }, h.error.message);
      this.host.events.emit({ uid: h.uid, podName: podName ?? h.uid, type: 'Warning', reason: 'DataLoss', message: h.error.message });
    }
  }

  /** After teardowns: stale CNI attachments, bridges no pod uses, runtime leftovers; batched, never overlapping pod creation. */
  private afterTeardown(rec?: PodRecord): void {
    if (rec) this.gone.push(rec);
    this.cleanupWanted = true;
    this.cleaning ??= (async () => {
      while (this.cleanupWanted) {
        this.cleanupWanted = false;
        const gone = this.gone.splice(0);
        await this.withRecordLock(async () => {
          await this.gcAttachments().catch((err) => this.log.warn({ err }, 'cni gc failed'));
          const { records: left, held } = await readRecords(this.host.layout);
          // a held pod's networks are unknown: its bridges may be any, so none is removed while one is held
          if (held.length === 0)
            await removeUnusedBridges(
              this.host.bridges,
              gone.flatMap((r) => r.networks.flatMap((n) => bridgesOf(n.conflist))),
              left,
              this.log,
            );
          if (gone.length && left.length === 0 && held.length === 0)
            await this.host.runtime.prune().catch((err) => this.log.warn({ err }, 'runtime prune failed'));
        }).catch((err) => this.log.warn({ err }, 'clean-up after teardown failed'));
      }
    })().finally(() => (this.cleaning = undefined));
  }

  /**
   * CNI-15: attachments in berth's CNI cache that no pod record accounts for (a crash between
   * ADD and teardown's end, a record removed by hand) are garbage: each network that has such
   * an entry gets gcNetworkList with the valid attachments of every record (loopback and each
   * interface of each pod), which DELs the stale ones with their cached config, netns and
   * arguments, and sends GC to plugins of lists ≥1.1.0. Runs at the first sync and after
   * deletions (records of pods being set up exist before their ADD, so they are never taken).
   * Temporary files of interrupted cache writes go first (issue 14 item 10).
   */
  private async gcAttachments(): Promise<void> {
    await this.host.cni
      .removeStaleCacheFiles()
      .catch((err: unknown) => this.log.warn({ err }, 'cni cache temporary files could not be removed'));
    const { records, held } = await readRecords(this.host.layout);
    const valid = records.flatMap((r) => {
      const id = sandboxId(r.uid);
      return [{ containerID: id, ifname: 'lo' }, ...r.networks.map((n) => ({ containerID: id, ifname: n.interface }))];
    });
    // every attachment of a held pod is kept: its record, which would say which are its, cannot be read
    const heldIds = new Set(held.map((h) => sandboxId(h.uid)));
    const isValid = (a: { containerId: string; ifName: string }) =>
      heldIds.has(a.containerId) || valid.some((v) => v.containerID === a.containerId && v.ifname === a.ifName);
    const lists = new Map<string, NetworkConfigList>();
    for (const a of await this.host.cni.getCachedAttachments()) {
      if (lists.has(a.networkName) || isValid(a)) continue;
      let list: NetworkConfigList | undefined;
      try {
        list = cachedConfigList(a);
      } catch (err) {
        this.log.warn({ err, network: a.networkName, containerId: a.containerId }, 'cni cache entry has an unreadable config');
      }
      if (list) lists.set(a.networkName, list);
    }
    for (const list of lists.values()) {
      try {
        await this.host.cni.gcNetworkList(list, { validAttachments: valid });
        this.log.info({ network: list.name, event: 'cni.gc' }, 'stale cni attachments collected');
      } catch (err) {
        this.log.warn({ err, network: list.name }, 'cni gc failed');
      }
    }
  }

  /** A running pod whose sandbox vanished (someone deleted the netns) is recreated. */
  private async repairDrift(w: PodWorker): Promise<void> {
    const rec = w.rec;
    if (w.state !== 'running') return;
    if (rec.pod.spec.hostNetwork || (await this.host.netns.exists(netnsName(rec.uid)))) {
      // the sandbox is there: the apps' monitors, trees and bundles (drift.ts)
      await repairAppDrift(this.host, rec, runningApps(w.snapshot()?.context.apps), this.log.child({ pod: rec.uid, podName: rec.key }));
      return;
    }
    this.log.warn({ pod: rec.uid, podName: rec.key }, 'pod sandbox is gone: recreating the pod');
    this.host.events.emit({
      uid: rec.uid,
      podName: rec.key,
      type: 'Normal',
      reason: 'SandboxChanged',
      message: 'Pod sandbox changed, it will be killed and re-created.',
    });
    await w.terminate();
    this.workers.delete(rec.uid);
    const fresh = { ...rec, phase: 'pending' as const, netns: null, attachments: [], initDone: false, lastError: null };
    for (const a of Object.values(fresh.apps)) Object.assign(a, { state: undefined, pid: null });
    await this.withRecordLock(async () => {
      if (this.closed) return;
      await writeRecord(this.host.layout, fresh, { create: true });
      await this.startWorker(fresh);
    });
  }

  /**
   * Daemon: CHECK the attachments of every running pod (one pod at a time, in line with its
   * other work); a failed CHECK is repaired (DEL + ADD), logged with pod/network fields and
   * recorded as an event in the pod record. Returns the number of repairs. Rounds never overlap.
   */
  checkNetworks(signal?: AbortSignal): Promise<number> {
    this.checking ??= this.checkRound(signal).finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async checkRound(signal?: AbortSignal): Promise<number> {
    let repairs = 0;
    for (const w of [...this.workers.values()]) {
      if (signal?.aborted) break;
      if (w.state !== 'running' || w.rec.pod.spec.hostNetwork) continue;
      await this.serial(w.rec.key, async () => {
        if (w.state !== 'running' || this.workers.get(w.rec.uid) !== w) return;
        // A vanished sandbox is repairDrift's to recreate (the whole pod), not CHECK's.
        if (!(await this.host.netns.exists(netnsName(w.rec.uid)))) return;
        const round = this.checkRounds.get(w.rec.uid) ?? 0;
        this.checkRounds.set(w.rec.uid, round + 1);
        const full = round % FULL_CHECK_EVERY === 0;
        // a CHECK cut short by the agent's stop is no failure (it logged "pod sync failed" at every SIGTERM)
        const events = await checkPodAttachments(this.host, w.rec, this.host.log.child({ pod: w.rec.uid, podName: w.rec.key }), signal, {
          full,
        }).catch((err: unknown) => {
          if (signal?.aborted && codeOf(err) === 'Canceled') return [];
          throw err;
        });
        if (!events.length) return;
        repairs += events.length;
        await w.recordEvents(events);
      });
    }
    for (const uid of [...this.checkRounds.keys()]) if (!this.workers.has(uid)) this.checkRounds.delete(uid);
    return repairs;
  }

  /** Status rows of every pod driven now, plus rows for inputs that could not be applied. */
  rows(): PodStatusRow[] {
    const d = this.lastDesired;
    return statusRows(
      [...this.workers.values()].map((w) => ({ rec: w.rec, live: liveFromRecord(w.rec) })),
      d?.issues ?? [],
      d?.conflicts ?? [],
      d?.pods.map((p) => `${p.key}@${p.hash}`),
      this.held,
    );
  }

  /** Is every pod where it will stay without outside help (converged, or failed for good)? */
  private settled(): boolean {
    if ([...this.workers.values()].some((w) => w.state === 'terminating')) return false;
    return [...this.workers.values()].every((w) => {
      const snap = w.snapshot();
      if (!snap) return false;
      const state = w.state;
      if (appcPostStopRunning(w.rec.uid)) return false; // an ACI app is still ending (appc-hooks.ts)
      if (state === 'failed' || state === 'completed') return true;
      if (state !== 'running') return false;
      const apps = Object.entries(snap.context.apps);
      if (apps.length < w.rec.pod.spec.containers.length) return false;
      const now = this.host.clock.now();
      const minReady = this.opts.minReadyMs ?? 0;
      const spec = [...w.rec.pod.spec.containers, ...(w.rec.pod.spec.initContainers ?? [])];
      // converged when the kubelet would call the pod Ready: an app with a readiness probe when it
      // passes; others started (startup probe) and still running after --min-ready
      return apps.every(([name, a]) => {
        if (a.state === 'succeeded' || a.state === 'failed') return true;
        if (a.state !== 'running') return false;
        if (spec.find((c) => c.name === name)?.readinessProbe) return a.ready === true;
        return a.started !== false && now - (a.startedAt ?? 0) >= minReady;
      });
    });
  }

  /**
   * Settled as the machines see it, checked against the host once more: every app a machine
   * holds running still has no exit file and a live process (an app that crashed right after
   * its start report counts only once its exit is seen and answered).
   */
  private async appsAlive(): Promise<boolean> {
    for (const w of this.workers.values()) {
      const apps = w.state === 'running' ? Object.entries(w.snapshot()?.context.apps ?? {}) : [];
      for (const [name, a] of apps) {
        if (a.state === 'running' && (await this.host.runtime.status(containerId(w.rec.uid, name))).state !== 'running') return false;
      }
    }
    return true;
  }

  private changed(): void {
    this.changes++;
    for (const w of this.changeWaiters.splice(0)) w();
  }

  /**
   * Resolves at the next pod state change, when the pod work queued now is done, or after
   * `ms` of the host's clock (what the host shows without a state change: an exit not yet
   * answered, a --min-ready window passing), whichever comes first.
   */
  private nextChange(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        this.host.clock.clearTimeout(timer);
        this.changeWaiters = this.changeWaiters.filter((w) => w !== wake);
        resolve();
      };
      const timer = this.host.clock.setTimeout(wake, ms);
      this.changeWaiters.push(wake);
      if (!this.idle())
        this.idleWatch ??= this.whenIdle().then(() => {
          this.idleWatch = undefined;
          this.changed();
        });
    });
  }

  /** `reconcile --once`: converge, wait until settled or the deadline, report. */
  async once(timeoutMs: number): Promise<OnceResult> {
    const clock = this.host.clock;
    const deadline = clock.now() + timeoutMs;
    // `--once` fetches every git source first: what it applies is the tip now
    await within(
      clock,
      timeoutMs,
      this.refreshSources().then(() => this.sync()),
    );
    let done = false;
    for (;;) {
      const seen = this.changes;
      done = this.idle() && this.settled() && (await this.appsAlive());
      const left = deadline - clock.now();
      if (done || left <= 0) break;
      if (this.changes === seen) await this.nextChange(Math.min(25, left));
    }
    const rows = this.rows();
    const issues = [...(this.lastDesired?.issues ?? []), ...(this.lastDesired?.conflicts ?? [])];
    this.close();
    for (const w of this.workers.values()) await w.detach();
    const invalid = issues.some((i) => i.severity === 'error');
    const pods = rows.filter((r) => r.uid !== null && r.status !== 'InvalidSpec');
    const notConverged = pods.filter((r) => !converged(r));
    for (const r of notConverged)
      this.log.warn({ podName: `${r.namespace}/${r.name}`, state: r.status, reason: r.reason, message: r.message }, 'pod did not converge');
    return { exitCode: invalid ? 2 : notConverged.length > 0 || !done ? 1 : 0, rows, issues };
  }

  /** Daemon mode: converge now, on every change of the spec directories, and periodically. */
  async run(signal: AbortSignal): Promise<void> {
    const stopWatch = watchSpecDirs(this.host.layout.specDirs, () => void this.sync(), this.log, this.host.clock);
    const clock = this.host.clock;
    const stopRelist = every(clock, this.opts.relistMs ?? this.opts.resyncMs ?? 10_000, () => void this.sync());
    // host events where there are some (a netns handle or rendered tree removed); the relist otherwise (drift.ts)
    const stopDrift = watchDrift(driftDirs(this.host), () => void this.sync(), this.log, this.host.clock);
    const checkMs = this.opts.cniCheckMs ?? 60_000;
    const stopChecks =
      checkMs > 0
        ? every(clock, checkMs, () => void this.checkNetworks(signal).catch((err) => this.log.error({ err }, 'cni check round failed')))
        : undefined;
    // Each git source is fetched at once, then every --git-interval (±10 %, so that a fleet
    // started together does not fetch together); a new commit triggers a sync.
    const polls = new Map<GitSource, TimerHandle>();
    const poll = (g: GitSource) => {
      void g.refresh(signal).then((changed) => {
        if (changed && !signal.aborted) void this.sync();
        if (signal.aborted) return;
        const interval = this.opts.gitIntervalMs ?? 60_000;
        polls.set(
          g,
          clock.setTimeout(() => poll(g), interval * (0.9 + Math.random() * 0.2)),
        );
      });
    };
    // The first fetch gets a moment before the first sync, so that a fresh host does not
    // report its git sources as failed for an instant; a slow remote does not hold up the rest.
    if (this.opts.gitSources?.length) await within(clock, 10_000, this.refreshSources());
    await this.sync();
    for (const g of this.opts.gitSources ?? []) poll(g);
    this.log.info({ specDirs: this.host.layout.specDirs, git: (this.opts.gitSources ?? []).map((g) => g.label) }, 'watching for changes');
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    stopRelist();
    stopDrift();
    stopChecks?.();
    for (const t of polls.values()) clock.clearTimeout(t);
    // no new pod work starts; a teardown under way is left to the next agent (termination is one-way)
    this.close();
    await this.checking?.catch(() => undefined); // a CHECK round cut short by the stop: its pods are checked at the next start
    await stopWatch();
    await this.syncing;
    for (const w of this.workers.values()) await w.detach();
  }

  /** Resolves when no pod key has work, no sync is queued and no clean-up runs (tests, `--once`). */
  async whenIdle(): Promise<void> {
    while (!this.idle()) {
      await this.syncQueued;
      await this.queues.whenIdle();
      await this.cleaning;
    }
  }

  /** Stop driving pods without touching them: no new work starts, every worker is detached. */
  async stop(): Promise<void> {
    this.close();
    await this.syncing;
    for (const w of this.workers.values()) await w.detach();
  }

  /** No new work starts from here on (the end of `--once`, agent shutdown). */
  private close(): void {
    this.closed = true;
    this.queues.close();
  }
}

/** Wait for `work`, at most `ms` of `clock` (its timer cleared either way). */
async function within(clock: Clock, ms: number, work: Promise<unknown>): Promise<void> {
  const done = new AbortController();
  try {
    await Promise.race([work, sleep(ms, done.signal, clock)]);
  } finally {
    done.abort(); // the sleep rejects into the settled race
  }
}

function liveFromRecord(rec: PodRecord) {
  const out: Record<
    string,
    { containerId: string; state: 'running' | 'exited' | 'unknown'; pid?: number; exitCode?: number; startedAt?: number }
  > = {};
  for (const [name, a] of Object.entries(rec.apps)) {
    const state = a.state === 'running' ? 'running' : a.lastExit && a.state !== 'starting' ? 'exited' : 'unknown';
    out[name] = {
      containerId: a.containerId,
      state,
      ...(a.pid ? { pid: a.pid } : {}),
      ...(a.lastExit ? { exitCode: a.lastExit.exitCode } : {}),
      ...(a.startedAt ? { startedAt: a.startedAt } : {}),
    };
  }
  return out;
}
