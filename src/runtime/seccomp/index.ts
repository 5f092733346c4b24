/** Seccomp for apps: the default profile as data, Localhost profiles, conversion to OCI. */
export { MOBY_DEFAULT_PROFILE } from './default-profile.js';
export {
  allowedSyscallCount,
  convertProfile,
  kernelVersionOf,
  loadLocalhostProfile,
  LOCALHOST_FIELD,
  nativeArch,
  parseSeccompProfile,
  resolveLocalhostProfile,
  seccompFor,
  type ConvertOptions,
  type SeccompOptions,
} from './profile.js';
export type { DockerSeccompProfile, DockerSeccompRule, OciSeccomp, OciSeccompSyscall, SeccompSelection } from './types.js';
