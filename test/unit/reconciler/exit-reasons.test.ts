/**
 * Exit reasons and termination messages (issue 9 item 4): Completed/Error/OOMKilled, the
 * message from the file at terminationMessagePath (capped at 4 KiB), FallbackToLogsOnError's
 * log tail (80 lines, 2 KiB), and how a StartError under restartPolicy Never shows.
 */
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exitDetails, logTail, terminationLogPath, terminationMount } from '../../../src/reconciler/probing.js';
import { podStatusRow } from '../../../src/reconciler/status.js';
import type { PodRecord } from '../../../src/reconciler/records.js';
import type { Container } from '../../../src/api/pod.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-exitreasons-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cri = (lines: string[]) => lines.map((l) => `2026-12-02T00:00:00.000000000Z stdout F ${l}\n`).join('');

describe('exit details', () => {
  const c: Container = { name: 'main', image: 'img' };

  it('names Completed, Error and OOMKilled', async () => {
    const log = join(dir, '0.log');
    expect(await exitDetails(dir, c, { exitCode: 0 }, log)).toEqual({ reason: 'Completed' });
    expect(await exitDetails(dir, c, { exitCode: 2 }, log)).toEqual({ reason: 'Error' });
    expect(await exitDetails(dir, c, { exitCode: 137, reason: 'OOMKilled' }, log)).toEqual({ reason: 'OOMKilled' });
  });

  it('reads the termination message file, emptied at each start and capped at 4096 bytes', async () => {
    const m = await terminationMount(dir, c);
    expect(m).toEqual({ destination: '/dev/termination-log', source: terminationLogPath(dir, 'main'), readOnly: false });
    await writeFile(m!.source, 'x'.repeat(5000));
    const d = await exitDetails(dir, c, { exitCode: 1 }, join(dir, 'none.log'));
    expect(d.message).toHaveLength(4096);
    await terminationMount(dir, c);
    expect(await exitDetails(dir, c, { exitCode: 1 }, join(dir, 'none.log'))).toEqual({ reason: 'Error' });
    expect(await terminationMount(dir, { ...c, terminationMessagePath: '' })).toBeUndefined();
  });

  it('does not follow a symlink put where the message file was', async () => {
    await mkdir(join(dir, 'apps', 'main'), { recursive: true });
    await writeFile(join(dir, 'secret'), 'host secret');
    await symlink(join(dir, 'secret'), terminationLogPath(dir, 'main'));
    expect((await exitDetails(dir, c, { exitCode: 1 }, join(dir, 'none.log'))).message).toBeUndefined();
  });

  it('FallbackToLogsOnError: the last 80 lines, at most 2048 bytes, only for a failed exit without a message', async () => {
    const fb: Container = { ...c, terminationMessagePolicy: 'FallbackToLogsOnError' };
    const log = join(dir, '0.log');
    await writeFile(log, cri(Array.from({ length: 100 }, (_, i) => `line ${i}`)));
    const d = await exitDetails(dir, fb, { exitCode: 3 }, log);
    expect(d.message!.split('\n')[0]).toBe('line 20');
    expect(d.message!.endsWith('line 99\n')).toBe(true);
    expect(await exitDetails(dir, fb, { exitCode: 0 }, log)).toEqual({ reason: 'Completed' });
    await writeFile(log, cri(Array.from({ length: 80 }, () => 'y'.repeat(100))));
    expect(Buffer.byteLength(await logTail(log, 80, 2048))).toBe(2048);
    // partial lines join into one
    await writeFile(log, '2026-12-02T00:00:00Z stdout P abc\n2026-12-02T00:00:00Z stdout F def\n');
    expect(await logTail(log, 80, 2048)).toBe('abcdef\n');
  });
});

describe('StartError under restartPolicy Never', () => {
  it('shows the app terminated with StartError and the pod StartError', () => {
    const rec: PodRecord = {
      version: 1,
      uid: 'u1',
      key: 'default/web',
      namespace: 'default',
      name: 'web',
      hash: 'h',
      source: { file: '/specs/web.yaml', doc: 0, line: 1, column: 1 },
      pod: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', namespace: 'default' },
        spec: { containers: [{ name: 'a', image: 'img' }], restartPolicy: 'Never', terminationGracePeriodSeconds: 30, hostNetwork: false },
      },
      networks: [],
      createdAt: 1,
      updatedAt: 1,
      phase: 'running',
      lastError: null,
      netns: null,
      attachments: [],
      initDone: true,
      apps: {
        a: {
          image: 'img',
          containerId: 'berth-u1-a',
          state: 'failed',
          restartCount: 0,
          lastError: null,
          lastExit: { exitCode: 128, finishedAt: 5, reason: 'StartError', message: 'exec: "nope": not found' },
        },
      },
    } as PodRecord;
    const row = podStatusRow(rec, { a: { containerId: 'berth-u1-a', state: 'unknown' } });
    expect(row).toMatchObject({ status: 'StartError', reason: 'StartError', message: 'app a: exec: "nope": not found' });
    expect(row.apps[0]).toMatchObject({ reason: 'StartError', exitCode: 128 });
  });
});
