/**
 * The CNI module's API, shaped like libcni (SPECS.md §1, CNI-xx): verbs on a network
 * configuration list, a result cache in libcni's format, and process execution behind CniExec.
 */

/** A network configuration list (CNI-01). `bytes` is the exact JSON the cache stores. */
export interface NetworkConfigList {
  name: string;
  cniVersion: string;
  cniVersions?: string[];
  disableCheck?: boolean;
  disableGC?: boolean;
  loadOnlyInlinedPlugins?: boolean;
  plugins: PluginConf[];
  bytes: string;
  /** the file it was loaded from (discovery only; never part of `bytes`) */
  file?: string;
}

/** One plugin object (CNI-02). Unknown keys pass through unchanged. */
export interface PluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

/** Per-attachment parameters (libcni RuntimeConf). */
export interface RuntimeConf {
  containerId: string;
  /** path of the network namespace handle */
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs; IgnoreUnknown=1 is added by the runtime */
  args?: Array<[string, string]>;
  /** capability arguments, filtered per plugin into runtimeConfig (CNI-07) */
  capabilityArgs?: Record<string, unknown>;
}

/** A 1.x result (CNI-23); older results are converted up. */
export interface CniResult {
  cniVersion: string;
  interfaces?: Array<{ name: string; mac?: string; sandbox?: string; mtu?: number; socketPath?: string; pciID?: string }>;
  ips?: Array<{ address: string; gateway?: string; interface?: number }>;
  routes?: Array<{ dst: string; gw?: string; mtu?: number; advmss?: number; priority?: number; table?: number; scope?: number }>;
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
  [key: string]: unknown;
}

export interface CachedAttachment {
  containerId: string;
  ifName: string;
  networkName: string;
  netns: string;
  cniArgs: Array<[string, string]>;
  capabilityArgs: Record<string, unknown>;
  /**
   * The conflist the attachment was ADDed with, as stored: base64 of its bytes (CNI-24); ""
   * for a legacy cache file. `cachedConfigList()` decodes and parses it.
   */
  config: string;
  result: CniResult;
}

/** libcni's CNI interface, the verbs berth needs now. */
export interface Cni {
  addNetworkList(list: NetworkConfigList, rt: RuntimeConf, signal?: AbortSignal): Promise<CniResult>;
  checkNetworkList(list: NetworkConfigList, rt: RuntimeConf, signal?: AbortSignal): Promise<void>;
  /** Idempotent: a missing cache entry or netns is not an error (CNI-13). */
  delNetworkList(list: NetworkConfigList, rt: RuntimeConf, signal?: AbortSignal): Promise<void>;
  getCachedResult(networkName: string, containerId: string, ifName: string): Promise<CachedAttachment | undefined>;
  getCachedAttachments(containerIdPrefix?: string): Promise<CachedAttachment[]>;
  /** Remove temporary files of interrupted cache writes older than `minAgeMs`; returns their names. */
  removeStaleCacheFiles(minAgeMs?: number): Promise<string[]>;
  /**
   * CNI-15: DEL this network's cached attachments missing from `validAttachments`, then (≥1.1.0)
   * GC to every plugin. Skipped with `disableGC`. Exclusive with ADD/CHECK/DEL of the network.
   */
  gcNetworkList(list: NetworkConfigList, args?: GcArgs, signal?: AbortSignal): Promise<void>;
  /** CNI-16: STATUS to every plugin in order (≥1.1.0; older lists succeed without a call). */
  getStatusNetworkList(list: NetworkConfigList, signal?: AbortSignal): Promise<void>;
  /** CNI-17: VERSION of one plugin type. */
  getVersionInfo(type: string, signal?: AbortSignal): Promise<{ cniVersion: string; supportedVersions: string[] }>;
  /** Plugin types (and ipam types) not in the plugin path, or not speaking the list's version. */
  pluginProblems(
    list: NetworkConfigList,
    signal?: AbortSignal,
  ): Promise<Array<{ index: number; field: 'type' | 'ipam.type'; message: string }>>;
}

/** One attachment GC keeps (libcni types.GCAttachment; JSON `{containerID, ifname}`). */
export interface GcAttachment {
  containerID: string;
  ifname: string;
}

export interface GcArgs {
  validAttachments: GcAttachment[];
}

/** How plugins are run (libcni pkg/invoke Exec). Tests provide a fake. */
export interface CniExec {
  execPlugin(pluginPath: string, stdin: string, env: Record<string, string>, signal?: AbortSignal): Promise<string>;
  findInPath(type: string, paths: string[]): Promise<string>;
}

/** Network namespace handles, bind-mounted at `<dir>/<name>` (`/run/netns` by default). */
export interface NetnsManager {
  /** Create (or adopt an existing) namespace; returns its path. */
  ensure(name: string): Promise<string>;
  /** Unmount and remove; a missing namespace is success. */
  remove(name: string): Promise<void>;
  exists(name: string): Promise<boolean>;
  list(prefix: string): Promise<string[]>;
  path(name: string): string;
  /**
   * Make a handle for the network namespace process `pid` is in (the handle was deleted
   * while the namespace lives on, e.g. someone ran `ip netns delete`); returns its path.
   */
  attach(name: string, pid: number): Promise<string>;
  /**
   * The interfaces in the namespace and their addresses (`10.0.0.5/24`); undefined when the
   * namespace is not there. Lets an adopted sandbox be checked against its cached attachments.
   */
  addresses(name: string): Promise<Record<string, string[]> | undefined>;
}
