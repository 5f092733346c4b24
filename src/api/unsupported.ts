/**
 * Kubernetes Pod fields berth cannot honour, found in the raw document before the schema
 * runs, so that the operator reads why rather than "unknown field":
 * - fields that need a Kubernetes API server (secrets, configMaps, service accounts, PVCs…)
 *   and volume types berth has no driver for are errors;
 * - scheduling fields are accepted (the file stays a valid cluster Pod) and ignored with a warning.
 */
import type { FieldPath } from './path.js';
import { probeIssues } from './probe-checks.js';

export interface RawIssue {
  severity: 'error' | 'warning';
  path: FieldPath;
  message: string;
  /** point at the key of the field rather than at its value */
  atKey?: boolean;
}

const NO_API_SERVER = 'is not supported by berth: it needs a Kubernetes API server, which berth does not have';
const SCHEDULING_IGNORED = 'ignored: berth runs pods on this host only';

/** Volume sources that read objects from the API server. */
const API_VOLUMES: Record<string, string> = {
  secret: 'a secret volume',
  configMap: 'a configMap volume',
  persistentVolumeClaim: 'a persistentVolumeClaim volume',
  projected: 'a projected volume',
  ephemeral: 'an ephemeral volume (it creates a PersistentVolumeClaim)',
  csi: 'a csi volume (CSI drivers are registered through the API server)',
};

/** Other Kubernetes volume sources: valid in a cluster, but berth has no driver for them. */
const OTHER_VOLUMES = [
  'nfs',
  'iscsi',
  'glusterfs',
  'rbd',
  'cephfs',
  'cinder',
  'fc',
  'flexVolume',
  'flocker',
  'awsElasticBlockStore',
  'gcePersistentDisk',
  'azureDisk',
  'azureFile',
  'vsphereVolume',
  'quobyte',
  'photonPersistentDisk',
  'portworxVolume',
  'scaleIO',
  'storageos',
  'gitRepo',
];

const API_POD_FIELDS: Record<string, string> = {
  serviceAccountName: 'serviceAccountName',
  serviceAccount: 'serviceAccount',
  // false is what berth does (no token is mounted): accepted by the schema
  automountServiceAccountToken: 'automountServiceAccountToken: true (service account tokens)',
  imagePullSecrets: 'imagePullSecrets (use auth.json in the config directory instead)',
  resourceClaims: 'resourceClaims',
  runtimeClassName: 'runtimeClassName (RuntimeClass objects)',
};

/**
 * Valid Kubernetes fields berth does not implement (yet): refused with the reason, so that a
 * Pod the kubelet would run is never half-run ("accepted and ignored") and never told
 * "unknown field" either.
 */
const NOT_YET = 'is not supported by berth yet';
const UNSUPPORTED_POD_FIELDS: Record<string, string> = {
  hostnameOverride: `${NOT_YET}: the pod's hostname is spec.hostname (or the pod name), and spec.subdomain gives its FQDN`,
  ephemeralContainers: 'is not supported by berth: ephemeral containers are added through the API server',
  overhead: 'is not supported by berth: it is set by RuntimeClass admission in an API server',
};

/** Container fields berth does not implement (yet), with the reason. */
const UNSUPPORTED_CONTAINER_FIELDS: Record<string, string> = {
  volumeDevices: 'is not supported by berth: block volumes come from PersistentVolumeClaims, which need an API server',
};

/** Security fields that have no meaning on a Linux host. */
const WINDOWS_ONLY = 'is not supported by berth: it applies to Windows containers, berth runs Linux containers';

/** Pod security context fields berth does not implement (yet). */
const UNSUPPORTED_POD_SECURITY_FIELDS: Record<string, string> = {
  windowsOptions: WINDOWS_ONLY,
  seLinuxChangePolicy: `${NOT_YET}: volumes are not relabelled`,
};

/** Read-only metadata an API server writes (kubeadm and `kubectl get -o yaml` leave it in files): accepted, no effect. */
export const READ_ONLY_METADATA = [
  'creationTimestamp',
  'resourceVersion',
  'selfLink',
  'generation',
  'managedFields',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
] as const;
/** Metadata that only means something to controllers of an API server: accepted with a warning. */
export const CONTROLLER_METADATA = ['ownerReferences', 'finalizers'] as const;

/** Scheduling fields: accepted by the schema, reported as ignored. */
export const SCHEDULING_FIELDS = [
  'nodeSelector',
  'affinity',
  'tolerations',
  'priorityClassName',
  'priority',
  'schedulerName',
  'nodeName',
  'topologySpreadConstraints',
  'preemptionPolicy',
] as const;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Scan a raw (not yet validated) Pod document. */
export function scanPod(raw: Record<string, unknown>): RawIssue[] {
  const issues: RawIssue[] = [];
  const spec = raw['spec'];
  if (!isObject(spec)) return issues;

  for (const [field, what] of Object.entries(API_POD_FIELDS)) {
    if (field === 'automountServiceAccountToken' && spec[field] !== true) continue;
    if (field in spec) issues.push({ severity: 'error', path: ['spec', field], message: `${what} ${NO_API_SERVER}`, atKey: true });
  }
  for (const field of SCHEDULING_FIELDS) {
    if (field in spec) issues.push({ severity: 'warning', path: ['spec', field], message: SCHEDULING_IGNORED, atKey: true });
  }
  if ('schedulingGates' in spec)
    issues.push({ severity: 'warning', path: ['spec', 'schedulingGates'], message: SCHEDULING_IGNORED, atKey: true });
  for (const [field, why] of Object.entries(UNSUPPORTED_POD_FIELDS)) {
    if (field in spec) issues.push({ severity: 'error', path: ['spec', field], message: `${field} ${why}`, atKey: true });
  }
  const os = spec['os'];
  if (isObject(os) && os['name'] === 'windows') {
    issues.push({
      severity: 'error',
      path: ['spec', 'os', 'name'],
      message: 'os.name "windows" is not supported by berth: berth runs Linux pods only (use "linux")',
    });
  }
  const psc = spec['securityContext'];
  if (isObject(psc)) {
    for (const [field, why] of Object.entries(UNSUPPORTED_POD_SECURITY_FIELDS)) {
      if (field in psc)
        issues.push({ severity: 'error', path: ['spec', 'securityContext', field], message: `${field} ${why}`, atKey: true });
    }
  }
  const meta = raw['metadata'];
  if (isObject(meta)) {
    for (const field of CONTROLLER_METADATA) {
      if (field in meta)
        issues.push({
          severity: 'warning',
          path: ['metadata', field],
          message: 'ignored: only controllers of a Kubernetes API server act on it',
          atKey: true,
        });
    }
  }

  const volumes = spec['volumes'];
  if (Array.isArray(volumes)) {
    volumes.forEach((vol: unknown, i) => {
      if (!isObject(vol)) return;
      for (const key of Object.keys(vol)) {
        const api = API_VOLUMES[key];
        if (api !== undefined) {
          issues.push({
            severity: 'error',
            path: ['spec', 'volumes', i, key],
            message: `${api} ${NO_API_SERVER}; use a hostPath or emptyDir volume`,
            atKey: true,
          });
        } else if (OTHER_VOLUMES.includes(key)) {
          issues.push({
            severity: 'error',
            path: ['spec', 'volumes', i, key],
            message: `${key} volumes are not supported by berth: berth has no driver for them; use a hostPath or emptyDir volume`,
            atKey: true,
          });
        }
      }
      const medium = isObject(vol['emptyDir']) ? vol['emptyDir']['medium'] : undefined;
      if (typeof medium === 'string' && medium.startsWith('HugePages')) {
        issues.push({
          severity: 'error',
          path: ['spec', 'volumes', i, 'emptyDir', 'medium'],
          message: `medium ${medium} is not supported by berth: berth does not reserve huge pages for pods; use medium Memory (a tmpfs) or the default (disk)`,
        });
      }
    });
  }

  for (const list of ['containers', 'initContainers'] as const) {
    const containers = spec[list];
    if (!Array.isArray(containers)) continue;
    containers.forEach((c: unknown, ci) => {
      if (!isObject(c)) return;
      for (const [field, why] of Object.entries(UNSUPPORTED_CONTAINER_FIELDS)) {
        if (field in c) issues.push({ severity: 'error', path: ['spec', list, ci, field], message: `${field} ${why}`, atKey: true });
      }
      issues.push(...probeIssues(list, ci, c));
      const sc = c['securityContext'];
      if (isObject(sc) && 'windowsOptions' in sc) {
        issues.push({
          severity: 'error',
          path: ['spec', list, ci, 'securityContext', 'windowsOptions'],
          message: `windowsOptions ${WINDOWS_ONLY}`,
          atKey: true,
        });
      }
      if ('envFrom' in c) {
        issues.push({
          severity: 'error',
          path: ['spec', list, ci, 'envFrom'],
          message: `envFrom (configMaps and secrets) ${NO_API_SERVER}; list the variables under env`,
          atKey: true,
        });
      }
      const env = c['env'];
      if (!Array.isArray(env)) return;
      env.forEach((e: unknown, ei) => {
        if (!isObject(e) || !isObject(e['valueFrom'])) return;
        const from = e['valueFrom'];
        for (const [key, what] of [
          ['secretKeyRef', 'a secret'],
          ['configMapKeyRef', 'a configMap'],
        ] as const) {
          if (key in from) {
            issues.push({
              severity: 'error',
              path: ['spec', list, ci, 'env', ei, 'valueFrom', key],
              message: `${key} (${what}) ${NO_API_SERVER}; set value instead`,
              atKey: true,
            });
          }
        }
      });
    });
  }
  return issues;
}
