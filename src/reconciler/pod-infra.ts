/**
 * The pod infra process of `shareProcessNamespace: true` pods, the kubelet's pause container:
 * a static binary (src/pause/pause.c, built next to the bundle as `berth-pause`) run as PID 1
 * of the PID namespace every app of the pod joins (OCI `linux.namespaces` pid with
 * `path: /proc/<pid>/ns/pid`). It reaps the zombies re-parented to it; the apps see each
 * other's processes and `/proc/1/cmdline` is `/pause`.
 *
 * It is confined like an app and more: its own runtime container (`berth-<id>-POD`) under
 * the same monitor, in the pod's network namespace and cgroup, as nobody (65534), no
 * capabilities, no_new_privs, seccomp RuntimeDefault, a read-only root holding only the
 * binary. It is started before the first app and checked before every app start: after an
 * agent restart the running one is adopted (the runtime's state names it); one that died
 * is started again. PID 1 dying makes the kernel kill every process of the namespace, so the
 * apps exit with it and are restarted by the pod's restartPolicy into the new namespace
 * (under `Never` they stay exited, as the kubelet leaves them after a sandbox loss). The
 * teardown stops it after the apps.
 */
import { createHash } from 'node:crypto';
import { access, copyFile, readFile, rename, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerthError, isNotFound } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { AppLaunch } from '../runtime/types.js';
import type { Container, Pod } from '../api/pod.js';
import type { Host } from './host.js';
import { infraContainerId, podCgroupName } from './layout.js';
import { podHostname } from './pod-files.js';
import type { PodRecord } from './records.js';
import { makeDirs } from '../common/fs.js';

export const PAUSE_BINARY_ENV = 'BERTH_PAUSE_BINARY';
export const INFRA_UID = 65534;
/** How long the infra process gets to exit on SIGTERM at teardown (it exits at once). */
const INFRA_GRACE_MS = 2000;

/** Where the pause binary is: $BERTH_PAUSE_BINARY, else `berth-pause` beside the bundle (dist/bundle, or its chunks/), else the build's. */
export async function pauseBinary(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = env[PAUSE_BINARY_ENV]
    ? [env[PAUSE_BINARY_ENV]]
    : [join(here, 'berth-pause'), join(here, '..', 'berth-pause'), join(here, '..', '..', 'dist', 'bundle', 'berth-pause')];
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  throw new BerthError(
    'FailedPrecondition',
    `shareProcessNamespace needs berth's pod infra process, and ${candidates.join(' / ')} is missing: build it (bash scripts/build-pause.sh, needs gcc) or set ${PAUSE_BINARY_ENV}`,
  );
}

/**
 * The infra process's root: `<state>/infra/<digest>/pause`, one directory per binary
 * content, so that a new build never changes the lower dir of a running overlay.
 */
export async function infraRootfs(stateDir: string, binary: string): Promise<string> {
  const bytes = await readFile(binary);
  const root = join(stateDir, 'infra', createHash('sha256').update(bytes).digest('hex').slice(0, 16));
  const target = join(root, 'pause');
  const have = await stat(target).catch(() => undefined); // not there yet: written below
  if (have?.size === bytes.length) return root;
  await makeDirs(root, 0o755);
  const tmp = `${target}.tmp-${process.pid}`;
  await copyFile(binary, tmp);
  await rename(tmp, target);
  return root;
}

/** The infra "container": /pause as nobody, nothing more (the runtime builds its OCI spec as an app's). */
export function infraContainer(): Container {
  return {
    name: 'POD',
    image: 'berth-pause',
    command: ['/pause'],
    securityContext: {
      runAsUser: INFRA_UID,
      runAsGroup: INFRA_UID,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
  } as Container;
}

/** The pod as the infra process's spec sees it: no pod security context (supplementalGroups, fsGroup, sysctls are the apps'). */
function infraPod(pod: Pod): Pod {
  const { securityContext: _sc, ...spec } = pod.spec;
  return { ...pod, spec } as Pod;
}

export function infraLaunch(rec: PodRecord, podDirPath: string, rootfsLower: string, pod = rec.pod): AppLaunch {
  const bundleDir = join(podDirPath, 'infra');
  return {
    containerId: infraContainerId(rec.uid),
    podUid: rec.uid,
    namespace: rec.namespace,
    podName: rec.name,
    appName: 'POD',
    execution: 0,
    bundleDir,
    rootfsLower,
    image: {},
    container: infraContainer(),
    pod: infraPod(pod),
    ...(rec.netns ? { netnsPath: rec.netns } : {}),
    ...(pod.spec.resources ? { podCgroup: podCgroupName(rec.uid) } : {}),
    hostname: podHostname(pod),
    logPath: join(bundleDir, 'pause.log'),
  };
}

/** The running infra process's pid: the live one, or a new one started now. */
export async function ensureInfra(host: Host, rec: PodRecord, podDirPath: string, log: Logger): Promise<number> {
  const id = infraContainerId(rec.uid);
  const st = await host.runtime.status(id);
  if (st.state === 'running' && st.pid) return st.pid;
  if (st.state !== 'unknown')
    log.warn(
      { containerId: id, state: st.state, exitCode: st.exitCode },
      'pod infra process is gone: starting it again (the apps of its PID namespace died with it)',
    );
  const root = await infraRootfs(host.layout.stateDir, await pauseBinary());
  const started = await host.runtime.start(infraLaunch(rec, podDirPath, root));
  if (!started.pid) throw new BerthError('Internal', `pod infra process ${id} started without a pid`);
  log.info({ containerId: id, pid: started.pid }, 'pod infra process started');
  return started.pid;
}

/** Stop and remove the infra process (after the apps); nothing to do when it is not there. */
export async function removeInfra(host: Host, rec: PodRecord): Promise<void> {
  const id = infraContainerId(rec.uid);
  try {
    await host.runtime.stop(id, INFRA_GRACE_MS);
    await host.runtime.remove(id);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
