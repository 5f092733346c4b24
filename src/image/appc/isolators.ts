/**
 * appc isolators: which ones berth maps to the OCI runtime spec (runtime/oci-spec.ts applies
 * them), and which an app asks for that berth ignores. The ACE lets an executor ignore an
 * isolator but it must say which: the reconciler logs them and records them on the app.
 */
import type { App } from './manifest.js';

/** Isolators berth maps to the OCI runtime spec; every other one is ignored (and reported). */
export const SUPPORTED_ISOLATORS: readonly string[] = [
  'resource/cpu',
  'resource/memory',
  'os/linux/capabilities-retain-set',
  'os/linux/capabilities-remove-set',
  'os/linux/no-new-privileges',
];

/** The isolators of an app berth cannot map (reported as ignored). */
export function ignoredIsolators(app: App | null | undefined): string[] {
  return (app?.isolators ?? []).map((i) => i.name).filter((n) => !SUPPORTED_ISOLATORS.includes(n));
}
