/**
 * The host side of an app's supervision beyond start and exit (issue 9 items 1, 2, 4): the
 * probe settings and attempts the app machine's probe children ask for, the postStart hook,
 * the kill after a failed probe or hook, and what an exit's reason and termination message
 * are. Handlers run through src/probe/handlers.ts (exec inside the app, http/tcp/grpc from
 * the host to the pod IP, as the kubelet's prober does).
 */
import { chmod, open, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { fromPromise } from 'xstate';
import type { TimerHandle } from '../common/clock.js';
import { BerthError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { gracePeriodMs, MAX_TIMER_MS } from '../common/timers.js';
import { runHandler, type HandlerAction } from '../probe/handlers.js';
import { parseCriLine } from '../runtime/logs.js';
import type { Container } from '../api/pod.js';
import type { AppExited, AppHookInput, AppKillInput } from '../state-machines/app.machine.js';
import {
  probeMachine,
  type ProbeConfigInput,
  type ProbeKind,
  type ProbeOutcome,
  type ProbeTimings,
  type RunProbeInput,
} from '../state-machines/probe.machine.js';
import { handlerTarget, stopApp } from './app-stop.js';
import type { Host } from './host.js';
import type { PodRecord } from './records.js';
import { makeDirs } from '../common/fs.js';

/** The kubelet's limits (pkg/kubelet/container): 4 KiB of terminationMessagePath, else 80 lines / 2 KiB of log. */
export const MAX_TERMINATION_MESSAGE_BYTES = 4096;
export const FALLBACK_LOG_LINES = 80;
export const FALLBACK_LOG_BYTES = 2048;
/** The API server's default terminationMessagePath. */
export const DEFAULT_TERMINATION_MESSAGE_PATH = '/dev/termination-log';

type ProbeSpec = ProbeTimings & HandlerAction & { terminationGracePeriodSeconds?: number };

export function probeOf(c: Container, kind: ProbeKind): ProbeSpec | undefined {
  const p = kind === 'liveness' ? c.livenessProbe : kind === 'readiness' ? c.readinessProbe : c.startupProbe;
  return p as ProbeSpec | undefined;
}

/** How long after its timeout a handler that has not answered counts as failed. */
const LATE_SLACK_MS = 1000;

const KIND_WORD: Record<ProbeKind, string> = { liveness: 'Liveness', readiness: 'Readiness', startup: 'Startup' };

/**
 * The host file bind-mounted read-write at the app's terminationMessagePath (as the kubelet
 * does: `/dev` is the container's own tmpfs, so the rootfs cannot keep it). One per app,
 * emptied at each start.
 */
export const terminationLogPath = (podDir: string, app: string) => join(podDir, 'apps', app, 'termination-log');

/** The mount for the app's termination message file (created empty, 0666 like the kubelet's); none when the path is empty. */
export async function terminationMount(
  podDir: string,
  c: Container,
): Promise<{ destination: string; source: string; readOnly: boolean } | undefined> {
  const dest = c.terminationMessagePath ?? DEFAULT_TERMINATION_MESSAGE_PATH;
  if (!dest) return undefined;
  const source = terminationLogPath(podDir, c.name);
  await makeDirs(join(podDir, 'apps', c.name));
  await writeFile(source, '', { mode: 0o666 });
  await chmod(source, 0o666);
  return { destination: dest, source, readOnly: false };
}

/** At most `max` bytes from the start of a file, without following a symlink at its path; '' when missing. */
/** A file opened for reading without following a symlink at its path; undefined when it cannot be. */
async function openNoFollow(path: string) {
  try {
    return await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined; // missing, or a symlink (ELOOP): read as absent, never followed
  }
}

async function readHead(path: string, max: number): Promise<string> {
  const fh = await openNoFollow(path);
  if (!fh) return '';
  try {
    const buf = Buffer.alloc(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** The last `lines` logical lines of a CRI log, then at most `bytes` bytes of them (kubelet ReadLogs TailLines + LimitBytes). */
export async function logTail(path: string, lines: number, bytes: number): Promise<string> {
  const fh = await openNoFollow(path);
  if (!fh) return '';
  try {
    const { size } = await fh.stat();
    // 80 lines of a CRI log: their text is at most what the limit keeps, plus the line prefixes
    const want = Math.min(size, 256 * 1024);
    const buf = Buffer.alloc(want);
    await fh.read(buf, 0, want, size - want);
    const raw = buf.toString('utf8').split('\n');
    if (want < size) raw.shift(); // cut in the middle of a line
    const out: string[] = [];
    let partial = '';
    for (const l of raw) {
      const p = parseCriLine(l);
      if (!p) continue;
      partial += p.text;
      if (p.partial) continue;
      out.push(partial);
      partial = '';
    }
    if (partial) out.push(partial);
    const text = out
      .slice(-lines)
      .map((l) => `${l}\n`)
      .join('');
    return Buffer.from(text).subarray(0, bytes).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** The kubelet's terminated reason and message of an execution that exited. */
export async function exitDetails(
  podDir: string,
  c: Container,
  exit: { exitCode: number; reason?: string },
  logPath: string,
): Promise<Pick<AppExited, 'reason' | 'message'>> {
  const reason = exit.reason === 'OOMKilled' ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error';
  let message = '';
  if ((c.terminationMessagePath ?? DEFAULT_TERMINATION_MESSAGE_PATH) !== '')
    message = await readHead(terminationLogPath(podDir, c.name), MAX_TERMINATION_MESSAGE_BYTES);
  if (message === '' && c.terminationMessagePolicy === 'FallbackToLogsOnError' && exit.exitCode !== 0)
    message = await logTail(logPath, FALLBACK_LOG_LINES, FALLBACK_LOG_BYTES);
  return { reason, ...(message ? { message } : {}) };
}

/**
 * The app machine's probe, hook and kill actors for the apps of one pod. `byName` finds a
 * container of the pod by name.
 */
export function createSupervision(host: Host, rec: PodRecord, log: Logger, byName: (name: string) => Container) {
  const emit = (app: string, type: 'Normal' | 'Warning', reason: string, message: string) =>
    host.events.emit({ uid: rec.uid, podName: rec.key, app, type, reason, message });

  const probe = probeMachine.provide({
    actors: {
      probeConfig: fromPromise<ProbeTimings | null, ProbeConfigInput>(async ({ input }) => probeOf(byName(input.app), input.kind) ?? null),
      runProbe: fromPromise<ProbeOutcome, RunProbeInput>(async ({ input, signal }) => {
        const c = byName(input.app);
        const p = probeOf(c, input.kind);
        if (!p) throw new BerthError('NotFound', `app ${c.name} has no ${input.kind} probe`);
        const t0 = host.clock.now();
        let ok = false;
        let message = '';
        let timer: TimerHandle;
        // the handler times itself out; this bounds one that does not (a wedged runtime call)
        const late = new Promise<{ ok: boolean; message: string }>((resolve) => {
          timer = host.clock.setTimeout(
            () => resolve({ ok: false, message: `probe did not answer within ${input.timeoutMs / 1000}s` }),
            input.timeoutMs + LATE_SLACK_MS,
          );
        });
        try {
          const r = await Promise.race([runHandler(host.runtime, p, handlerTarget(rec, c), { timeoutMs: input.timeoutMs, signal }), late]);
          ok = r.ok;
          message = r.message;
        } catch (err) {
          message = errorMessage(err);
        } finally {
          host.clock.clearTimeout(timer);
        }
        if (!ok && !signal.aborted) {
          log.info({ app: c.name, probe: input.kind, output: message }, 'probe failed');
          emit(c.name, 'Warning', 'Unhealthy', `${KIND_WORD[input.kind]} probe failed: ${message}`);
        }
        return { ok, message, durationMs: Math.max(0, host.clock.now() - t0) };
      }),
    },
  });

  return {
    probe,

    // The kubelet runs postStart right after the start and does not time it out; the app
    // exiting meanwhile aborts it (the machine leaves the state).
    postStart: fromPromise<void, AppHookInput>(async ({ input, signal }) => {
      const c = byName(input.app);
      const hook = c.lifecycle?.postStart as HandlerAction | undefined;
      if (!hook) return;
      let failure: string | undefined;
      try {
        const r = await runHandler(host.runtime, hook, handlerTarget(rec, c), { timeoutMs: MAX_TIMER_MS, signal, purpose: 'lifecycle' });
        if (!r.ok) failure = r.message;
      } catch (err) {
        failure = errorMessage(err);
      }
      if (signal.aborted) return;
      if (failure !== undefined) {
        log.warn({ app: c.name, reason: 'FailedPostStartHook', err: failure }, 'postStart hook failed');
        emit(c.name, 'Warning', 'FailedPostStartHook', `PostStartHook failed: ${failure}`);
        throw new BerthError('Unavailable', `postStart hook of ${c.name} failed: ${failure}`);
      }
      log.info({ app: c.name }, 'postStart hook completed');
    }),

    // A failed liveness/startup probe or postStart hook: Killing, then stopApp with the
    // probe's terminationGracePeriodSeconds, else the pod's.
    killApp: fromPromise<void, AppKillInput>(async ({ input }) => {
      const c = byName(input.app);
      const restart = rec.pod.spec.restartPolicy !== 'Never';
      const probeGrace = input.reason === 'postStart' ? undefined : probeOf(c, input.reason)?.terminationGracePeriodSeconds;
      const { ms } = gracePeriodMs(probeGrace ?? rec.pod.spec.terminationGracePeriodSeconds ?? 30);
      const message =
        input.reason === 'postStart'
          ? 'FailedPostStartHook'
          : `Container ${c.name} failed ${input.reason} probe${restart ? ', will be restarted' : ''}`;
      log.warn({ app: c.name, reason: input.reason, graceMs: ms }, message);
      emit(c.name, 'Normal', 'Killing', message);
      await stopApp(host, rec, c, { deadline: host.clock.now() + ms, log, reason: message });
    }),
  };
}
