export * from './layout.js';
export * from './host.js';
export * from './records.js';
export * from './plan.js';
export * from './status.js';
export * from './sources.js';
export {
  checkInput,
  imageProblem,
  loadDesired,
  loadConfDirNetworks,
  networkPluginProblems,
  recordFor,
  type InputChecks,
  type InputReport,
} from './desired.js';
export { attachmentsOf, LOOPBACK_LIST } from './attachments.js';
export { collectStatus } from './observe.js';
export { Reconciler, type OnceResult, type ReconcilerOptions } from './reconciler.js';
export { IpBridgeManager, type BridgeManager } from './gc.js';
export { secureHostDirs, ROOT_DIR_MODE, PRIVATE_DIR_MODE } from './host-dirs.js';
export * from './events.js';
export { issueEvents, IssueEventTracker } from './issue-events.js';
