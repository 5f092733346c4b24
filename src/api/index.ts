/** The spec module: parse and validate Pod and Network documents, then resolve the desired set. */
export * from './pod.js';
export * from './network.js';
export type * from './types.js';
export { parseFile } from './parse.js';
export { resolveDesired, compareFiles, type ResolveOptions } from './resolve.js';
export {
  networkConflist,
  builtinDefaultNetwork,
  BUILTIN_NETWORK_NAME,
  BUILTIN_BRIDGE,
  BUILTIN_SUBNET,
  ipamRangeProblems,
} from './cni-config.js';
export {
  podCapabilityArgs,
  parseBandwidth,
  parseKubeQuantity,
  bandwidthBurst,
  INGRESS_BANDWIDTH_ANNOTATION,
  EGRESS_BANDWIDTH_ANNOTATION,
  type PodCapabilityInput,
} from './capability-args.js';
export { parseNetworksAnnotation, defaultInterface } from './annotation.js';
export { formatIssue } from './format.js';
export { formatPath } from './path.js';
export { canonicalJson, specHash } from './hash.js';
