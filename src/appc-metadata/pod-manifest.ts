/**
 * The reified appc PodManifest (appc `spec/pods.md`, `schema/pod.go`) of a Kubernetes Pod, as
 * the metadata service serves it: one RuntimeApp per ACI app (OCI apps have no appc image
 * and are left out), the pod's hostPath and emptyDir volumes (plus the implicit per-pod
 * empty volumes of appc mountPoints no pod volume serves, see reconciler/appc-hooks.ts) and
 * the pod annotations whose names are ACIdentifiers (appc cannot carry the others; a Go
 * decoder would refuse the whole manifest).
 */
import { AC_IDENTIFIER, AC_NAME } from '../image/appc/manifest.js';
import type { Container, Pod } from '../api/pod.js';

export const AC_VERSION = '0.8.11';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface Annotation {
  name: string;
  value: string;
}

/** One ACI app of the pod, with what its image says. */
export interface AciAppInfo {
  container: Container;
  imageId: string;
  imageName: string;
  labels: Record<string, string>;
  /** the image manifest, parsed from the ACI's own bytes */
  manifest: { app?: Record<string, unknown> | null; annotations?: Annotation[] };
  /** mountPoints bound to an implicit empty volume (name → path) */
  implicit?: string[];
}

/** Annotations appc can carry: ACIdentifier names, first of each name. */
export function appcAnnotations(map: Record<string, string> | undefined): Annotation[] {
  const out: Annotation[] = [];
  for (const [name, value] of Object.entries(map ?? {}))
    if (AC_IDENTIFIER.test(name) && !out.some((a) => a.name === name)) out.push({ name, value });
  return out;
}

/** Image annotations overridden by the app's own (`types.Annotations.Set` order). */
export function mergeAnnotations(image: Annotation[] | undefined, app: Annotation[]): Annotation[] {
  const out = (image ?? []).map((a) => ({ ...a }));
  for (const a of app) {
    const hit = out.find((x) => x.name === a.name);
    if (hit) hit.value = a.value;
    else out.push({ ...a });
  }
  return out;
}

/** The app as the pod runs it: the image's `app`, exec and environment as the container overrides them. */
function runtimeApp(info: AciAppInfo): Record<string, unknown> | undefined {
  const app = info.manifest.app;
  if (!app) return undefined;
  const c = info.container;
  const out: Record<string, unknown> = { ...app };
  const exec = (app.exec as string[] | undefined) ?? [];
  if (c.command?.length) out.exec = [...c.command, ...(c.args ?? [])];
  else if (c.args?.length) out.exec = [...exec.slice(0, 1), ...c.args];
  const env = [...((app.environment as Annotation[] | undefined) ?? [])];
  for (const e of c.env ?? []) {
    if (e.value === undefined || !ENV_NAME.test(e.name)) continue; // valueFrom is resolved at start; appc names are C identifiers
    const hit = env.find((x) => x.name === e.name);
    if (hit) hit.value = e.value;
    else env.push({ name: e.name, value: e.value });
  }
  if (env.length) out.environment = env;
  return out;
}

export function buildPodManifest(pod: Pod, apps: AciAppInfo[]): Record<string, unknown> {
  const volumes: Array<Record<string, unknown>> = [];
  for (const v of pod.spec.volumes ?? []) {
    if (!AC_NAME.test(v.name)) continue;
    if (v.hostPath) volumes.push({ name: v.name, kind: 'host', source: v.hostPath.path });
    else if (v.emptyDir) volumes.push({ name: v.name, kind: 'empty', mode: '0777', uid: 0, gid: 0 });
  }
  for (const a of apps) {
    for (const name of a.implicit ?? [])
      if (!volumes.some((v) => v.name === name)) volumes.push({ name, kind: 'empty', mode: '0777', uid: 0, gid: 0 });
  }
  const known = new Set(volumes.map((v) => v.name as string));
  return {
    acVersion: AC_VERSION,
    acKind: 'PodManifest',
    apps: apps.map((a) => {
      const mountPoints = ((a.manifest.app?.mountPoints as Array<{ name: string; path: string }> | undefined) ?? []).filter((m) =>
        known.has(m.name),
      );
      const explicit = (a.container.volumeMounts ?? [])
        .filter((m) => known.has(m.name))
        .map((m) => ({ volume: m.name, path: m.mountPath }));
      const mounts = [
        ...explicit,
        ...mountPoints
          .filter((m) => !explicit.some((e) => e.path === m.path || e.volume === m.name))
          .map((m) => ({ volume: m.name, path: m.path })),
      ];
      const app = runtimeApp(a);
      return {
        name: a.container.name,
        image: { name: a.imageName, id: a.imageId, labels: Object.entries(a.labels).map(([name, value]) => ({ name, value })) },
        ...(app ? { app } : {}),
        ...(mounts.length ? { mounts } : {}),
      };
    }),
    volumes,
    isolators: [],
    annotations: appcAnnotations(pod.metadata.annotations),
    ports: [],
  };
}
