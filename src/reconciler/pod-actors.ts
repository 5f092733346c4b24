/**
 * The host side of the pod machine: each actor is one idempotent lifecycle step, safe to
 * repeat after a crash at any point. They are provided to the pure machine with
 * `podMachine.provide({ actors: createPodActors(...) })`.
 */
import { chmod, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fromPromise } from 'xstate';
import { BerthError, codeOf, errorMessage, isNotFound } from '../common/errors.js';
import { pathExists, makeDirs } from '../common/fs.js';
import type { Logger } from '../common/logger.js';
import { gracePeriodMs, MAX_TIMER_MS } from '../common/timers.js';
import type { ImagePullPolicy, PullProgress, RenderedImage } from '../image/types.js';
import type { AppLaunch } from '../runtime/types.js';
import type { Container } from '../api/pod.js';
import { appMachine, type AppExited, type AppStarted, type AppStartInput, type AppWaitInput } from '../state-machines/app.machine.js';
import {
  DEADLINE_MESSAGE,
  type AttachOut,
  type InitFinishInput,
  type PodKillInput,
  type PodStepInput,
  type ReplaceAppsInput,
  type SandboxOut,
} from '../state-machines/pod.machine.js';
import { stopPodContainers } from './pod-stop.js';
import { STEP_PRIORITY, type Host } from './host.js';
import { createSupervision, exitDetails, terminationMount } from './probing.js';
import { stopApp } from './app-stop.js';
import { appLogPath, containerId, netnsName, podCgroupName, podDir, podLogDir } from './layout.js';
import { ensureInfra, removeInfra } from './pod-infra.js';
import { podLevelResources } from '../api/pod-resources.js';
import { nodeIPs, podHostname, writeEtcFiles } from './pod-files.js';
import type { PodRecord } from './records.js';
import { attachAll, detachAll } from './attachments.js';
import { reattachSandbox } from './sandbox.js';
import { ensureEmptyDirs, imageVolumeRefs, releaseAppMounts, releasePodMounts, volumeMounts, type VolumeContext } from './volumes.js';
import { containerEnv } from '../runtime/oci-spec.js';
import { isAppcReference, prepareAppcLaunch, runAppcPostStop, serveAppcPod, withImplicitAppcVolumes } from './appc-hooks.js';
import { containerSpecHash } from './pod-changes.js';
import { ensurePodUserns } from './userns.js';
import type { PodUserns } from '../runtime/userns.js';
import { ignoredIsolators } from '../image/appc/isolators.js';

/** What a pod's actors keep in memory between steps (never in machine context). */
export interface PodResources {
  pulled: Map<string, Awaited<ReturnType<Host['images']['pull']>>>;
  rendered: Map<string, RenderedImage>;
  /** the sandbox existed before this agent touched it: attachments may be half made */
  sandboxAdopted: boolean;
  etcFiles?: Record<string, string>;
  ips: string[];
  /** the container spec a running execution was started from, when the pod's spec has a newer one (its preStop and stop signal apply) */
  retired: Map<string, Container>;
  /** hostUsers: false: the pod's user namespace (userns.ts) */
  userns?: PodUserns;
}

export function newResources(): PodResources {
  return { pulled: new Map(), rendered: new Map(), sandboxAdopted: false, ips: [], retired: new Map() };
}

const allContainers = (rec: PodRecord): Array<{ c: Container; init: boolean }> => [
  ...(rec.pod.spec.initContainers ?? []).map((c) => ({ c, init: true })),
  ...rec.pod.spec.containers.map((c) => ({ c, init: false })),
];

export function createPodActors(host: Host, rec: PodRecord, res: PodResources, log: Logger) {
  const { layout } = host;
  const dir = podDir(layout, rec.uid);

  /** what the volumes need beyond the spec: the pod's identity (downwardAPI), the image volumes' trees */
  const volumeContext: VolumeContext = {
    identity: { name: rec.name, namespace: rec.namespace, uid: rec.uid },
    imageRoot: (ref) => res.rendered.get(ref)?.rootfs,
  };

  // pod-level resources: the pod cgroup; shareProcessNamespace: the infra process (one start at a time)
  const podCgroup = rec.pod.spec.resources ? podCgroupName(rec.uid) : undefined;
  let infraStarting: Promise<number> | undefined;
  const infraPid = (): Promise<number> => (infraStarting ??= ensureInfra(host, rec, dir, log).finally(() => (infraStarting = undefined)));
  async function ensurePodLevel(): Promise<void> {
    const resources = podLevelResources(rec.pod);
    if (podCgroup && resources) await host.runtime.ensurePodCgroup(podCgroup, resources);
    if (rec.pod.spec.shareProcessNamespace) await infraPid();
  }

  async function launchFor(c: Container, execution: number): Promise<AppLaunch> {
    const image = res.rendered.get(c.image);
    if (!image) throw new BerthError('Unavailable', `image ${c.image} of ${c.name} is not rendered yet`);
    const logPath = appLogPath(layout, rec.namespace, rec.name, rec.uid, c.name, execution);
    const launch: AppLaunch = {
      containerId: containerId(rec.uid, c.name),
      podUid: rec.uid,
      namespace: rec.namespace,
      podName: rec.name,
      appName: c.name,
      execution,
      bundleDir: join(dir, 'apps', c.name),
      rootfsLower: image.rootfs,
      image: image.config.config ?? {},
      container: c,
      // status.podIP(s) and status.hostIP(s) for env fieldRefs: a hostNetwork pod's IPs are the node's (the kubelet's rule)
      podIPs: rec.pod.spec.hostNetwork ? nodeIPs() : res.ips,
      hostIPs: nodeIPs(),
      pod: rec.pod,
      ...(rec.netns ? { netnsPath: rec.netns } : {}),
      ...(rec.pod.spec.hostUsers === false ? { userns: (res.userns ??= await ensurePodUserns(host, dir, rec.uid, undefined)) } : {}),
      hostname: podHostname(rec.pod),
      logPath,
      ...(podCgroup ? { podCgroup } : {}),
      ...(rec.pod.spec.shareProcessNamespace ? { pidNamespacePath: `/proc/${await infraPid()}/ns/pid` } : {}),
    };
    // Volumes pinned inside their roots (volumes.ts); subPathExpr expands from the container's env.
    launch.mounts = await volumeMounts({
      pod: await withImplicitAppcVolumes(rec.pod, c, image.appc?.app?.mountPoints, dir, log),
      container: c,
      podDir: dir,
      mountPoints: image.appc?.app?.mountPoints,
      envOf: () => containerEnv(c, launch),
      context: volumeContext,
    });
    // terminationMessagePath: a host file bind-mounted read-write, read back at the exit (probing.ts)
    const term = await terminationMount(dir, c);
    if (term && !launch.mounts.some((m) => m.destination === term.destination)) launch.mounts.push(term);
    const mounted = new Set(launch.mounts.map((m) => m.destination));
    launch.etcFiles = Object.fromEntries(Object.entries(res.etcFiles ?? {}).filter(([k]) => !mounted.has(k)));
    // ACI apps: pre-start handler, AC_METADATA_URL (appc-hooks.ts)
    await prepareAppcLaunch({
      rec,
      container: c,
      launch,
      rendered: res.rendered,
      ips: res.ips,
      stateDir: layout.stateDir,
      metadata: host.appcMetadata,
    });
    return launch;
  }

  /** an ACI app's post-stop handler, after its exit and before its overlay goes (appc-hooks.ts) */
  function postStop(c: Container): Promise<void> {
    return runAppcPostStop(host.runtime, rec, c, res.rendered.get(c.image), join(dir, 'apps', c.name), log);
  }

  async function startExecution(c: Container, execution: number): Promise<AppStarted> {
    const id = containerId(rec.uid, c.name);
    // The runtime drops whatever an earlier execution left: every execution starts clean.
    const launch = await launchFor(c, execution);
    // bounded like the setup steps, first in line: twenty starts at once on two cores each took
    // seconds, and an agent killed meanwhile had started none
    const st = await host.limit(() => host.runtime.start(launch), STEP_PRIORITY.start);
    // what this execution runs, so that a later spec change (or an agent restart after one) replaces it
    const app = rec.apps[c.name];
    if (app) app.specHash = containerSpecHash(c);
    res.retired.delete(c.name);
    log.info({ app: c.name, containerId: id, pid: st.pid, execution }, 'app started');
    return { pid: st.pid, startedAt: st.startedAt ?? host.clock.now() };
  }

  const byName = (name: string) => {
    const c = allContainers(rec).find((x) => x.c.name === name)?.c;
    if (!c) throw new BerthError('NotFound', `no container ${name} in pod ${rec.key}`);
    return c;
  };

  // Containers sharing an image may ask for different policies: the most eager one wins.
  const rank = { Never: 0, IfNotPresent: 1, Always: 2 } as const;
  const pullPolicy = (ref: string) =>
    [
      ...allContainers(rec)
        .filter((x) => x.c.image === ref)
        .map((x) => x.c.imagePullPolicy),
      ...imageVolumeRefs(rec.pod)
        .filter((v) => v.reference === ref)
        .map((v) => v.pullPolicy),
    ].reduce<ImagePullPolicy | undefined>((a, b) => (b === undefined ? a : a === undefined || rank[b] > rank[a] ? b : a), undefined);

  async function pullOne(ref: string, signal?: AbortSignal) {
    const t0 = host.clock.now();
    const img = await host.images.pull(ref, {
      signal,
      pullPolicy: pullPolicy(ref),
      onProgress: (p: PullProgress) => host.pullProgress(rec.key, p),
    });
    res.pulled.set(ref, img);
    log.debug({ image: ref, digest: img.manifestDigest, ms: host.clock.now() - t0 }, 'image pulled');
    for (const x of allContainers(rec).filter((y) => y.c.image === ref)) {
      const app = rec.apps[x.c.name];
      if (app) app.imageDigest = img.manifestDigest;
    }
    return img;
  }

  async function renderOne(ref: string, img: Awaited<ReturnType<Host['images']['pull']>>, signal?: AbortSignal) {
    const t0 = host.clock.now();
    res.rendered.set(ref, await host.images.render(img, { signal }));
    log.debug({ image: ref, digest: img.manifestDigest, ms: host.clock.now() - t0 }, 'image rendered');
    // appc ACE: an executor may ignore isolators but must say which
    const ignored = ignoredIsolators(img.appc?.app);
    if (ignored.length === 0) return;
    for (const x of allContainers(rec).filter((y) => y.c.image === ref)) {
      log.warn({ app: x.c.name, image: ref, ignoredIsolators: ignored }, 'appc isolators ignored');
      const app = rec.apps[x.c.name];
      if (app) Object.assign(app, { ignoredIsolators: ignored });
    }
  }

  /**
   * The image of an app about to (re)start, pulled and rendered now if the pod was adopted
   * without them. A failure is the app's `ErrImagePull` and backs off unless it is bad input
   * or policy (as the pod's pull step: a missing image source may come back).
   */
  async function imageFor(c: Container, signal?: AbortSignal): Promise<void> {
    // a tree removed behind our back (drift.ts) is rendered again, not mounted as a missing lower dir
    for (const ref of [c.image, ...imageVolumeRefs(rec.pod, c).map((v) => v.reference)]) {
      const tree = res.rendered.get(ref);
      if (tree && !(await pathExists(tree.rootfs))) {
        log.warn({ app: c.name, image: ref, rootfs: tree.rootfs }, 'rendered tree is gone: rendering it again');
        res.rendered.delete(ref);
      }
    }
    // the app's own image and the image volumes it mounts
    const refs = [c.image, ...imageVolumeRefs(rec.pod, c).map((v) => v.reference)].filter((ref) => !res.rendered.has(ref));
    if (refs.length === 0) return;
    try {
      await host.limit(async () => {
        for (const ref of refs) {
          if (res.rendered.has(ref)) continue;
          const img = res.pulled.get(ref) ?? (await pullOne(ref, signal));
          await renderOne(ref, img, signal);
        }
      }, STEP_PRIORITY.render);
    } catch (err) {
      const code = codeOf(err) ?? 'Internal';
      throw new BerthError(code === 'NotFound' ? 'Unavailable' : code, errorMessage(err), {
        cause: err,
        details: { reason: 'ErrImagePull' },
      });
    }
  }

  /** One app stopped before `deadline` (epoch ms): preStop, stop signal, SIGKILL (app-stop.ts, C5). */
  const stopOne = async (c: Container, deadline: number): Promise<void> => {
    await stopApp(host, rec, c, { deadline, log });
    await postStop(c); // before the teardown removes the overlay
  };

  /**
   * A pod with ACI apps is served on the metadata service once its IPs are known: a pod this
   * agent adopts (its apps running since before an agent restart) keeps answering its apps'
   * AC_METADATA_URL without a restart. The appc images are fetched from the store for it.
   */
  async function serveAppcMetadata(signal?: AbortSignal): Promise<void> {
    const metadata = host.appcMetadata;
    const aci = rec.pod.spec.containers.filter((c) => isAppcReference(c.image));
    if (aci.length === 0) return;
    try {
      for (const c of aci) await imageFor(c, signal);
      await serveAppcPod({ rec, rendered: res.rendered, ips: res.ips, stateDir: layout.stateDir, metadata });
    } catch (err) {
      // never what holds the pod's supervision up: each ACI app's launch serves the pod again
      log.warn({ err }, 'appc metadata service: the pod could not be served before its apps start');
    }
  }

  // probes, postStart, kills after a failed probe or hook (probing.ts); the execution each app runs now
  const supervision = createSupervision(host, rec, log, byName);
  const executions = new Map<string, number>();

  return {
    pullImages: fromPromise<void, PodStepInput>(async ({ signal }) => {
      const refs = [...new Set([...allContainers(rec).map((x) => x.c.image), ...imageVolumeRefs(rec.pod).map((v) => v.reference)])];
      await host.limit(() => Promise.all(refs.map((ref) => pullOne(ref, signal))), STEP_PRIORITY.pull);
    }),

    verifyImages: fromPromise<void, PodStepInput>(async ({ signal }) => {
      for (const [ref, img] of res.pulled) res.pulled.set(ref, await host.images.verify(img, { signal }));
    }),

    renderImages: fromPromise<void, PodStepInput>(async ({ signal }) => {
      await host.limit(async () => {
        for (const [ref, img] of res.pulled) if (!res.rendered.has(ref)) await renderOne(ref, img, signal);
      }, STEP_PRIORITY.render);
    }),

    createSandbox: fromPromise<SandboxOut, PodStepInput>(async () => {
      await makeDirs(dir, 0o700);
      await chmod(dir, 0o700); // private: volumes and upper dirs below (host-dirs.ts)
      await ensureEmptyDirs(rec.pod, dir, volumeContext);
      if (rec.pod.spec.hostNetwork) {
        res.etcFiles = await writeEtcFiles(join(dir, 'etc'), rec.pod, []);
        await ensurePodLevel();
        return { netns: null };
      }
      const name = netnsName(rec.uid);
      res.sandboxAdopted = (await host.netns.exists(name)) || (await reattachSandbox(host, rec, log));
      // hostUsers: false (never with hostNetwork): the pod's user namespace, and its network namespace made inside it (userns.ts)
      if (rec.pod.spec.hostUsers === false) res.userns = await ensurePodUserns(host, dir, rec.uid, name);
      const path = await host.netns.ensure(name);
      rec.netns = path;
      await ensurePodLevel();
      return { netns: path };
    }),

    attachNetworks: fromPromise<AttachOut, PodStepInput>(async ({ signal }) => {
      if (rec.pod.spec.hostNetwork || !rec.netns) {
        await serveAppcMetadata(signal);
        return { attachments: [] };
      }
      const netns = rec.netns;
      const attachments = await host.limit(() => attachAll(host, rec, netns, res.sandboxAdopted, log, signal), STEP_PRIORITY.attach);
      res.ips = attachments.flatMap((a) => a.ips.map((ip) => ip.split('/')[0]!));
      res.etcFiles = await writeEtcFiles(join(dir, 'etc'), rec.pod, res.ips);
      await serveAppcMetadata(signal);
      return { attachments };
    }),

    prepareApps: fromPromise<void, PodStepInput>(async () => {
      if (!res.etcFiles) res.etcFiles = await writeEtcFiles(join(dir, 'etc'), rec.pod, res.ips);
    }),

    // An init container that completed is not run again: its execution is removed (its log
    // stays, and the record keeps its exit) and its volume pins released.
    finishInit: fromPromise<void, InitFinishInput>(async ({ input }) => {
      await host.runtime.remove(containerId(rec.uid, input.app));
      await releaseAppMounts(dir, input.app);
      log.info({ app: input.app, exitCode: 0 }, 'init container completed');
    }),

    // Ending without a teardown: the pod stays (Failed or Completed, its exits shown) until deleted.
    killPod: fromPromise<void, PodKillInput>(async ({ input }) => {
      if (input.reason === 'DeadlineExceeded') {
        log.warn({ activeDeadlineSeconds: rec.pod.spec.activeDeadlineSeconds }, DEADLINE_MESSAGE);
        host.events.emit({ uid: rec.uid, podName: rec.key, type: 'Warning', reason: 'DeadlineExceeded', message: DEADLINE_MESSAGE });
      }
      const { ms: graceMs } = gracePeriodMs(rec.pod.spec.terminationGracePeriodSeconds ?? 30);
      // after the apps completed or an init container failed only sidecars are left running
      const errors = await stopPodContainers(host, rec, {
        graceMs,
        remove: false,
        log,
        reason: input.reason,
        stopOne,
        sidecarsOnly: input.reason !== 'DeadlineExceeded',
      });
      if (errors.length)
        throw new BerthError('Unavailable', `stopping the apps of ${rec.key}: ${errors.map(errorMessage).join('; ')}`, {
          cause: errors[0],
        });
    }),

    // A regular container's spec changed: stop its execution as the kubelet does (preStop and
    // stop signal of the spec it runs, the pod's grace period), then remove it; the pod machine
    // starts it again from the new spec.
    replaceApps: fromPromise<void, ReplaceAppsInput>(async ({ input }) => {
      const { ms: graceMs } = gracePeriodMs(rec.pod.spec.terminationGracePeriodSeconds ?? 30);
      const deadline = host.clock.now() + graceMs;
      const errors: unknown[] = [];
      await Promise.all(
        input.apps.map(async (name) => {
          const c = res.retired.get(name) ?? byName(name);
          const message = `Container ${name} definition changed, will be restarted`;
          log.info({ app: name, reason: 'Killing' }, message);
          host.events.emit({ uid: rec.uid, podName: rec.key, app: name, type: 'Normal', reason: 'Killing', message });
          try {
            await stopOne(c, deadline);
            await host.runtime.remove(containerId(rec.uid, name));
            await releaseAppMounts(dir, name);
          } catch (err) {
            if (!isNotFound(err)) errors.push(err);
          }
        }),
      );
      if (errors.length)
        throw new BerthError('Unavailable', `replacing ${input.apps.join(', ')} of ${rec.key}: ${errors.map(errorMessage).join('; ')}`, {
          cause: errors[0],
        });
    }),

    teardown: fromPromise<void, PodStepInput>(async () => {
      const errors: unknown[] = [];
      const seconds = rec.pod.spec.terminationGracePeriodSeconds ?? 30;
      const { ms: grace, clamped } = gracePeriodMs(seconds);
      if (clamped)
        log.warn(
          { terminationGracePeriodSeconds: seconds, waitSeconds: Math.floor(MAX_TIMER_MS / 1000) },
          'terminationGracePeriodSeconds is longer than berth can wait: waiting the longest a timer allows, then SIGKILL',
        );
      // A handle deleted by hand while the apps still hold the namespace: get it back from a
      // live app before stopping them, or the plugins' DEL cannot undo what they did in it.
      await reattachSandbox(host, rec, log);
      // the network goes once the apps are stopped, beside their removal (as the kubelet's
      // StopPodSandbox before RemovePodSandbox): DEL of every attachment, then the namespace handle
      const network = async (): Promise<unknown[]> => {
        if (rec.pod.spec.hostNetwork) return [];
        const errs = await detachAll(host, rec, host.netns.path(netnsName(rec.uid)), log);
        await host.netns.remove(netnsName(rec.uid)).catch((err: unknown) => errs.push(err));
        return errs;
      };
      // apps in parallel, then the sidecars in reverse order (pod-stop.ts)
      errors.push(
        ...(await stopPodContainers(host, rec, { graceMs: grace, remove: true, log, reason: 'Killing', stopOne, whileRemoving: network })),
      );
      // then the pod infra process and the pod cgroup (pod-infra.ts, runtime/pod-cgroup.ts)
      if (rec.pod.spec.shareProcessNamespace) await removeInfra(host, rec).catch((err: unknown) => errors.push(err));
      if (podCgroup && errors.length === 0) await host.runtime.removePodCgroup(podCgroup).catch((err: unknown) => errors.push(err));
      // the apps are gone: unmount the pinned volume sources (never removed through a mount)
      await releasePodMounts(dir).catch((err: unknown) => errors.push(err));
      if (errors.length) {
        const err = new BerthError('Unavailable', `teardown of ${rec.key}: ${errors.map(errorMessage).join('; ')}`, { cause: errors[0] });
        log.error({ reason: 'FailedKillPod', err }, 'teardown failed, will retry'); // the machine retries quietly: say why the pod stays Terminating
        throw err;
      }
      await host.appcMetadata.unregister(rec.uid);
      await rm(podLogDir(layout, rec.namespace, rec.name, rec.uid), { recursive: true, force: true });
    }),

    app: appMachine.provide({
      actors: {
        startApp: fromPromise<AppStarted, AppStartInput>(async ({ input, signal }) => {
          const c = byName(input.app);
          await imageFor(c, signal);
          executions.set(c.name, input.execution);
          try {
            return await startExecution(c, input.execution);
          } catch (err) {
            // a process that cannot run is an exit (StartError, 128) at this time, not a failed setup
            const details = err instanceof BerthError ? err.details : undefined;
            if (details?.reason !== 'StartError') throw err;
            host.events.emit({
              uid: rec.uid,
              podName: rec.key,
              app: c.name,
              type: 'Warning',
              reason: 'Failed',
              message: `Error: ${errorMessage(err)}`,
            });
            throw new BerthError(codeOf(err) ?? 'FailedPrecondition', errorMessage(err), {
              cause: err,
              details: { ...details, at: host.clock.now() },
            });
          }
        }),
        waitExit: fromPromise<AppExited, AppWaitInput>(async ({ input, signal }) => {
          const r = await host.runtime.waitExit(containerId(rec.uid, input.app), signal);
          const c = byName(input.app);
          const execution = executions.get(c.name) ?? rec.apps[c.name]?.restartCount ?? 0;
          const details = await exitDetails(dir, c, r, appLogPath(layout, rec.namespace, rec.name, rec.uid, c.name, execution)).catch(
            (err: unknown) => {
              log.warn({ app: c.name, err }, 'termination message could not be read');
              return { reason: r.exitCode === 0 ? 'Completed' : 'Error' };
            },
          );
          log.info({ app: input.app, exitCode: r.exitCode, reason: details.reason }, 'app exited');
          await postStop(c);
          return { exitCode: r.exitCode, finishedAt: r.finishedAt, ...details };
        }),
        ...supervision,
      },
    }),
  };
}
