/**
 * Readiness gates without an API server (spec.readinessGates, issue 9 item 6): a gate's
 * condition is set from outside with `berth condition POD TYPE=True|False`, which writes
 * `<state>/pods/<uid>/conditions.json` — a file of its own that only that command writes, so
 * that it never races the agent's record writes. A gate whose condition was never set is
 * False (the kubelet: "corresponding condition of pod readiness gate … does not exist"); the
 * pod is Ready only when every gate is True. The file goes with the pod's directory.
 */
import { join } from 'node:path';
import { BerthError } from '../common/errors.js';
import { readJsonIfExists, writeJsonAtomic } from '../common/fs.js';
import { podDir, type Layout } from './layout.js';
import type { PodRecord } from './records.js';
import type { GateConditions } from './status.js';

interface ConditionsFile {
  conditions: Record<string, { status: 'True' | 'False'; lastTransitionTime: string }>;
}

const conditionsPath = (l: Layout, uid: string) => join(podDir(l, uid), 'conditions.json');

/** The gate conditions set for a pod (none: {}). An unreadable file counts as none set. */
export async function readGateConditions(l: Layout, uid: string): Promise<GateConditions> {
  const f = await readJsonIfExists<ConditionsFile>(conditionsPath(l, uid)).catch(() => undefined);
  const out: GateConditions = {};
  for (const [type, c] of Object.entries(f?.conditions ?? {})) if (c?.status === 'True' || c?.status === 'False') out[type] = c.status;
  return out;
}

/** `TYPE=True|False` as the command line gives it. */
export function parseConditionArg(arg: string): { type: string; status: 'True' | 'False' } {
  const m = /^([^=]+)=(True|False)$/.exec(arg);
  if (!m)
    throw new BerthError(
      'InvalidArgument',
      `condition "${arg}": expected TYPE=True or TYPE=False (a condition type of the pod's spec.readinessGates)`,
    );
  return { type: m[1]!, status: m[2] as 'True' | 'False' };
}

/** Set one gate's condition; only a condition type the pod lists in spec.readinessGates can be set. */
export async function setGateCondition(l: Layout, rec: PodRecord, type: string, status: 'True' | 'False', now: number): Promise<void> {
  const gates = (rec.pod.spec.readinessGates ?? []).map((g) => g.conditionType);
  if (!gates.includes(type)) {
    const has = gates.length ? `its gates: ${gates.join(', ')}` : 'it has no spec.readinessGates';
    throw new BerthError('InvalidArgument', `pod ${rec.key} has no readiness gate "${type}" (${has})`);
  }
  const path = conditionsPath(l, rec.uid);
  const f = (await readJsonIfExists<ConditionsFile>(path).catch(() => undefined)) ?? { conditions: {} }; // as readGateConditions: unreadable counts as none set, and is rewritten
  const prev = f.conditions[type];
  f.conditions[type] = { status, lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : new Date(now).toISOString() };
  await writeJsonAtomic(path, f, 0o600);
}
