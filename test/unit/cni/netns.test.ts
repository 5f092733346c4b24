import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IpNetnsManager, validateNetnsName } from '../../../src/cni/index.js';

describe('IpNetnsManager without root', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tcni-netns-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('defaults to /run/netns, where ip netns looks', () => {
    expect(new IpNetnsManager().path('berth-abc')).toBe('/run/netns/berth-abc');
  });

  it.each(['', '-x', '.', '..', 'a/b', 'a b', '../../etc'])('rejects the name %j', (name) => {
    expect(() => validateNetnsName(name)).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    expect(() => new IpNetnsManager({ dir }).path(name)).toThrow();
  });

  it('list filters by prefix, exists is false for plain files, remove deletes a stale file', async () => {
    const m = new IpNetnsManager({ dir });
    await writeFile(join(dir, 'berth-tcni-1'), '');
    await writeFile(join(dir, 'berth-tcni-2'), '');
    await writeFile(join(dir, 'other'), '');
    expect(await m.list('berth-tcni-')).toEqual(['berth-tcni-1', 'berth-tcni-2']);
    expect(await m.exists('berth-tcni-1')).toBe(false);
    await m.remove('berth-tcni-1');
    await m.remove('berth-tcni-1');
    expect(await m.list('berth-tcni-')).toEqual(['berth-tcni-2']);
    expect(await new IpNetnsManager({ dir: join(dir, 'missing') }).list('x')).toEqual([]);
  });
});
