/**
 * Drift of a running pod's apps (issue 13 item 8), checked at every relist of the daemon
 * (`--relist-interval`) and when a host event says something changed (watchDrift); the pod
 * sandbox (a deleted netns) is the reconciler's repairDrift, a failed attachment CHECK's.
 *
 * - **A killed monitor** (conmon): the app runs on, but nobody holds its stdout/stderr (its
 *   next write gets EPIPE or SIGPIPE), writes its log, rotates it or will report its exit
 *   (waitExit would only see it when the app dies, as exit 255). Like containerd after a dead
 *   shim, the app is stopped (its stop signal, the pod's grace period, then SIGKILL); its exit
 *   is the app machine's as any other, so restartPolicy restarts it under a new monitor
 *   (counted as a restart) and the runtime's start removes what the old execution left.
 * - **A removed rendered tree** (the overlay's lower dir): the tree is rendered again from the
 *   store at once, so that the next start of any app on it works. A running app is not
 *   restarted for it (neither would a kubelet or podman): its overlay keeps the removed tree,
 *   so files it has open work on, files it has not opened are gone from its view; it gets the
 *   new tree at its next restart (a crash, a probe, a spec change, a kill by hand).
 * - **A removed bundle** (`<pod>/apps/<app>`): config.json is written back from the runtime's
 *   copy (so `berth exec` and exec probes work again); what the execution wrote to its upper
 *   dir is gone with it, and its log is no longer rotated (conmon's ctl FIFO went too) until
 *   the app restarts, which makes a fresh bundle.
 *
 * Each repair is a Warning event on the pod (MonitorLost, RenderedTreeRemoved, BundleRemoved).
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Clock, TimerHandle } from '../common/clock.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { gracePeriodMs } from '../common/timers.js';
import type { ImagePullPolicy } from '../image/types.js';
import type { Container } from '../api/pod.js';
import { stopApp } from './app-stop.js';
import { STEP_PRIORITY, type Host } from './host.js';
import { containerId, netnsName } from './layout.js';
import type { PodRecord } from './records.js';
import { makeDirsSync } from '../common/fs.js';

/** What repairAppDrift found and did, app by app (tests, logs). */
export interface DriftRepair {
  app: string;
  reason: 'MonitorLost' | 'RenderedTreeRemoved' | 'BundleRemoved';
  repaired: boolean;
}

/**
 * Check every app the pod machine has running (`running`: their names) for drift and
 * repair it; call in line with the pod's other work. Never throws: a repair that fails is
 * logged, the event says so, and the next relist tries again.
 */
export async function repairAppDrift(host: Host, rec: PodRecord, running: string[], log: Logger): Promise<DriftRepair[]> {
  const out: DriftRepair[] = [];
  const trees = new Map<string, Promise<boolean>>();
  const containers = [...(rec.pod.spec.initContainers ?? []), ...rec.pod.spec.containers];
  for (const name of running) {
    const c = containers.find((x) => x.name === name);
    if (!c) continue;
    const id = containerId(rec.uid, name);
    const d = await host.runtime.drift(id).catch((err: unknown) => log.warn({ app: name, err }, 'drift check failed'));
    if (!d) continue;
    const emit = (reason: DriftRepair['reason'], message: string) =>
      host.events.emit({ uid: rec.uid, podName: rec.key, app: name, type: 'Warning', reason, message });
    if (d.lowerGone && d.lowerDir) {
      const dir = d.lowerDir;
      let p = trees.get(dir);
      if (!p) trees.set(dir, (p = renderAgain(host, rec, c, dir, log)));
      const repaired = await p;
      log.warn({ app: name, rootfs: dir, repaired, reason: 'RenderedTreeRemoved' }, 'the rendered tree of a running app was removed');
      emit(
        'RenderedTreeRemoved',
        `rendered tree ${dir} of image ${c.image} was removed: ${repaired ? 'rendered it again' : 'rendering it again failed'}; the running app keeps the removed tree (files it has not opened are gone from its view) until it restarts`,
      );
      out.push({ app: name, reason: 'RenderedTreeRemoved', repaired });
    }
    if (d.bundleGone) {
      const repaired =
        (await host.runtime.restoreBundle(id).catch((err: unknown) => log.warn({ app: name, err }, 'bundle could not be restored'))) ===
        true;
      log.warn({ app: name, repaired, reason: 'BundleRemoved' }, 'the bundle of a running app was removed');
      emit(
        'BundleRemoved',
        `bundle of container ${name} was removed: ${repaired ? 'config.json written again' : 'config.json could not be written again'}; files the app wrote to its root filesystem may be gone and its log is not rotated until it restarts`,
      );
      out.push({ app: name, reason: 'BundleRemoved', repaired });
    }
    if (d.monitorLost) {
      const restart = rec.pod.spec.restartPolicy !== 'Never';
      const message = `monitor (conmon) of container ${name} is gone: nobody collects its output or its exit; stopping it${restart ? ' to start it again under a new monitor' : ''}`;
      log.warn({ app: name, reason: 'MonitorLost' }, message);
      emit('MonitorLost', message);
      const { ms } = gracePeriodMs(rec.pod.spec.terminationGracePeriodSeconds ?? 30);
      let repaired = true;
      await stopApp(host, rec, c, { deadline: host.clock.now() + ms, log, reason: 'MonitorLost' }).catch((err: unknown) => {
        repaired = false;
        log.warn({ app: name, err }, 'stopping an app whose monitor is gone failed');
      });
      out.push({ app: name, reason: 'MonitorLost', repaired });
    }
  }
  return out;
}

/** Render the app's image again from the store (no download when it is there); true when `dir` exists again. */
async function renderAgain(host: Host, rec: PodRecord, c: Container, dir: string, log: Logger): Promise<boolean> {
  // the tree the app runs is the one of the image it was started with: the store has it
  const pullPolicy: ImagePullPolicy = c.imagePullPolicy === 'Never' ? 'Never' : 'IfNotPresent';
  try {
    const rendered = await host.limit(
      async () => host.images.render(await host.images.pull(c.image, { pullPolicy })),
      STEP_PRIORITY.render,
    );
    if (rendered.rootfs !== dir)
      log.warn(
        { app: c.name, image: c.image, rootfs: rendered.rootfs, was: dir },
        'the image now renders to another tree: the app gets it at its next start',
      );
    else log.info({ app: c.name, image: c.image, rootfs: dir, podName: rec.key }, 'rendered tree made again');
    return rendered.rootfs === dir;
  } catch (err) {
    log.warn({ app: c.name, image: c.image, err: errorMessage(err) }, 'the removed rendered tree could not be rendered again');
    return false;
  }
}

/** The apps the pod machine has running now (from its snapshot's context). */
export function runningApps(apps: Record<string, { state: string }> | undefined): string[] {
  return Object.entries(apps ?? {})
    .filter(([, a]) => a.state === 'running')
    .map(([name]) => name);
}

/** What the daemon watches: the netns handles' dir and the rendered trees' dir (`<state>/rendered`). */
export function driftDirs(host: Pick<Host, 'layout' | 'netns'>): Array<{ dir: string; match: RegExp }> {
  const ns = netnsName('00000000-0000-0000-0000-000000000000');
  return [
    { dir: dirname(host.netns.path(ns)), match: new RegExp(`^${ns.split('-')[0]}-`) },
    { dir: join(host.layout.stateDir, 'rendered'), match: /^[a-f0-9]{64}(?:[a-f0-9]{64})?$/ },
  ];
}

/**
 * Host events that mean drift: a name matching `match` removed from `dir` (a netns handle, a
 * rendered tree). `onDrift` is called once per burst (debounced by `ms`). A directory that does
 * not exist or cannot be watched is left to the relist. Returns the stop function.
 */
export function watchDrift(
  dirs: Array<{ dir: string; match: RegExp }>,
  onDrift: () => void,
  log: Logger,
  clock: Clock,
  ms = 250,
): () => void {
  const watchers: FSWatcher[] = [];
  let timer: TimerHandle | undefined;
  const fire = () => {
    timer ??= clock.setTimeout(() => {
      timer = undefined;
      onDrift();
    }, ms);
  };
  for (const { dir, match } of dirs) {
    try {
      makeDirsSync(dir); // made later by a render or `ip netns`, it would go unwatched
      const w = watch(dir, { persistent: false }, (ev, name) => {
        // inotify IN_DELETE / IN_MOVED_FROM of one of ours; names that come are our own work
        if (ev === 'rename' && name !== null && match.test(String(name)) && !existsSync(join(dir, String(name)))) fire();
      });
      w.on('error', (err) => log.debug({ err, dir }, 'drift watch stopped: the relist covers it'));
      watchers.push(w);
    } catch (err) {
      log.debug({ err: errorMessage(err), dir }, 'drift watch not possible: the relist covers it');
    }
  }
  return () => {
    if (timer !== undefined) clock.clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
