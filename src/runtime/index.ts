export type {
  AppExit,
  AppLaunch,
  AppRuntime,
  AppState,
  AppStatus,
  ExecOptions,
  ExecResult,
  ImageProcessConfig,
  OciFeatures,
  OciRunResult,
  OciRuntime,
} from './types.js';
export { EXEC_OUTPUT_CAP } from './types.js';
export {
  detectCgroupMode,
  detectCgroupFacts,
  hostRlimits,
  hostBoundingCapabilities,
  parseCgroupMounts,
  parseProcLimits,
  cgroupModeOf,
  type CgroupFacts,
  type CgroupMode,
  type HostRlimits,
  type Rlimit,
} from './host-facts.js';
export {
  CliOciRuntime,
  resolveOciRuntime,
  crunNeedsWrapper,
  crunWrapperScript,
  findExecutable,
  type OciRuntimeName,
  type OciState,
  type ResolveOciRuntimeOptions,
} from './oci-runtime.js';
export {
  buildOciSpec,
  buildEnv,
  processArgs,
  expandVars,
  capabilitySet,
  parseQuantity,
  DEFAULT_CAPABILITIES,
  MASKED_PATHS,
  READONLY_PATHS,
  bundleWarnings,
  type BundleFacts,
  type OciSpec,
} from './oci-spec.js';
export { DEFAULT_PIDS_LIMIT } from './defaults.js';
export { loadUserDb, resolveUserSpec, parsePasswd, parseGroup, type UserDb, type ResolvedUser } from './users.js';
export { overlayPaths, mountOverlay, unmountAll, type OverlayPaths } from './overlay.js';
export { ConmonRuntime, normalizeSignal, type ConmonRuntimeOptions, type ContainerMeta } from './conmon-runtime.js';
export { readCriLog, parseCriLine, type CriLine, type ReadCriLogOptions } from './logs.js';
export { isAlive, readProcStat, parseProcStat, type ProcStat } from './proc.js';
export { qosClass, oomScoreAdj, type QosClass } from './qos.js';
