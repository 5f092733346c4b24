/** The CNI module (DESIGN.md §4): a libcni-shaped runtime and network namespace handles. */
export type {
  CachedAttachment,
  Cni,
  CniExec,
  CniResult,
  GcArgs,
  GcAttachment,
  NetnsManager,
  NetworkConfigList,
  PluginConf,
  RuntimeConf,
} from './types.js';
export { parseNetworkConfigList, loadNetworkConfigLists, confListFromConf, parsePluginConf } from './conf.js';
export { CURRENT_CNI_VERSION, KNOWN_CNI_VERSIONS, selectCniVersion, compareCniVersions, versionAtLeast } from './version.js';
export {
  createCni,
  cachedConfigList,
  CniRuntime,
  buildPluginConfig,
  buildCniEnv,
  formatCniArgs,
  DEFAULT_PLUGIN_TIMEOUT_MS,
  type CniOptions,
} from './cni.js';
export { CniError, CniCode, PluginExitError, parsePluginError, berthCodeForCni, type CniVerb, type CniErrorInit } from './errors.js';
export { parseResult, convertResult, toV1 } from './result.js';
export { ResultCache, decodeCacheFile, CNI_CACHE_KIND, type CacheFile } from './cache.js';
export { validateContainerId, validateNetworkName, validateIfName, CNI_NAME } from './validate.js';
export { ExecCni } from './host/exec.js';
export { pinBridgeMacs, stableBridgeMac, listBridges } from './host/bridge.js';
export { IpNetnsManager, DEFAULT_NETNS_DIR, validateNetnsName } from './host/netns.js';
export {
  HostIptables,
  removeIpMasqLeftovers,
  sharedSaves,
  findLeftovers,
  removalScript,
  ipMasqChainName,
  ipMasqComment,
  listMasquerades,
  type Iptables,
  type IptablesLeftovers,
} from './host/ipmasq.js';
