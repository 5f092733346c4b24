/** The pods' host-ID ranges (KEP-127's allocation): disjoint, kept, configurable through /etc/subuid. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { rangeOfFile } from '../../../src/reconciler/userns.js';
import { DEFAULT_USERNS_POOL, pickRange, podRange, subidEntry, usernsPoolFrom } from '../../../src/reconciler/userns.js';
import type { Layout } from '../../../src/reconciler/layout.js';

describe('pickRange', () => {
  it('starts at 65536 and takes the lowest free multiple of 65536', () => {
    expect(pickRange([], DEFAULT_USERNS_POOL)).toEqual({ hostId: 65536, size: 65536 });
    expect(pickRange([{ hostId: 65536, size: 65536 }], DEFAULT_USERNS_POOL)).toEqual({ hostId: 131072, size: 65536 });
    expect(pickRange([{ hostId: 131072, size: 65536 }], DEFAULT_USERNS_POOL)).toEqual({ hostId: 65536, size: 65536 });
  });

  it('never overlaps a range in use, aligned or not', () => {
    expect(pickRange([{ hostId: 65536 + 100, size: 65536 }], DEFAULT_USERNS_POOL).hostId).toBe(3 * 65536);
  });

  it('refuses when the pool is full, saying how to give more', () => {
    const pool = { first: 65536, count: 2 };
    expect(() =>
      pickRange(
        [
          { hostId: 65536, size: 65536 },
          { hostId: 131072, size: 65536 },
        ],
        pool,
      ),
    ).toThrow(/no free range.*\/etc\/subuid/);
  });
});

describe('the pool from /etc/subuid and /etc/subgid', () => {
  it('is the kubelet default without a berth entry (65536 on, 110 pods)', () => {
    expect(usernsPoolFrom(undefined, undefined)).toEqual({ first: 65536, count: 110 });
    expect(usernsPoolFrom('podman:100000:65536\n', 'podman:100000:65536\n')).toEqual(DEFAULT_USERNS_POOL);
  });

  it('is the berth entry when both files give the same multiples of 65536', () => {
    expect(subidEntry('a:1:2\nberth:1048576:655360\n', 'berth')).toEqual({ start: 1048576, count: 655360 });
    expect(usernsPoolFrom('berth:1048576:655360\n', 'berth:1048576:655360\n')).toEqual({ first: 1048576, count: 10 });
  });

  it.each([
    ['different files', 'berth:1048576:655360', 'berth:2097152:655360', /same start and count/],
    ['only one file', 'berth:1048576:655360', '', /same start and count/],
    ['not aligned', 'berth:100000:65536', 'berth:100000:65536', /multiple of 65536/],
    ["the host's own IDs", 'berth:0:131072', 'berth:0:131072', /multiple of 65536/],
  ])('refuses %s', (_n, u, g, msg) => {
    expect(() => usernsPoolFrom(u, g)).toThrow(msg);
  });
});

describe('podRange', () => {
  let root: string;
  let layout: Layout;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-userns-unit-'));
    layout = { configDir: join(root, 'c'), stateDir: join(root, 's'), runDir: join(root, 'r'), logDir: join(root, 'l'), specDirs: [] };
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it("gives pods allocated at once disjoint ranges, kept in the kubelet's userns file and found again", async () => {
    const pool = { first: 65536, count: 8 };
    const ranges = await Promise.all(['a', 'b', 'c'].map((uid) => podRange(layout, uid, pool)));
    expect(new Set(ranges.map((r) => r.hostId)).size).toBe(3);
    for (const r of ranges) expect(r.hostId % 65536).toBe(0);
    const file = JSON.parse(await readFile(join(layout.stateDir, 'pods', 'b', 'userns'), 'utf8')) as Parameters<typeof rangeOfFile>[0];
    expect(file).toEqual({
      uidMappings: [{ hostId: ranges[1]!.hostId, containerId: 0, length: 65536 }],
      gidMappings: [{ hostId: ranges[1]!.hostId, containerId: 0, length: 65536 }],
    });
    expect(await podRange(layout, 'b', pool)).toEqual(ranges[1]);
    expect((await podRange(layout, 'd', pool)).hostId).toBe(4 * 65536);
  });

  it('reuses the range of a pod that is gone', async () => {
    const pool = { first: 65536, count: 8 };
    const a = await podRange(layout, 'a', pool);
    await rm(join(layout.stateDir, 'pods', 'a'), { recursive: true });
    expect(await podRange(layout, 'e', pool)).toEqual(a);
  });
});
