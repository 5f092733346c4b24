/**
 * What an appc executor (appc `spec/ace.md`) does for an ACI app beyond running it, wired
 * into the pod's actors (pod-actors.ts):
 *
 * - implicit volumes: an image mountPoint that no pod volume of its name serves and that the
 *   container does not mount otherwise gets a per-pod empty volume of that name (rkt's
 *   behaviour), shared by the pod's apps with a mountPoint of the same name; a warning says so;
 * - `pre-start`: given to the runtime with the launch (`AppLaunch.appcPreStart`), which runs it
 *   inside the created container before the app's process (runtime/appc-handlers.ts);
 * - `post-stop`: after the app exited, before its overlay is discarded (the next execution's
 *   start, or the pod's teardown), once per execution, also when the app was stopped;
 * - the metadata service: the pod registered with its reified pod manifest, `AC_METADATA_URL`
 *   put in the app's environment (appc-metadata/service.ts).
 */
import { createReadStream } from 'node:fs';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, errorMessage } from '../common/errors.js';
import { readTextIfExists, makeDirs } from '../common/fs.js';
import type { Logger } from '../common/logger.js';
import { buildPodManifest, appcAnnotations, type AciAppInfo, type Annotation } from '../appc-metadata/pod-manifest.js';
import type { AppcMetadataService, MetadataApp } from '../appc-metadata/service.js';
import { validateAci } from '../image/appc/archive.js';
import { parseImageReference } from '../image/index.js';
import type { MountPoint } from '../image/appc/manifest.js';
import type { RenderedImage } from '../image/types.js';
import type { AppLaunch, AppRuntime } from '../runtime/types.js';
import type { Container, Pod } from '../api/pod.js';
import { containerId } from './layout.js';
import type { PodRecord } from './records.js';
import { EMPTY_DIR_MODE, emptyDirPath } from './volumes.js';

/** How long a pre-start or post-stop handler may run before it is killed (and counts as failed). */
export const APPC_HANDLER_TIMEOUT_MS = 60_000;

/**
 * The pod with an emptyDir volume for each of the image's mountPoints that nothing else serves
 * (the directory made now, mode 0777 like any emptyDir); the pod itself when there are none.
 */
export async function withImplicitAppcVolumes(
  pod: Pod,
  c: Container,
  mountPoints: MountPoint[] | undefined,
  podDir: string,
  log: Logger,
): Promise<Pod> {
  const names = implicitVolumeNames(pod, c, mountPoints);
  if (names.length === 0) return pod;
  for (const name of names) {
    const p = emptyDirPath(podDir, name);
    await makeDirs(p, EMPTY_DIR_MODE);
    await chmod(p, EMPTY_DIR_MODE);
    log.warn(
      { app: c.name, mountPoint: name, path: mountPoints!.find((m) => m.name === name)!.path },
      `appc mountPoint "${name}" has no pod volume of that name: an empty per-pod volume is used (add a volume named "${name}" to choose one)`,
    );
  }
  return {
    ...pod,
    spec: {
      ...pod.spec,
      volumes: [
        ...(pod.spec.volumes ?? []),
        ...names.map((name) => ({ name, emptyDir: {} }) as NonNullable<Pod['spec']['volumes']>[number]),
      ],
    },
  };
}

/** mountPoints bound to an implicit volume: no pod volume of the name, nothing mounted at its name or path. */
export function implicitVolumeNames(pod: Pod, c: Container, mountPoints: MountPoint[] | undefined): string[] {
  const vols = new Set((pod.spec.volumes ?? []).map((v) => v.name));
  const explicit = c.volumeMounts ?? [];
  return (mountPoints ?? [])
    .filter((mp) => !vols.has(mp.name) && !explicit.some((m) => m.name === mp.name || m.mountPath === mp.path))
    .map((mp) => mp.name);
}

const manifestCache = new Map<string, Promise<string>>();

/** The ACI's manifest as its own bytes, read once from the store (`<state>/blobs/sha512/<hex>`). */
function manifestTextOf(stateDir: string, imageId: string): Promise<string> {
  let p = manifestCache.get(imageId);
  if (!p) {
    const hex = imageId.slice('sha512-'.length);
    if (!/^[0-9a-f]{128}$/.test(hex)) return Promise.reject(new BerthError('InvalidArgument', `bad appc image ID ${imageId}`));
    p = validateAci(createReadStream(join(stateDir, 'blobs', 'sha512', hex)), imageId).then((r) => r.manifestText);
    p.catch(() => manifestCache.delete(imageId));
    manifestCache.set(imageId, p);
  }
  return p;
}

export interface AppcLaunchInput {
  rec: PodRecord;
  container: Container;
  launch: AppLaunch;
  /** every image of the pod rendered so far, by reference */
  rendered: Map<string, RenderedImage>;
  /** the pod's IPs */
  ips: string[];
  stateDir: string;
  metadata: AppcMetadataService;
}

/** Set the launch's pre-start handler and `AC_METADATA_URL` for an ACI app; nothing for OCI apps. */
export async function prepareAppcLaunch(input: AppcLaunchInput): Promise<void> {
  const { container: c, launch } = input;
  const image = input.rendered.get(c.image);
  if (!image?.appc) return;
  const pre = image.appc.app?.eventHandlers?.find((h) => h.name === 'pre-start');
  if (pre) launch.appcPreStart = { exec: pre.exec, timeoutMs: APPC_HANDLER_TIMEOUT_MS };
  // kept with the bundle: an agent that adopts the exited app without rendering its image still runs it
  const post = image.appc.app?.eventHandlers?.find((h) => h.name === 'post-stop');
  await makeDirs(launch.bundleDir, 0o700);
  if (post) await writeFile(join(launch.bundleDir, POST_STOP_EXEC), JSON.stringify(post.exec), { mode: 0o600 });
  else await rm(join(launch.bundleDir, POST_STOP_EXEC), { force: true });
  const url = await serveAppcPod(input, c.name);
  const env = (launch.image.Env ?? []).filter((e) => !e.startsWith('AC_METADATA_URL='));
  launch.image = { ...launch.image, Env: [...env, `AC_METADATA_URL=${url}`] };
}

/**
 * Serve the pod on the metadata service (again: the data is replaced) and return its
 * `AC_METADATA_URL`, the same for the pod's whole life (token and port derive from the agent's
 * secret and the remembered port). Called at every ACI app's launch, and when an agent adopts a
 * running pod, so that its apps keep their metadata without a restart.
 */
export async function serveAppcPod(input: Omit<AppcLaunchInput, 'container' | 'launch'>, forApp?: string): Promise<string> {
  const { rec } = input;
  const apps: AciAppInfo[] = [];
  const served: MetadataApp[] = [];
  for (const x of rec.pod.spec.containers) {
    const img = input.rendered.get(x.image);
    if (!img?.appc) continue; // OCI apps have no appc image; an ACI app not rendered yet is served when it starts
    const text = await manifestTextOf(input.stateDir, img.appc.imageId);
    const manifest = JSON.parse(text) as AciAppInfo['manifest'];
    apps.push({
      container: x,
      imageId: img.appc.imageId,
      imageName: img.appc.name,
      labels: img.appc.labels,
      manifest,
      implicit: implicitVolumeNames(rec.pod, x, img.appc.app?.mountPoints),
    });
    served.push({
      name: x.name,
      imageId: img.appc.imageId,
      imageManifestText: text,
      imageAnnotations: (manifest.annotations ?? []) as Annotation[],
      appAnnotations: [],
    });
  }
  const podIP = rec.pod.spec.hostNetwork ? undefined : input.ips.find((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip));
  if (!rec.pod.spec.hostNetwork && !podIP)
    throw new BerthError(
      'FailedPrecondition',
      `${forApp ? `app ${forApp}: ` : ''}the appc metadata service needs an IPv4 pod address; pod ${rec.key} has ${input.ips.join(', ') || 'none'}`,
    );
  return input.metadata.register({
    uid: rec.uid,
    podIP,
    manifest: buildPodManifest(rec.pod, apps),
    annotations: appcAnnotations(rec.pod.metadata.annotations),
    apps: served,
  });
}

/** Is the reference an appc image (an ACI file or URL, or an appc name found by discovery)? */
export function isAppcReference(ref: string): boolean {
  try {
    const t = parseImageReference(ref).transport;
    return t === 'aci' || t === 'aci-url' || t === 'appc';
  } catch {
    return false; // validation refused it before; nothing to serve
  }
}

const postStops = new Map<string, Promise<void>>();

/** The post-stop argv saved with the bundle at launch (for an agent that did not render the image). */
const POST_STOP_EXEC = 'appc-post-stop-exec.json';

async function savedPostStop(bundleDir: string): Promise<string[] | undefined> {
  const text = await readTextIfExists(join(bundleDir, POST_STOP_EXEC));
  if (text === undefined) return undefined;
  const argv = JSON.parse(text) as unknown;
  return Array.isArray(argv) && argv.length > 0 && argv.every((a) => typeof a === 'string') ? argv : undefined;
}

/** Whether a post-stop handler of a pod (`uid`) is running: its app has not finished ending (`--once` waits). */
export function appcPostStopRunning(uid: string): boolean {
  const prefix = `${containerId(uid, '')}`;
  return [...postStops.keys()].some((k) => k.startsWith(prefix));
}

/**
 * The app's post-stop handler, once per execution (a marker in the bundle dir remembers the
 * execution it ran for, across agent restarts). Only when the container has exited; a failure
 * is logged (the app has ended either way, as rkt's ExecStopPost).
 */
export async function runAppcPostStop(
  runtime: AppRuntime,
  rec: PodRecord,
  c: Container,
  image: RenderedImage | undefined,
  bundleDir: string,
  log: Logger,
): Promise<void> {
  const exec = image ? image.appc?.app?.eventHandlers?.find((h) => h.name === 'post-stop')?.exec : await savedPostStop(bundleDir);
  if (!exec) return;
  const post = { exec };
  const id = containerId(rec.uid, c.name);
  const key = `${id}`;
  const running = postStops.get(key);
  if (running) return running;
  const p = (async () => {
    const st = await runtime.status(id);
    if (st.state !== 'exited') {
      log.debug({ app: c.name, state: st.state }, 'appc post-stop skipped: the app has not exited');
      return;
    }
    const marker = join(bundleDir, 'appc-post-stop.json');
    const execution = String(st.startedAt ?? st.finishedAt ?? 0);
    const done = (await readTextIfExists(marker)) ?? '';
    if (done === execution) {
      log.debug({ app: c.name }, 'appc post-stop already ran for this execution');
      return;
    }
    const r = await runtime.runAfterExit(id, post.exec, { timeoutMs: APPC_HANDLER_TIMEOUT_MS });
    await writeFile(marker, execution, { mode: 0o600 });
    const fields = { app: c.name, handler: 'post-stop', exitCode: r.exitCode, ...(r.timedOut ? { timedOut: true } : {}) };
    if (r.exitCode === 0 && !r.timedOut) log.info(fields, 'appc post-stop handler completed');
    else log.warn({ ...fields, stderr: r.stderr.slice(-500) }, 'appc post-stop handler failed');
  })()
    .catch((err: unknown) =>
      log.warn({ app: c.name, handler: 'post-stop', err: errorMessage(err) }, 'appc post-stop handler could not run'),
    )
    .finally(() => postStops.delete(key));
  postStops.set(key, p);
  return p;
}
