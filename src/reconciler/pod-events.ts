/**
 * The kubelet's pod events, derived from what a pod worker's machine goes through: the
 * worker's subscribe callback hands every snapshot to `observe()`, which compares it with the
 * one before and emits on the host's event sink (events.ts). Adoption (an agent restart that
 * finds apps running) emits nothing: no app was created or started by this agent.
 *
 *   pod pulling            Pulling  "Pulling image "X"" (one per container, init ones too)
 *   pulling → verifying    Pulled   "Successfully pulled image "X" in 1.2s (including waiting)"
 *   a setup step failed    Failed (pull/render: "Failed to pull image…" + "Error: ErrImagePull"),
 *                          FailedCreatePodSandBox (sandbox, attach), FailedKillPod (teardown)
 *   setup back-off         BackOff  "Back-off pulling image" after a pull error
 *   app starting → running Created + Started
 *   app start failed       Failed   "Error: <message>" (ErrImagePull: the pull's two events)
 *   app backing off        BackOff  "Back-off restarting failed container X" (a real delay only)
 *   pod terminating        Killing  "Stopping container X"
 */
import type { AppSummary, AppError } from '../state-machines/app.machine.js';
import type { PodStateValue, StepError } from '../state-machines/pod.machine.js';
import type { PodEventInput } from './events.js';
import type { Host } from './host.js';
import type { PodRecord } from './records.js';
import { stepReason } from './status.js';

export interface PodSnapshotView {
  state: PodStateValue;
  apps: Record<string, AppSummary>;
  lastError: StepError | null;
}

type Ev = Omit<PodEventInput, 'uid' | 'podName'>;

const errSig = (e: AppError | StepError | null | undefined) => (e ? `${e.code}\0${e.message}` : '');
const reasonOf = (e: AppError | StepError): string | undefined => (e as { reason?: unknown }).reason as string | undefined;
const seconds = (ms: number) => `${(Math.max(0, ms) / 1000).toFixed(ms < 10_000 ? 3 : 1).replace(/\.?0+$/, '') || '0'}s`;

export class PodEventDeriver {
  private state: PodStateValue | '' = '';
  private pullStartedAt = 0;
  private stepErr = '';
  private readonly apps = new Map<string, AppSummary>();

  constructor(
    private readonly host: Host,
    private readonly rec: PodRecord,
  ) {}

  /** Compare with the last snapshot and emit what happened in between. Never throws. */
  observe(snap: PodSnapshotView): void {
    try {
      for (const ev of this.derive(snap)) this.host.events.emit({ uid: this.rec.uid, podName: this.rec.key, ...ev });
    } catch (err) {
      this.host.log.warn({ pod: this.rec.uid, err }, 'pod events could not be derived');
    }
  }

  private containers() {
    return [...(this.rec.pod.spec.initContainers ?? []), ...this.rec.pod.spec.containers];
  }

  private derive(snap: PodSnapshotView): Ev[] {
    const out: Ev[] = [];
    const now = this.host.clock.now();
    const prevState = this.state;
    if (snap.state !== prevState) {
      this.state = snap.state;
      if (snap.state === 'pulling') {
        this.pullStartedAt = now;
        for (const c of this.containers())
          out.push({ app: c.name, type: 'Normal', reason: 'Pulling', message: `Pulling image "${c.image}"` });
      }
      if (prevState === 'pulling' && snap.state === 'verifying') {
        const took = seconds(now - this.pullStartedAt);
        for (const c of this.containers())
          out.push({
            app: c.name,
            type: 'Normal',
            reason: 'Pulled',
            message: `Successfully pulled image "${c.image}" in ${took} (including waiting)`,
          });
      }
      if (snap.state === 'terminating') {
        const running = Object.entries(snap.apps)
          .filter(([, a]) => a.state === 'running' || a.state === 'starting')
          .map(([n]) => n);
        // a pod found on the host with its spec gone starts in termination, its apps unobserved
        const names = prevState === '' && Object.keys(snap.apps).length === 0 ? this.rec.pod.spec.containers.map((c) => c.name) : running;
        for (const n of names) out.push({ app: n, type: 'Normal', reason: 'Killing', message: `Stopping container ${n}` });
      }
    }
    // A setup step's error, once per failed attempt (stepFailed is passed through at once:
    // the snapshots show setupBackoff or failed), and a teardown's error once per new error.
    const se = snap.lastError;
    if (se && (snap.state === 'setupBackoff' || snap.state === 'failed')) {
      if (prevState !== snap.state || errSig(se) !== this.stepErr) out.push(...this.stepFailed(se));
      this.stepErr = errSig(se);
    } else if (se && snap.state === 'terminating' && se.step === 'teardown') {
      if (errSig(se) !== this.stepErr) out.push(...this.stepFailed(se));
      this.stepErr = errSig(se);
    } else this.stepErr = '';
    if (snap.state === 'setupBackoff' && prevState !== snap.state && se?.step === 'pull')
      out.push({ type: 'Normal', reason: 'BackOff', message: 'Back-off pulling image' });
    for (const [name, a] of Object.entries(snap.apps)) {
      out.push(...this.appChanged(name, this.apps.get(name), a));
      this.apps.set(name, a);
    }
    return out;
  }

  private stepFailed(e: StepError): Ev[] {
    switch (e.step) {
      case 'pull':
        return [
          { type: 'Warning', reason: 'Failed', message: `Failed to pull image: ${e.message}` },
          { type: 'Warning', reason: 'Failed', message: 'Error: ErrImagePull' },
        ];
      case 'verify':
        return [
          { type: 'Warning', reason: 'Failed', message: `Failed to verify image: ${e.message}` },
          { type: 'Warning', reason: 'Failed', message: 'Error: ErrImagePull' },
        ];
      case 'render':
        return [
          { type: 'Warning', reason: 'Failed', message: `Failed to unpack image: ${e.message}` },
          { type: 'Warning', reason: 'Failed', message: 'Error: ErrImagePull' },
        ];
      case 'sandbox':
      case 'attach':
        return [{ type: 'Warning', reason: 'FailedCreatePodSandBox', message: `Failed to create pod sandbox: ${e.message}` }];
      case 'teardown':
        return [{ type: 'Warning', reason: 'FailedKillPod', message: `error killing pod: ${e.message}` }];
      default:
        // kubectl's word first (CreateContainerError, CreateContainerConfigError…), as the kubelet's "Error: …" lines
        return [{ type: 'Warning', reason: 'Failed', message: `Error: ${reasonOf(e) ?? stepReason(e)}: ${e.message}` }];
    }
  }

  private appChanged(name: string, prev: AppSummary | undefined, a: AppSummary): Ev[] {
    const out: Ev[] = [];
    const image = this.containers().find((c) => c.name === name)?.image ?? '';
    if (a.state === 'running' && prev && (prev.state === 'starting' || (prev.state !== 'running' && a.startedAt !== prev.startedAt))) {
      out.push({ app: name, type: 'Normal', reason: 'Created', message: `Created container ${name}` });
      out.push({ app: name, type: 'Normal', reason: 'Started', message: `Started container ${name}` });
    }
    // a failed start (or wait): once per attempt; an adopted back-off's error was told before
    if (
      a.lastError &&
      prev &&
      (a.state === 'backoff' || a.state === 'failed') &&
      (prev.state !== a.state || errSig(a.lastError) !== errSig(prev.lastError))
    ) {
      if (a.lastError.reason === 'ErrImagePull') {
        out.push({ app: name, type: 'Warning', reason: 'Failed', message: `Failed to pull image "${image}": ${a.lastError.message}` });
        out.push({ app: name, type: 'Warning', reason: 'Failed', message: 'Error: ErrImagePull' });
      } else out.push({ app: name, type: 'Warning', reason: 'Failed', message: `Error: ${a.lastError.message}` });
    }
    const newBackoff = a.state === 'backoff' && (prev?.state !== 'backoff' || a.backoffStep !== prev.backoffStep);
    if (newBackoff && a.backoffMs > 0) {
      if (a.lastError?.reason === 'ErrImagePull')
        out.push({ app: name, type: 'Normal', reason: 'BackOff', message: `Back-off pulling image "${image}"` });
      else out.push({ app: name, type: 'Warning', reason: 'BackOff', message: `Back-off restarting failed container ${name}` });
    }
    return out;
  }
}
