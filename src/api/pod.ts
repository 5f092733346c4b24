/**
 * Kubernetes v1 Pod, the subset berth runs (DESIGN.md §2). Objects are strict: an unknown
 * field is an error, so that typos never pass silently. Fields that need an API server are
 * rejected with a message saying so (unsupported.ts); scheduling fields are accepted and
 * reported as ignored by the loader. Checks that span fields live in checks.ts.
 */
import { z } from 'zod';
import { qualifiedNameProblems } from './limits.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const Dns1123Label = z
  .string()
  .max(63)
  .regex(DNS1123_LABEL, 'must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit');
export const Dns1123Subdomain = z
  .string()
  .max(253)
  .regex(DNS1123_SUBDOMAIN, 'must be a DNS-1123 subdomain: lowercase letters, digits, "-" and "."');

/** Kubernetes quantities (`100m`, `128Mi`, `1G`, `0.5`). */
export const Quantity = z.union([
  z.number(),
  z.string().regex(/^[+-]?(\d+(\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[+-]?\d+)?$/, 'must be a quantity such as 100m, 128Mi or 2'),
]);

export const ObjectMeta = z
  .object({
    name: Dns1123Subdomain,
    namespace: Dns1123Label.default('default'),
    labels: z.record(z.string()).optional(),
    annotations: z.record(z.string()).optional(),
    uid: z.string().optional(),
    generateName: z.string().optional(),
    // Written by an API server (kubeadm and `kubectl get -o yaml` leave them in files): no
    // effect on a static pod, as for the kubelet. Controller fields are warned about (unsupported.ts).
    creationTimestamp: z.union([z.string(), z.null()]).optional(),
    resourceVersion: z.string().optional(),
    selfLink: z.string().optional(),
    generation: z.number().int().optional(),
    managedFields: z.array(z.unknown()).optional(),
    deletionTimestamp: z.union([z.string(), z.null()]).optional(),
    deletionGracePeriodSeconds: z.number().int().optional(),
    ownerReferences: z.array(z.unknown()).optional(),
    finalizers: z.array(z.string()).optional(),
  })
  .strict();

export const EnvVar = z
  .object({
    name: z
      .string()
      .min(1)
      .regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, 'must be a C identifier-like environment variable name'),
    value: z.string().optional(),
    valueFrom: z
      .object({
        fieldRef: z.object({ fieldPath: z.string(), apiVersion: z.string().optional() }).strict().optional(),
        resourceFieldRef: z
          .object({ resource: z.string(), containerName: z.string().optional(), divisor: Quantity.optional() })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const ContainerPort = z
  .object({
    containerPort: z.number({ required_error: 'a port needs containerPort (hostPort alone is not enough)' }).int().min(1).max(65535),
    hostPort: z.number().int().min(1).max(65535).optional(),
    hostIP: z.string().optional(),
    protocol: z.enum(['TCP', 'UDP', 'SCTP']).default('TCP'),
    name: z.string().max(15).optional(),
  })
  .strict();

export const VolumeMount = z
  .object({
    name: z.string(),
    mountPath: z.string().startsWith('/', 'must be an absolute path'),
    readOnly: z.boolean().optional(),
    subPath: z.string().optional(),
    /** like subPath, with `$(VAR)` expanded from the container's env; exclusive with subPath */
    subPathExpr: z.string().optional(),
    mountPropagation: z.enum(['None', 'HostToContainer', 'Bidirectional']).optional(),
  })
  .strict();

export const ResourceRequirements = z
  .object({
    limits: z.record(Quantity).optional(),
    requests: z.record(Quantity).optional(),
  })
  .strict();

const Capabilities = z.object({ add: z.array(z.string()).optional(), drop: z.array(z.string()).optional() }).strict();

/** `seccompProfile` (pod and container): berth's default is RuntimeDefault, as the restricted profile asks. */
export const SeccompProfile = z
  .object({
    type: z.enum(['RuntimeDefault', 'Localhost', 'Unconfined']),
    /** a path relative to `<config-dir>/seccomp/`; only with type Localhost */
    localhostProfile: z.string().min(1).optional(),
  })
  .strict();

/** `appArmorProfile`: applied where the host runs AppArmor, otherwise a warning names the field. */
export const AppArmorProfile = z
  .object({ type: z.enum(['RuntimeDefault', 'Localhost', 'Unconfined']), localhostProfile: z.string().min(1).optional() })
  .strict();

/** `seLinuxOptions`: applied where the host runs SELinux, otherwise a warning names the field. */
export const SELinuxOptions = z
  .object({ user: z.string().optional(), role: z.string().optional(), type: z.string().optional(), level: z.string().optional() })
  .strict();

export const SecurityContext = z
  .object({
    runAsUser: z.number().int().min(0).optional(),
    runAsGroup: z.number().int().min(0).optional(),
    runAsNonRoot: z.boolean().optional(),
    readOnlyRootFilesystem: z.boolean().optional(),
    privileged: z.boolean().optional(),
    allowPrivilegeEscalation: z.boolean().optional(),
    capabilities: Capabilities.optional(),
    seccompProfile: SeccompProfile.optional(),
    appArmorProfile: AppArmorProfile.optional(),
    seLinuxOptions: SELinuxOptions.optional(),
    procMount: z.enum(['Default', 'Unmasked']).optional(),
  })
  .strict();

export const Sysctl = z.object({ name: z.string().min(1), value: z.string() }).strict();

export const PodSecurityContext = z
  .object({
    runAsUser: z.number().int().min(0).optional(),
    runAsGroup: z.number().int().min(0).optional(),
    runAsNonRoot: z.boolean().optional(),
    fsGroup: z.number().int().min(0).optional(),
    /** when the volumes' ownership is changed to fsGroup (runtime/volume-ownership.ts) */
    fsGroupChangePolicy: z.enum(['OnRootMismatch', 'Always']).optional(),
    supplementalGroups: z.array(z.number().int().min(0)).optional(),
    supplementalGroupsPolicy: z.enum(['Merge', 'Strict']).optional(),
    sysctls: z.array(Sysctl).optional(),
    seccompProfile: SeccompProfile.optional(),
    appArmorProfile: AppArmorProfile.optional(),
    seLinuxOptions: SELinuxOptions.optional(),
  })
  .strict();

const HttpGet = z
  .object({
    path: z.string().optional(),
    port: z.union([z.number().int(), z.string()]),
    host: z.string().optional(),
    scheme: z.enum(['HTTP', 'HTTPS']).optional(),
    httpHeaders: z.array(z.object({ name: z.string(), value: z.string() }).strict()).optional(),
  })
  .strict();
const ExecAction = z.object({ command: z.array(z.string()).min(1) }).strict();
const TcpSocket = z.object({ port: z.union([z.number().int(), z.string()]), host: z.string().optional() }).strict();
/** gRPC health checking (grpc.health.v1): a number only, as the API server wants */
const GrpcAction = z.object({ port: z.number().int().min(1).max(65535), service: z.string().optional() }).strict();

/**
 * A probe count the API server defaults when it is 0 as when it is unset (an int32, not a
 * pointer: SetDefaults_Probe): 0 becomes the kubelet's default (period 10, timeout 1,
 * success 1, failure 3); negative values are invalid.
 */
const ProbeDefaulted = z.preprocess(
  (v) => (v === 0 ? undefined : v),
  z.number().int().min(0, 'must be greater than or equal to 0').optional(),
);

export const Probe = z
  .object({
    exec: ExecAction.optional(),
    httpGet: HttpGet.optional(),
    tcpSocket: TcpSocket.optional(),
    grpc: GrpcAction.optional(),
    initialDelaySeconds: z.number().int().min(0).optional(),
    periodSeconds: ProbeDefaulted,
    timeoutSeconds: ProbeDefaulted,
    successThreshold: ProbeDefaulted,
    failureThreshold: ProbeDefaulted,
    terminationGracePeriodSeconds: z.number().int().min(0).optional(),
  })
  .strict();

const LifecycleHandler = z
  .object({
    exec: ExecAction.optional(),
    httpGet: HttpGet.optional(),
    tcpSocket: TcpSocket.optional(),
    sleep: z.object({ seconds: z.number().int() }).strict().optional(),
  })
  .strict();

export const Container = z
  .object({
    name: Dns1123Label,
    image: z.string().min(1, 'must name an image'),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    workingDir: z.string().startsWith('/', 'must be an absolute path').optional(),
    env: z.array(EnvVar).optional(),
    ports: z.array(ContainerPort).optional(),
    volumeMounts: z.array(VolumeMount).optional(),
    resources: ResourceRequirements.optional(),
    securityContext: SecurityContext.optional(),
    livenessProbe: Probe.optional(),
    readinessProbe: Probe.optional(),
    startupProbe: Probe.optional(),
    lifecycle: z
      .object({
        postStart: LifecycleHandler.optional(),
        preStop: LifecycleHandler.optional(),
        /** the signal that stops the app, over the image's STOPSIGNAL (checked in pod-api-checks.ts) */
        stopSignal: z.string().optional(),
      })
      .strict()
      .optional(),
    /** only `Always`, on init containers: a sidecar (pod-api-checks.ts) */
    restartPolicy: z.enum(['Always']).optional(),
    /**
     * accepted: a changed resource (any spec change) replaces the whole pod, as the kubelet does
     * when a static pod's file changes (in-place resize needs the API server's resize call)
     */
    resizePolicy: z
      .array(z.object({ resourceName: z.string(), restartPolicy: z.enum(['NotRequired', 'RestartContainer']) }).strict())
      .optional(),
    /** an open stdin (conmon -i) that nobody writes to: berth has no attach, as a kubelet pod nobody attaches to */
    stdin: z.boolean().optional(),
    /** with stdin: closed after the first attach ends; berth has no attach, so it stays open and empty */
    stdinOnce: z.boolean().optional(),
    /** the app runs on a terminal (conmon -t); its output is logged from the terminal */
    tty: z.boolean().optional(),
    terminationMessagePath: z.string().optional(),
    terminationMessagePolicy: z.enum(['File', 'FallbackToLogsOnError']).optional(),
  })
  .strict();

export const Volume = z
  .object({
    name: Dns1123Label,
    hostPath: z
      .object({
        path: z.string().startsWith('/', 'must be an absolute path'),
        type: z.enum(['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice']).optional(),
      })
      .strict()
      .optional(),
    /** medium HugePages[-size] passes here and is refused with its reason (unsupported.ts) */
    emptyDir: z
      .object({ medium: z.union([z.enum(['', 'Memory']), z.string().startsWith('HugePages')]).optional(), sizeLimit: Quantity.optional() })
      .strict()
      .optional(),
    /** files of pod metadata and container resources (reconciler/downward-api.ts; checked in spec/volume-checks.ts) */
    downwardAPI: z
      .object({
        defaultMode: z.number().int().min(0).max(0o777).optional(),
        items: z
          .array(
            z
              .object({
                path: z.string().min(1),
                fieldRef: z.object({ fieldPath: z.string(), apiVersion: z.string().optional() }).strict().optional(),
                resourceFieldRef: z
                  .object({ resource: z.string(), containerName: z.string().optional(), divisor: Quantity.optional() })
                  .strict()
                  .optional(),
                mode: z.number().int().min(0).max(0o777).optional(),
              })
              .strict(),
          )
          .optional(),
      })
      .strict()
      .optional(),
    /** an OCI image mounted read-only and noexec (the kubelet's image volume) */
    image: z
      .object({ reference: z.string().min(1), pullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional() })
      .strict()
      .optional(),
  })
  .strict();

export const PodSpec = z
  .object({
    containers: z.array(Container).min(1, 'a pod needs at least one container'),
    initContainers: z.array(Container).optional(),
    restartPolicy: z.enum(['Always', 'OnFailure', 'Never']).default('Always'),
    terminationGracePeriodSeconds: z.number().int().min(0).default(30),
    /** the pod is ended (phase Failed, reason DeadlineExceeded) this long after it started (pod.machine.ts) */
    activeDeadlineSeconds: z.number().int().min(1, 'must be at least 1').optional(),
    /** conditions that must be True for the pod to be Ready, set with `berth condition POD TYPE=True|False` (pod-conditions.ts) */
    readinessGates: z
      .array(
        z
          .object({
            // a qualified name, as the API server checks it (example.com/lb-ready)
            conditionType: z.string().superRefine((v, ctx) => {
              for (const m of qualifiedNameProblems(v)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: m });
            }),
          })
          .strict(),
      )
      .optional(),
    hostNetwork: z.boolean().default(false),
    hostname: Dns1123Label.optional(),
    /** the pod's FQDN is hostname.subdomain.namespace.svc.cluster.local (/etc/hosts; pod-files.ts) */
    subdomain: Dns1123Label.optional(),
    /** the kernel hostname is the FQDN (at most 64 characters, pod-api-checks.ts) */
    setHostnameAsFQDN: z.boolean().optional(),
    /** pod-level resources (cpu and memory, pod-api-checks.ts): a pod cgroup above the apps' (runtime/pod-cgroup.ts) */
    resources: ResourceRequirements.optional(),
    hostAliases: z.array(z.object({ ip: z.string(), hostnames: z.array(z.string()) }).strict()).optional(),
    dnsPolicy: z.enum(['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None']).optional(),
    dnsConfig: z
      .object({
        nameservers: z.array(z.string()).optional(),
        searches: z.array(z.string()).optional(),
        options: z.array(z.object({ name: z.string(), value: z.string().optional() }).strict()).optional(),
      })
      .strict()
      .optional(),
    securityContext: PodSecurityContext.optional(),
    volumes: z.array(Volume).optional(),
    hostPID: z.boolean().optional(),
    /** the apps share one PID namespace held by the pod's infra process (reconciler/pod-infra.ts) */
    shareProcessNamespace: z.boolean().optional(),
    hostIPC: z.boolean().optional(),
    /** no services on a single host: there are no service links to inject */
    enableServiceLinks: z.boolean().optional(),
    /** "linux"; "windows" is refused (unsupported.ts) */
    os: z
      .object({ name: z.enum(['linux', 'windows']) })
      .strict()
      .optional(),
    /** false: the pod's apps run in a user namespace of their own (runtime/userns.ts) */
    hostUsers: z.boolean().optional(),
    /** false only (there are no service account tokens to mount; true is refused in unsupported.ts) */
    automountServiceAccountToken: z.boolean().optional(),
    schedulingGates: z.array(z.object({ name: z.string() }).strict()).optional(),
    // Scheduling fields: accepted so that the file stays a valid cluster Pod, ignored with a warning.
    nodeSelector: z.record(z.string()).optional(),
    affinity: z.record(z.unknown()).optional(),
    tolerations: z.array(z.record(z.unknown())).optional(),
    priorityClassName: z.string().optional(),
    priority: z.number().int().optional(),
    schedulerName: z.string().optional(),
    nodeName: z.string().optional(),
    topologySpreadConstraints: z.array(z.record(z.unknown())).optional(),
    preemptionPolicy: z.enum(['PreemptLowerPriority', 'Never']).optional(),
  })
  .strict();

export const Pod = z
  .object({
    apiVersion: z.literal('v1'),
    kind: z.literal('Pod'),
    metadata: ObjectMeta,
    spec: PodSpec,
    status: z.unknown().optional(),
  })
  .strict();

export type Pod = z.infer<typeof Pod>;
export type PodSpec = z.infer<typeof PodSpec>;
export type Container = z.infer<typeof Container>;
export type Volume = z.infer<typeof Volume>;
export type EnvVar = z.infer<typeof EnvVar>;
export type ContainerPort = z.infer<typeof ContainerPort>;
export type RestartPolicy = PodSpec['restartPolicy'];
export type SecurityContext = z.infer<typeof SecurityContext>;
export type PodSecurityContext = z.infer<typeof PodSecurityContext>;
export type SeccompProfile = z.infer<typeof SeccompProfile>;

/** The annotation that lists a pod's networks (the Multus convention). */
export const NETWORKS_ANNOTATION = 'k8s.v1.cni.cncf.io/networks';
