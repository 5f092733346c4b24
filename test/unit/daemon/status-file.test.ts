/** status.json's inputs, readiness, STATUS= line and change-only writes. */
import { readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/common/clock.js';
import { readAgentInputs, statusFileDoc, StatusFileWriter, statusLine } from '../../../src/daemon/status-file.js';
import { inputReportPath, type Layout, type PodStatusRow } from '../../../src/reconciler/index.js';
import { scopeArgs, monitorScopeMode } from '../../../src/runtime/monitor-scope.js';
import { takeNotifyEnv, watchdogInterval } from '../../../src/daemon/notify.js';
import { tempLayout } from '../../fakes/host.js';

const row = (name: string, status: string) =>
  ({
    namespace: 'default',
    name,
    uid: null,
    status,
    ready: '1/1',
    restarts: 0,
    reason: null,
    message: null,
    source: null,
    netns: null,
    ips: [],
    networks: [],
    apps: [],
    initContainers: [],
    conditions: [],
    createdAt: null,
    labels: {},
    ports: [],
    lastRestartAt: null,
  }) as unknown as PodStatusRow;

describe('daemon status file', () => {
  let root: string;
  let layout: Layout;
  beforeEach(async () => {
    ({ root, layout } = await tempLayout('berth-daemon-st-'));
    await mkdir(layout.stateDir, { recursive: true });
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('not ready before the first sync of this agent; ready after; a SourceError error makes it not ready', async () => {
    const start = Date.now();
    expect((await readAgentInputs(layout, start)).readiness).toEqual({ ready: false, reason: 'the first sync has not finished' });
    // a report of an earlier agent does not count
    await writeFile(
      inputReportPath(layout),
      JSON.stringify({ at: new Date(start - 60_000).toISOString(), issues: [], invalidKeys: [], conflicts: [] }),
    );
    expect((await readAgentInputs(layout, start)).readiness.ready).toBe(false);
    await writeFile(
      inputReportPath(layout),
      JSON.stringify({
        at: new Date(start).toISOString(),
        issues: [],
        invalidKeys: [],
        conflicts: [],
        sources: [
          { type: 'git', repo: 'file:///r.git', ref: 'main', path: 'hosts/h1', specDir: '/s/git/x', revision: 'a'.repeat(40), error: null },
        ],
      }),
    );
    const ok = await readAgentInputs(layout, start);
    expect(ok.readiness).toEqual({ ready: true, reason: null });
    expect(ok.sources).toEqual([
      { type: 'dir', specDir: layout.specDirs[0], error: null },
      { type: 'git', specDir: '/s/git/x', repo: 'file:///r.git', ref: 'main', path: 'hosts/h1', revision: 'a'.repeat(40), error: null },
    ]);
    const issue = {
      severity: 'error',
      file: layout.specDirs[0],
      path: '',
      message: `${layout.specDirs[0]}: permission denied`,
      reason: 'SourceError',
    };
    await writeFile(
      inputReportPath(layout),
      JSON.stringify({ at: new Date(start).toISOString(), issues: [issue], invalidKeys: [], conflicts: [] }),
    );
    const bad = await readAgentInputs(layout, start);
    expect(bad.readiness).toEqual({ ready: false, reason: issue.message });
    expect(bad.sources[0]?.error).toBe(issue.message);
    expect(
      statusLine({
        rows: [row('a', 'Running'), row('b', 'Running'), row('c', 'CrashLoopBackOff')],
        readiness: bad.readiness,
        sources: ok.sources,
      }),
    ).toBe(`3 pods: 2 Running, 1 CrashLoopBackOff; git ${'a'.repeat(12)}; not ready: ${issue.message}`);
  });

  it('writes status -o json plus agent and sources, atomically, only on change (or when refreshMs passed)', async () => {
    let now = Date.UTC(2026, 11, 2);
    const path = join(layout.runDir, 'status.json');
    const w = new StatusFileWriter(path, { ...systemClock, now: () => now }, 30_000);
    const snap = { rows: [row('a', 'Running')], report: undefined, sources: [], readiness: { ready: true, reason: null } };
    const agent = { pid: 42, version: '1.2.3', startedAt: now, state: 'running' as const };
    expect(await w.write(statusFileDoc(snap, agent, now))).toBe(true);
    now += 1000;
    expect(await w.write(statusFileDoc(snap, agent, now))).toBe(false);
    const doc = JSON.parse(await readFile(path, 'utf8'));
    expect(doc).toMatchObject({
      pods: [{ name: 'a', status: 'Running' }],
      agent: { pid: 42, version: '1.2.3', state: 'running', ready: true, notReadyReason: null },
      sources: [],
    });
    expect((await stat(path)).mode & 0o777).toBe(0o640);
    expect(await w.write(statusFileDoc({ ...snap, rows: [row('a', 'Error')] }, agent, now))).toBe(true);
    now += 30_000;
    expect(await w.write(statusFileDoc({ ...snap, rows: [row('a', 'Error')] }, agent, now))).toBe(true);
  });
});

describe('service integration helpers', () => {
  it('conmon scope: systemd-run --scope under berth.slice, the command after --; none without systemd as init', () => {
    expect(scopeArgs('/usr/bin/conmon', ['-c', 'x'], 'berth-0123456789ab-web', 'abc123')).toEqual([
      '--scope',
      '--quiet',
      '--collect',
      '--slice=berth.slice',
      '--unit=berth-0123456789ab-web-conmon-abc123',
      '--description=berth monitor of berth-0123456789ab-web',
      '--',
      '/usr/bin/conmon',
      '-c',
      'x',
    ]);
    expect(['none', 'systemd-run']).toContain(monitorScopeMode());
  });

  it('sd_notify variables are taken out of the environment; the watchdog is half of WATCHDOG_USEC, for this pid only', () => {
    const env: NodeJS.ProcessEnv = {
      NOTIFY_SOCKET: '/run/systemd/notify',
      WATCHDOG_USEC: '60000000',
      WATCHDOG_PID: String(process.pid),
      PATH: '/bin',
    };
    const got = takeNotifyEnv(env);
    expect(env).toEqual({ PATH: '/bin' });
    expect(watchdogInterval(got)).toBe(30_000);
    expect(watchdogInterval({ ...got, WATCHDOG_PID: '1' })).toBeUndefined();
    expect(watchdogInterval({})).toBeUndefined();
  });
});
