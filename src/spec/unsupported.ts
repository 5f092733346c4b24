/**
 * Kubernetes Pod fields berth cannot honour, found in the raw document before the schema
 * runs, so that the operator reads why rather than "unknown field":
 * - fields that need a Kubernetes API server (secrets, configMaps, service accounts, PVCs…)
 *   and volume types berth has no driver for are errors;
 * - scheduling fields are accepted (the file stays a valid cluster Pod) and ignored with a warning.
 */
import type { FieldPath } from './path.js';

export interface RawIssue {
  severity: 'error' | 'warning';
  path: FieldPath;
  message: string;
  /** point at the key of the field rather than at its value */
  atKey?: boolean;
}

const NO_API_SERVER = 'needs a Kubernetes API server, which berth does not have';
const SCHEDULING_IGNORED = 'ignored: berth runs pods on this host only';

/** Volume sources that read objects from the API server. */
const API_VOLUMES: Record<string, string> = {
  secret: 'a secret volume',
  configMap: 'a configMap volume',
  persistentVolumeClaim: 'a persistentVolumeClaim volume',
  projected: 'a projected volume',
  downwardAPI: 'a downwardAPI volume',
  ephemeral: 'an ephemeral volume (it creates a PersistentVolumeClaim)',
  csi: 'a csi volume (CSI drivers are registered through the API server)',
};

/** Other Kubernetes volume sources: valid in a cluster, but berth has no driver for them. */
const OTHER_VOLUMES = [
  'nfs', 'iscsi', 'glusterfs', 'rbd', 'cephfs', 'cinder', 'fc', 'flexVolume', 'flocker',
  'awsElasticBlockStore', 'gcePersistentDisk', 'azureDisk', 'azureFile', 'vsphereVolume',
  'quobyte', 'photonPersistentDisk', 'portworxVolume', 'scaleIO', 'storageos', 'gitRepo', 'image',
];

const API_POD_FIELDS: Record<string, string> = {
  serviceAccountName: 'serviceAccountName',
  serviceAccount: 'serviceAccount',
  automountServiceAccountToken: 'automountServiceAccountToken (service account tokens)',
  imagePullSecrets: 'imagePullSecrets (use auth.json in the config directory instead)',
  resourceClaims: 'resourceClaims',
  runtimeClassName: 'runtimeClassName (RuntimeClass objects)',
};

/** Scheduling fields: accepted by the schema, reported as ignored. */
export const SCHEDULING_FIELDS = [
  'nodeSelector', 'affinity', 'tolerations', 'priorityClassName', 'priority', 'schedulerName',
  'nodeName', 'topologySpreadConstraints', 'preemptionPolicy',
] as const;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Scan a raw (not yet validated) Pod document. */
export function scanPod(raw: Record<string, unknown>): RawIssue[] {
  const issues: RawIssue[] = [];
  const spec = raw['spec'];
  if (!isObject(spec)) return issues;

  for (const [field, what] of Object.entries(API_POD_FIELDS)) {
    if (field in spec) issues.push({ severity: 'error', path: ['spec', field], message: `${what} ${NO_API_SERVER}`, atKey: true });
  }
  for (const field of SCHEDULING_FIELDS) {
    if (field in spec) issues.push({ severity: 'warning', path: ['spec', field], message: SCHEDULING_IGNORED, atKey: true });
  }

  const volumes = spec['volumes'];
  if (Array.isArray(volumes)) {
    volumes.forEach((vol: unknown, i) => {
      if (!isObject(vol)) return;
      for (const key of Object.keys(vol)) {
        const api = API_VOLUMES[key];
        if (api !== undefined) {
          issues.push({ severity: 'error', path: ['spec', 'volumes', i, key], message: `${api} ${NO_API_SERVER}; use a hostPath or emptyDir volume`, atKey: true });
        } else if (OTHER_VOLUMES.includes(key)) {
          issues.push({ severity: 'error', path: ['spec', 'volumes', i, key], message: `${key} volumes are not supported by berth; use a hostPath or emptyDir volume`, atKey: true });
        }
      }
    });
  }

  for (const list of ['containers', 'initContainers'] as const) {
    const containers = spec[list];
    if (!Array.isArray(containers)) continue;
    containers.forEach((c: unknown, ci) => {
      if (!isObject(c)) return;
      if ('envFrom' in c) {
        issues.push({ severity: 'error', path: ['spec', list, ci, 'envFrom'], message: `envFrom (configMaps and secrets) ${NO_API_SERVER}; list the variables under env`, atKey: true });
      }
      const env = c['env'];
      if (!Array.isArray(env)) return;
      env.forEach((e: unknown, ei) => {
        if (!isObject(e) || !isObject(e['valueFrom'])) return;
        const from = e['valueFrom'];
        for (const [key, what] of [['secretKeyRef', 'a secret'], ['configMapKeyRef', 'a configMap']] as const) {
          if (key in from) {
            issues.push({ severity: 'error', path: ['spec', list, ci, 'env', ei, 'valueFrom', key], message: `${key} (${what}) ${NO_API_SERVER}; set value instead`, atKey: true });
          }
        }
      });
    });
  }
  return issues;
}
