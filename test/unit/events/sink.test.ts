/** The state-dir event sink: kubelet-like counting, bounds, an hour's retention, sweep. */
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import {
  EVENT_TTL_MS,
  eventsDir,
  FileEventSink,
  MAX_EVENTS_PER_POD,
  mergeEvent,
  readAllEvents,
  readPodEvents,
  type Layout,
} from '../../../src/reconciler/index.js';
import { tempLayout } from '../../fakes/host.js';

const UID = '0a1b2c3d-0000-8000-8000-000000000001';
const ev = (reason: string, message: string, app?: string) => ({
  uid: UID,
  podName: 'default/web',
  type: 'Normal' as const,
  reason,
  message,
  ...(app ? { app } : {}),
});

describe('FileEventSink', () => {
  let root: string;
  let layout: Layout;
  let now: number;
  beforeEach(async () => {
    ({ root, layout } = await tempLayout('berth-ev-sink-'));
    now = Date.UTC(2026, 11, 2, 0, 0, 0);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));
  const sink = () => new FileEventSink({ layout, clock: { now: () => now }, log: silentLogger() });

  it('counts identical events (type, reason, app, message) and keeps first and last time', async () => {
    const s = sink();
    s.emit(ev('BackOff', 'Back-off restarting failed container a', 'a'));
    now += 10_000;
    s.emit(ev('Started', 'Started container a', 'a'));
    now += 20_000;
    s.emit(ev('BackOff', 'Back-off restarting failed container a', 'a'));
    s.emit(ev('BackOff', 'Back-off restarting failed container a', 'b'));
    await s.flush();
    const got = await readPodEvents(layout, UID, now);
    expect(got.map((e) => `${e.reason}/${e.app}/${e.count}`)).toEqual(['Started/a/1', 'BackOff/a/2', 'BackOff/b/1']);
    const back = got[1]!;
    expect(back.firstTimestamp).toBe(now - 30_000);
    expect(back.lastTimestamp).toBe(now);
    expect(back.source).toBe('berth');
  });

  it('a new sink (agent restart) carries on the file: counts continue', async () => {
    const a = sink();
    a.emit(ev('Pulling', 'Pulling image "x"'));
    await a.flush();
    const b = sink();
    b.emit(ev('Pulling', 'Pulling image "x"'));
    await b.flush();
    expect((await readPodEvents(layout, UID, now)).map((e) => e.count)).toEqual([2]);
  });

  it('keeps the newest MAX_EVENTS_PER_POD, drops expired ones, sweep removes files of expired pods', async () => {
    let list = mergeEvent([], ev('Old', 'old'), now);
    for (let i = 0; i < MAX_EVENTS_PER_POD + 5; i++) list = mergeEvent(list, ev('E', `m${i}`), now + EVENT_TTL_MS - 1 + i);
    expect(list).toHaveLength(MAX_EVENTS_PER_POD);
    expect(list.some((e) => e.reason === 'Old')).toBe(false);
    expect(list.at(-1)?.message).toBe(`m${MAX_EVENTS_PER_POD + 4}`);

    const s = sink();
    s.emit(ev('Killing', 'Stopping container a', 'a'));
    await s.flush();
    expect(await s.sweep()).toBe(0);
    now += EVENT_TTL_MS - 1;
    expect(await readPodEvents(layout, UID, now)).toHaveLength(1);
    now += 1;
    expect(await readPodEvents(layout, UID, now)).toHaveLength(0);
    expect(await s.sweep()).toBe(1);
    expect(await readdir(eventsDir(layout))).toEqual([]);

    // a new sink (an agent run with --once) sweeps at its first emit
    const old = sink();
    old.emit({ ...ev('Killing', 'Stopping container a', 'a'), uid: '0a1b2c3d-0000-8000-8000-000000000003' });
    await old.flush();
    now += EVENT_TTL_MS;
    const fresh = sink();
    fresh.emit(ev('Pulling', 'Pulling image "x"'));
    await fresh.flush();
    expect(await readdir(eventsDir(layout))).toEqual([`${UID}.json`]);
  });

  it('readAllEvents lists every pod file with its live events', async () => {
    const s = sink();
    s.emit(ev('Pulling', 'Pulling image "x"'));
    s.emit({ ...ev('Killing', 'Stopping container a', 'a'), uid: '0a1b2c3d-0000-8000-8000-000000000002', podName: 'default/db' });
    await s.flush();
    expect((await readAllEvents(layout, now)).map((f) => `${f.podName} ${f.events.map((e) => e.reason).join(',')}`)).toEqual([
      'default/web Pulling',
      'default/db Killing',
    ]);
    expect(await readAllEvents(layout, now + EVENT_TTL_MS)).toEqual([]);
  });

  it('emit never throws: a bad uid is dropped, an unwritable dir only logs', async () => {
    const file = join(root, 'not-a-dir');
    await writeFile(file, '');
    const s = new FileEventSink({ layout: { ...layout, stateDir: file }, clock: { now: () => now }, log: silentLogger() });
    expect(() => s.emit({ ...ev('X', 'y'), uid: '../../etc' })).not.toThrow();
    expect(() => s.emit(ev('X', 'y'))).not.toThrow();
    await s.flush();
  });
});
