/**
 * A pod's record write never brings back a pod whose directory the teardown removed: only the
 * pod's creation makes the directory (a late write after removal left a directory with a
 * half-written record behind, and the next relist tore the pod down a second time).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRecord, removePodDir, writeRecord, type Layout, type PodRecord } from '../../../src/reconciler/index.js';
import { podsDir } from '../../../src/reconciler/layout.js';

describe('writeRecord', () => {
  let root: string;
  let layout: Layout;
  const rec = { uid: 'u-1', key: 'default/p', pod: {}, apps: {} } as unknown as PodRecord;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-recwrite-'));
    layout = { configDir: join(root, 'c'), stateDir: join(root, 's'), runDir: join(root, 'r'), logDir: join(root, 'l'), specDirs: [] };
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('makes the directory only when the pod is created', async () => {
    await expect(writeRecord(layout, rec)).rejects.toMatchObject({ code: 'ENOENT' });
    await writeRecord(layout, rec, { create: true });
    expect((await readRecord(layout, 'u-1'))?.key).toBe('default/p');
    await writeRecord(layout, { ...rec, key: 'default/q' });
    expect((await readRecord(layout, 'u-1'))?.key).toBe('default/q');
  });

  it('a write after the removal fails and leaves nothing behind', async () => {
    await writeRecord(layout, rec, { create: true });
    await removePodDir(layout, 'u-1');
    await expect(writeRecord(layout, rec)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(podsDir(layout))).toEqual([]);
  });
});
