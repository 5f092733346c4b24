/**
 * Defaults of the runtime that the command line shows (`--pids-limit`), apart from the bundle
 * code: the global options are read by every command, the bundle code only when an app starts.
 */

/**
 * Default pids limit of an app (`--pids-limit`): podman's default. The kubelet sets none by
 * default, which lets a fork bomb take the host; berth takes the stricter of the two.
 */
export const DEFAULT_PIDS_LIMIT = 2048;
