/**
 * The pure diff of desired state against what is applied (pod records) and observed.
 * One pod's actions are ordered: an update deletes the old pod before creating the new.
 * A change confined to regular containers keeps the pod (same uid, pod-changes.ts) and
 * restarts only those apps (`update-apps`).
 */
import type { DesiredSet, LoadedPod } from '../api/types.js';
import { changedApps, changedPodFields, type AppChange } from './pod-changes.js';
import type { PodRecord } from './records.js';

export type PlanAction =
  | { action: 'create'; key: string; uid: string; pod: LoadedPod }
  | { action: 'update'; key: string; uid: string; oldUid: string; pod: LoadedPod; fields: string[] }
  | { action: 'delete'; key: string; uid: string; reason: 'removed' | 'superseded' }
  | { action: 'update-apps'; key: string; uid: string; pod: LoadedPod; apps: AppChange[] }
  | { action: 'keep'; key: string; uid: string; pod?: LoadedPod; invalid: boolean }
  | { action: 'restart-app'; key: string; uid: string; app: string; exitCode: number };

export interface ObservedApp {
  state: 'running' | 'exited' | 'created' | 'unknown';
  exitCode?: number;
}

/**
 * @param uidOf the uid a desired pod gets (see layout.podUid)
 * @param observed live app states per pod uid, to plan app restarts (dry-run output)
 */
export function diff(
  desired: DesiredSet,
  records: PodRecord[],
  uidOf: (p: LoadedPod) => string,
  observed: Record<string, Record<string, ObservedApp>> = {},
): PlanAction[] {
  const out: PlanAction[] = [];
  const byKey = new Map<string, PodRecord[]>();
  for (const r of records) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  const invalidKeys = new Set(desired.invalidKeys);
  const invalidFiles = new Set(desired.invalidFiles);
  const seen = new Set<string>();

  for (const pod of desired.pods) {
    seen.add(pod.key);
    const uid = uidOf(pod);
    const existing = byKey.get(pod.key) ?? [];
    // a record of the same content is the same pod, also under an older uid scheme (whole-spec hash)
    const same = existing.find((r) => r.uid === uid) ?? existing.find((r) => r.hash === pod.hash);
    const others = existing.filter((r) => r !== same);
    if (same) {
      for (const o of others) out.push({ action: 'delete', key: pod.key, uid: o.uid, reason: 'superseded' });
      const apps = same.hash === pod.hash ? [] : changedApps(same.pod, pod.pod);
      if (apps.length) out.push({ action: 'update-apps', key: pod.key, uid: same.uid, pod, apps });
      else out.push({ action: 'keep', key: pod.key, uid: same.uid, pod, invalid: false });
      out.push(...appRestarts(same, observed[same.uid]).filter((a) => a.action !== 'restart-app' || !apps.some((c) => c.name === a.app)));
    } else if (others.length > 0) {
      const [first, ...rest] = others;
      for (const o of rest) out.push({ action: 'delete', key: pod.key, uid: o.uid, reason: 'superseded' });
      out.push({ action: 'update', key: pod.key, uid, oldUid: first!.uid, pod, fields: changedPodFields(first!.pod, pod.pod) });
    } else {
      out.push({ action: 'create', key: pod.key, uid, pod });
    }
  }

  for (const [key, recs] of byKey) {
    if (seen.has(key)) continue;
    // The last good spec of a pod whose document is now invalid keeps running.
    const keepInvalid = invalidKeys.has(key) || recs.some((r) => invalidFiles.has(r.source.file));
    for (const r of recs) {
      if (keepInvalid) {
        out.push({ action: 'keep', key, uid: r.uid, invalid: true });
        out.push(...appRestarts(r, observed[r.uid]));
      } else out.push({ action: 'delete', key, uid: r.uid, reason: 'removed' });
    }
  }
  return out;
}

function appRestarts(rec: PodRecord, apps: Record<string, ObservedApp> | undefined): PlanAction[] {
  if (!apps) return [];
  const policy = rec.pod.spec.restartPolicy;
  const out: PlanAction[] = [];
  for (const c of rec.pod.spec.containers) {
    const o = apps[c.name];
    if (!o || o.state === 'running') continue;
    const code = o.exitCode ?? -1;
    const wants = policy === 'Always' || (policy === 'OnFailure' && code !== 0);
    if (wants || o.state === 'unknown') out.push({ action: 'restart-app', key: rec.key, uid: rec.uid, app: c.name, exitCode: code });
  }
  return out;
}

/** Does the plan change anything? (`--dry-run` exit code 1) */
export const hasChanges = (plan: PlanAction[]) => plan.some((a) => a.action !== 'keep');

export function formatPlan(plan: PlanAction[]): string[] {
  return plan
    .filter((a) => a.action !== 'keep')
    .flatMap((a) => {
      switch (a.action) {
        case 'create':
          return `create  ${a.key}  (${a.pod.source.file}, uid ${a.uid})`;
        case 'update':
          return `update  ${a.key}  (pod-level spec changed${a.fields.length ? `: ${a.fields.join(', ')}` : ''}; pod ${a.oldUid} is stopped, ${a.uid} started)`;
        case 'update-apps':
          return a.apps.map(
            (c) =>
              `restart app  ${a.key}/${c.name}  (container spec changed: ${c.fields.join(', ')}; the pod and its other apps keep running)`,
          );
        case 'delete':
          return `delete  ${a.key}  (${a.reason === 'removed' ? 'spec removed' : 'superseded'}, uid ${a.uid})`;
        case 'restart-app':
          return `restart app  ${a.key}/${a.app}  (exited ${a.exitCode >= 0 ? `with code ${a.exitCode}` : 'or missing'})`;
        default:
          return '';
      }
    });
}
