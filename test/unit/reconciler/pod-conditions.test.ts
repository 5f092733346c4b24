/** Readiness gates set with `berth condition` (issue 9 item 6): Ready only when every gate is True. */
import { mkdir, rm } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { containerId, podDir, podStatusRow, type Layout, type PodRecord } from '../../../src/reconciler/index.js';
import { parseConditionArg, readGateConditions, setGateCondition } from '../../../src/reconciler/pod-conditions.js';
import { converged } from '../../../src/reconciler/status.js';
import { Pod } from '../../../src/api/pod.js';
import { tempLayout } from '../../fakes/host.js';

const yaml = `apiVersion: v1
kind: Pod
metadata: {name: gated}
spec:
  readinessGates: [{conditionType: example.com/lb-ready}, {conditionType: warm}]
  containers: [{name: a, image: "oci:/img:latest"}]
`;

function rec(): PodRecord {
  const pod = Pod.parse(YAML.parse(yaml));
  const uid = '0000-gated';
  return {
    version: 1,
    uid,
    key: 'default/gated',
    namespace: 'default',
    name: 'gated',
    hash: 'h',
    source: { file: 'g.yaml' } as PodRecord['source'],
    pod,
    networks: [],
    createdAt: 1,
    updatedAt: 1,
    phase: 'running',
    lastError: null,
    netns: null,
    attachments: [],
    initDone: true,
    apps: {
      a: { image: 'oci:/img:latest', containerId: containerId(uid, 'a'), state: 'running', ready: true, started: true, restartCount: 0 },
    },
  };
}

describe('readiness gates (berth condition)', () => {
  let root: string;
  let layout: Layout;
  beforeEach(async () => ({ root, layout } = await tempLayout('berth-gates-')));
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('keeps the pod not Ready until every gate is True; the gates show as conditions', async () => {
    const r = rec();
    await mkdir(podDir(layout, r.uid), { recursive: true });
    const live = { a: { containerId: containerId(r.uid, 'a'), state: 'running' as const, pid: 5, startedAt: 1 } };
    const ready = async () =>
      podStatusRow(r, live, undefined, undefined, await readGateConditions(layout, r.uid)).conditions.find((c) => c.type === 'Ready');
    expect(await ready()).toMatchObject({
      status: 'False',
      reason: 'ReadinessGatesNotReady',
      message: expect.stringContaining('corresponding condition of pod readiness gate "example.com/lb-ready" does not exist.'),
    });
    await setGateCondition(layout, r, 'example.com/lb-ready', 'True', 1000);
    await setGateCondition(layout, r, 'warm', 'False', 1000);
    expect(await ready()).toMatchObject({ status: 'False', message: 'the status of pod readiness gate "warm" is not "True", but False' });
    await setGateCondition(layout, r, 'warm', 'True', 2000);
    const row = podStatusRow(r, live, undefined, undefined, await readGateConditions(layout, r.uid));
    expect(row.conditions.map((c) => `${c.type}=${c.status}`)).toEqual([
      'PodReadyToStartContainers=True',
      'Initialized=True',
      'Ready=True',
      'ContainersReady=True',
      'PodScheduled=True',
      'example.com/lb-ready=True',
      'warm=True',
    ]);
    expect(converged(row)).toBe(true);
  });

  it('refuses a condition the pod has no gate for, and a malformed argument', async () => {
    await expect(setGateCondition(layout, rec(), 'other', 'True', 1)).rejects.toThrow(
      'pod default/gated has no readiness gate "other" (its gates: example.com/lb-ready, warm)',
    );
    expect(() => parseConditionArg('warm=yes')).toThrow('expected TYPE=True or TYPE=False');
    expect(parseConditionArg('example.com/x=False')).toEqual({ type: 'example.com/x', status: 'False' });
  });

  it('shows READY from the probes (ready false while Running: 0/1, not converged)', () => {
    const r = rec();
    r.apps['a']!.ready = false;
    const row = podStatusRow(r, { a: { containerId: containerId(r.uid, 'a'), state: 'running', pid: 5, startedAt: 1 } });
    expect(row).toMatchObject({ status: 'Running', ready: '0/1' });
    expect(row.conditions.find((c) => c.type === 'ContainersReady')).toMatchObject({
      status: 'False',
      message: 'containers with unready status: [a]',
    });
    expect(converged(row)).toBe(false);
  });
});
