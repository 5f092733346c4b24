import { describe, expect, it } from 'vitest';
import { kubeAge, portsText, restartsText, sortRows, statusDoc, statusJson, statusTable } from '../../../src/cli/format.js';
import { podStatusRow, type PodStatusRow } from '../../../src/reconciler/status.js';
import type { PodRecord } from '../../../src/reconciler/records.js';

const NOW = Date.parse('2026-01-02T00:00:00Z');

function record(name: string, over: Partial<PodRecord> = {}, labels: Record<string, string> = {}): PodRecord {
  const namespace = over.namespace ?? 'default';
  return {
    version: 1,
    uid: `u-${name}`,
    key: `${namespace}/${name}`,
    namespace,
    name,
    hash: 'h',
    source: { file: `/specs/${name}.yaml`, doc: 0, line: 1, column: 1 },
    pod: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels },
      spec: {
        containers: [
          {
            name: 'a',
            image: 'img',
            ports: [
              { containerPort: 80, hostPort: 8080, protocol: 'TCP' },
              { containerPort: 53, protocol: 'UDP' },
            ],
          },
          { name: 'b', image: 'img' },
        ],
        restartPolicy: 'Always',
        terminationGracePeriodSeconds: 30,
        hostNetwork: false,
      },
    },
    networks: [],
    createdAt: NOW - 3 * 60_000,
    updatedAt: NOW,
    phase: 'running',
    lastError: null,
    netns: '/run/netns/x',
    attachments: [{ network: 'podnet', interface: 'eth0', ips: ['10.87.0.5/16'] }],
    initDone: true,
    apps: {
      a: { image: 'img', containerId: 'c-a', state: 'running', restartCount: 0 },
      b: { image: 'img', containerId: 'c-b', state: 'running', restartCount: 0 },
    },
    ...over,
  } as PodRecord;
}

const running = { containerId: 'x', state: 'running' as const, pid: 1 };
const row = (rec: PodRecord) => podStatusRow(rec, { a: running, b: running });

describe('status formatting (kubectl get pods)', () => {
  it('ages like kubectl (HumanDuration)', () => {
    const s = 1000;
    expect(
      [
        0,
        5 * s,
        119 * s,
        120 * s,
        150 * s,
        600 * s,
        179 * 60 * s,
        3 * 3600 * s,
        3 * 3600 * s + 60 * s,
        8 * 3600 * s,
        47 * 3600 * s,
        48 * 3600 * s,
        50 * 3600 * s,
        8 * 86400 * s,
        800 * 86400 * s,
      ].map(kubeAge),
    ).toEqual(['0s', '5s', '119s', '2m', '2m30s', '10m', '179m', '3h', '3h1m', '8h', '47h', '2d', '2d2h', '8d', '2y70d']);
    expect(kubeAge(-500)).toBe('0s');
  });

  it('shows RESTARTS as "5 (2m ago)" from the restarted app\'s last exit, plain 0 before any', () => {
    expect(restartsText({ restarts: 0, lastRestartAt: null }, NOW)).toBe('0');
    const rec = record('web');
    rec.apps.b = { ...rec.apps.b!, restartCount: 5, lastExit: { exitCode: 1, finishedAt: NOW - 125_000 }, startedAt: NOW - 120_000 };
    rec.apps.a = { ...rec.apps.a!, restartCount: 0, lastExit: { exitCode: 1, finishedAt: NOW - 1000 } };
    const r = row(rec);
    expect(r.lastRestartAt).toBe(new Date(NOW - 125_000).toISOString());
    expect(restartsText(r, NOW)).toBe('5 (2m5s ago)');
    // no exit recorded (adopted): the start of the current execution
    rec.apps.b = { ...rec.apps.b, lastExit: null };
    expect(restartsText(row(rec), NOW)).toBe('5 (2m ago)');
  });

  it('shows PORTS as hostPort->containerPort/protocol, a containerPort alone as port/protocol', () => {
    const r = row(record('web'));
    expect(r.ports).toEqual([
      { app: 'a', name: null, containerPort: 80, hostPort: 8080, hostIP: null, protocol: 'TCP' },
      { app: 'a', name: null, containerPort: 53, hostPort: null, hostIP: null, protocol: 'UDP' },
    ]);
    expect(portsText(r)).toBe('8080->80/TCP,53/UDP');
    expect(portsText({ ports: [{ app: 'a', name: null, containerPort: 80, hostPort: 80, hostIP: '127.0.0.1', protocol: 'TCP' }] })).toBe(
      '127.0.0.1:80->80/TCP',
    );
    expect(portsText({ ports: [] })).toBe('<none>');
  });

  const rows: PodStatusRow[] = [row(record('web', {}, { app: 'web' })), row(record('db', { namespace: 'data' }, { app: 'db' }))];

  it('prints the table with headers, wide columns, a NAMESPACE column for -A, and none with --no-headers', () => {
    expect(statusTable(rows, { now: NOW }).split('\n')).toEqual([
      'NAME   READY   STATUS    RESTARTS   AGE',
      'web    2/2     Running   0          3m',
      'db     2/2     Running   0          3m',
    ]);
    expect(statusTable(rows, { now: NOW, allNamespaces: true }).split('\n')[0]).toBe('NAMESPACE   NAME   READY   STATUS    RESTARTS   AGE');
    expect(statusTable(rows, { now: NOW, allNamespaces: true }).split('\n')[2]).toMatch(/^data {8}db {5}2\/2/);
    expect(statusTable(rows, { now: NOW, noHeaders: true }).split('\n')).toEqual([
      'web   2/2   Running   0   3m',
      'db    2/2   Running   0   3m',
    ]);
    const wide = statusTable(rows, { now: NOW, wide: true }).split('\n');
    expect(wide[0]).toMatch(/AGE +IP +NETWORKS +PORTS +IMAGE +REVISION$/);
    expect(wide[1]).toMatch(/10\.87\.0\.5 +podnet\(eth0\) +8080->80\/TCP,53\/UDP +img +<none>$/);
  });

  it("sorts by a field of each pod's JSON", () => {
    expect(sortRows(rows, '.name').map((r) => r.name)).toEqual(['db', 'web']);
    expect(sortRows(rows, '{.namespace}').map((r) => r.name)).toEqual(['db', 'web']);
    const crashing = row(record('crash'));
    crashing.restarts = 7;
    const some = row(record('some'));
    some.restarts = 2;
    expect(sortRows([crashing, ...rows, some], '.restarts').map((r) => r.name)).toEqual(['web', 'db', 'some', 'crash']);
    expect(sortRows([some, ...rows], '.labels.app').map((r) => r.name)).toEqual(['some', 'db', 'web']);
  });

  it('shows the git commit a pod was applied from: REVISION of -o wide, source.revision of -o json', () => {
    const rec = record('web');
    const plain = row(rec);
    rec.source = { ...rec.source, revision: '0123456789abcdef0123456789abcdef01234567' };
    const fromGit = row(rec);
    const table = statusTable([plain, fromGit], { wide: true, now: Date.parse('2026-01-01T00:00:00Z') }).split('\n');
    expect(table[1]).toMatch(/ <none>$/);
    expect(table[2]).toMatch(/ 0123456789ab$/);
    const doc = JSON.parse(statusJson([plain, fromGit])) as { pods: Array<{ source: unknown }> };
    expect(doc.pods.map((p) => p.source)).toEqual([
      { file: '/specs/web.yaml', revision: null },
      { file: '/specs/web.yaml', revision: '0123456789abcdef0123456789abcdef01234567' },
    ]);
  });

  it('keeps the documented -o json fields and adds labels, ports and times', () => {
    const doc = JSON.parse(statusJson(rows)) as { pods: Array<Record<string, unknown>> };
    expect(Object.keys(doc.pods[0]!)).toEqual([
      'namespace',
      'name',
      'uid',
      'status',
      'ready',
      'restarts',
      'reason',
      'message',
      'source',
      'netns',
      'ips',
      'networks',
      'apps',
      'initContainers',
      'conditions',
      'labels',
      'ports',
      'createdAt',
      'lastRestartAt',
    ]);
    expect(doc.pods[0]!.labels).toEqual({ app: 'web' });
    expect(statusDoc(rows).pods[1]!.namespace).toBe('data');
  });
});
