import { describe, expect, it } from 'vitest';
import { formatSummary, summarize } from '../../../src/cli/once-summary.js';
import type { OnceResult, PodStatusRow } from '../../../src/reconciler/index.js';

const row = (name: string, uid: string | null, status: string, extra: Partial<PodStatusRow> = {}): PodStatusRow =>
  ({
    namespace: 'default',
    name,
    uid,
    status,
    ready: status === 'Running' ? '1/1' : '0/1',
    restarts: 0,
    reason: null,
    message: null,
    source: null,
    netns: null,
    ips: [],
    networks: [],
    apps: [],
    createdAt: null,
    labels: {},
    ports: [],
    lastRestartAt: null,
    conditions: [],
    ...extra,
  }) as PodStatusRow;

describe('reconcile --once summary', () => {
  const applied = (uid: string, hash = 'h1') => ({ uid, hash });
  const before = new Map([
    ['default/web', applied('u1')],
    ['default/db', applied('u2')],
    ['default/old', applied('u3')],
  ]);
  const res: OnceResult = {
    exitCode: 1,
    rows: [
      row('web', 'u1', 'Running'),
      row('db', 'u9', 'CrashLoopBackOff', { reason: 'main', message: 'back-off 20s restarting failed container main' }),
      row('new', 'u4', 'Running'),
      row('typo', null, 'InvalidSpec', { message: 'spec.containers[0].imagee: unknown field' }),
    ],
    issues: [],
  };

  it('tells created, updated, deleted, unchanged and invalid pods apart by uid', () => {
    const s = summarize(before, res);
    expect(s.pods.map((p) => [p.name, p.change, p.converged])).toEqual([
      ['web', 'unchanged', true],
      ['db', 'updated', false],
      ['new', 'created', true],
      ['typo', 'invalid', false],
      ['old', 'deleted', true],
    ]);
    expect(s.pods[1]!.why).toBe('CrashLoopBackOff: back-off 20s restarting failed container main');
  });

  it('counts a pod whose apps were replaced (same uid, new spec hash) as updated', () => {
    const s = summarize(before, res, new Map([['default/web', applied('u1', 'h2')]]));
    expect(s.pods.find((p) => p.name === 'web')!.change).toBe('updated');
  });

  it('prints a table, one line per failure and a count line', () => {
    const text = formatSummary(summarize(before, res));
    expect(text).toBe(
      [
        'NAMESPACE   NAME   CHANGE      STATUS             READY',
        'default     web    unchanged   Running            1/1',
        'default     db     updated     CrashLoopBackOff   0/1',
        'default     new    created     Running            1/1',
        'default     typo   invalid     InvalidSpec        0/1',
        'default     old    deleted     Deleted            -',
        '',
        'default/db: CrashLoopBackOff: back-off 20s restarting failed container main',
        'default/typo: InvalidSpec: spec.containers[0].imagee: unknown field',
        '',
        'not converged: 1 created, 1 updated, 1 deleted, 1 unchanged, 1 invalid',
        '',
      ].join('\n'),
    );
  });
});
