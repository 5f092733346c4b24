export * from './layout.js';
export * from './host.js';
export * from './records.js';
export * from './plan.js';
export * from './status.js';
export * from './sources.js';
export { Reconciler, collectStatus, loadConfDirNetworks, networkPluginProblems, inputReportPath, type InputReport, type OnceResult, type ReconcilerOptions } from './reconciler.js';
export { IpBridgeManager, type BridgeManager } from './gc.js';
