/**
 * readAppLog over an app's log dir: an execution's rotated files then its live file, tail and
 * since, following across a rename (rotation) and into the next execution (restart), ending
 * when the owner is gone; log-rotation's rename/reopen/prune with a fake reopen.
 */
import { appendFile, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkLogRotation, rotateLogIfNeeded, rotatedLogs } from '../../../src/runtime/log-rotation.js';
import { logSegments, readAppLog } from '../../../src/runtime/logs.js';

const line = (t: string, text: string, p = 'F') => `2026-12-02T00:${t}.000000000+00:00 stdout ${p} ${text}\n`;
const collect = async (it: AsyncIterable<string>) => {
  const out: string[] = [];
  for await (const l of it) out.push(l);
  return out;
};

describe('readAppLog', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-applog-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads an execution as its rotated files then its live one; tail, since, previous', async () => {
    await writeFile(join(dir, '0.log'), line('00:00', 'zero'));
    await writeFile(join(dir, '1.log.20261202-000100.000'), line('01:00', 'a') + line('01:01', 'b', 'P'));
    await writeFile(join(dir, '1.log.20261202-000200.000'), line('01:02', 'c'));
    await writeFile(join(dir, '1.log'), line('02:00', 'd') + line('03:00', 'e'));
    expect((await logSegments(dir)).map((s) => s.path.slice(dir.length + 1))).toEqual([
      '0.log',
      '1.log.20261202-000100.000',
      '1.log.20261202-000200.000',
      '1.log',
    ]);
    expect(await collect(readAppLog(dir))).toEqual(['a', 'bc', 'd', 'e']);
    expect(await collect(readAppLog(dir, { tail: 2 }))).toEqual(['d', 'e']);
    expect(await collect(readAppLog(dir, { sinceMs: Date.parse('2026-12-02T00:02:00Z') }))).toEqual(['d', 'e']);
    expect(await collect(readAppLog(dir, { execution: 0, timestamps: true }))).toEqual(['2026-12-02T00:00:00.000000000+00:00 zero']);
  });

  it('follows across a rotation and a restart without losing a line, and ends when the pod is gone', async () => {
    const live = join(dir, '0.log');
    await writeFile(live, line('00:00', 'l1'));
    let gone = false;
    const seen: string[] = [];
    const reader = (async () => {
      for await (const l of readAppLog(dir, { follow: true, pollMs: 20, gone: async () => gone })) seen.push(l);
    })();
    const until = async (n: number) => {
      for (let i = 0; i < 200 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(1);
    await appendFile(live, line('00:01', 'l2'));
    await rename(live, `${live}.20261202-000001.000`);
    await appendFile(`${live}.20261202-000001.000`, line('00:02', 'l3')); // written before the reopen
    await writeFile(live, line('00:03', 'l4'));
    await until(4);
    await writeFile(join(dir, '1.log'), line('00:04', 'restarted'));
    await until(5);
    gone = true;
    await reader;
    expect(seen).toEqual(['l1', 'l2', 'l3', 'l4', 'restarted']);
  });
});

describe('rotateLogIfNeeded', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-rotate-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('renames a full live file, has the writer reopen, keeps maxFiles - 1 rotated files', async () => {
    const live = join(dir, '0.log');
    const limits = { maxBytes: 10, maxFiles: 3 };
    await writeFile(live, 'short\n');
    expect(await rotateLogIfNeeded(live, limits, async () => true)).toBe(false);
    for (let i = 0; i < 4; i++) {
      await writeFile(live, `full file ${i}\n`);
      const reopened: string[] = [];
      expect(
        await rotateLogIfNeeded(
          live,
          limits,
          async () => (reopened.push('x'), await writeFile(live, ''), true),
          new Date(Date.UTC(2026, 11, 2, 0, 0, i)),
        ),
      ).toBe(true);
      expect(reopened).toHaveLength(1);
    }
    expect((await rotatedLogs(live)).map((p) => p.slice(dir.length + 1))).toEqual([
      '0.log.20261202-000002.000',
      '0.log.20261202-000003.000',
    ]);
    expect((await readdir(dir)).sort()).toEqual(['0.log', '0.log.20261202-000002.000', '0.log.20261202-000003.000']);
  });

  it('puts the file back when no writer can reopen it; checks its limits', async () => {
    const live = join(dir, '0.log');
    await writeFile(live, 'a long enough line\n');
    expect(await rotateLogIfNeeded(live, { maxBytes: 5, maxFiles: 2 }, async () => false)).toBe(false);
    expect(await readdir(dir)).toEqual(['0.log']);
    expect(() => checkLogRotation({ maxBytes: 10, maxFiles: 1 })).toThrow(/at least 2/);
  });
});
