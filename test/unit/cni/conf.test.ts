import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadNetworkConfigLists, parseNetworkConfigList, selectCniVersion } from '../../../src/cni/index.js';

const conf = (o: Record<string, unknown>) => JSON.stringify({ name: 'n', plugins: [{ type: 'foo' }], ...o });

describe('CNI-04 version selection (libcni conf_test.go vectors)', () => {
  it.each<[string, string | undefined, string[] | undefined, string]>([
    ['selects the maximum', undefined, ['1.1.0', '0.4.0', '1.0.0'], '1.1.0'],
    ['drops versions newer than 1.1.0', undefined, ['99.0.0', '1.1.0', '0.4.0', '1.0.0'], '1.1.0'],
    ['uses a lone cniVersion as is', '1.2.3', undefined, '1.2.3'],
    ['merges cniVersion and cniVersions', '1.0.0', ['0.1.0', '0.4.0'], '1.0.0'],
    ['merges: a list entry higher than cniVersion', '0.3.1', ['0.4.0'], '0.4.0'],
    ['handles an empty cniVersions array', undefined, [], ''],
    ['keeps cniVersion when every candidate is too new', '2.0.0', ['3.0.0'], '2.0.0'],
  ])('%s', (_what, v, vs, want) => {
    expect(selectCniVersion(v, vs)).toBe(want);
    expect(parseNetworkConfigList(conf({ ...(v ? { cniVersion: v } : {}), ...(vs ? { cniVersions: vs } : {}) })).cniVersion).toBe(want);
  });

  it('fails on an invalid version in cniVersions', () => {
    expect(() => parseNetworkConfigList(conf({ cniVersions: ['1.1.0', '0.4.0', '1.0.f'] }))).toThrow(/invalid cniVersions entry/);
  });
});

describe('CNI-01/02 parseNetworkConfigList', () => {
  it('keeps bytes verbatim, plugins with unknown keys unchanged', () => {
    const bytes = '{"cniVersion":"1.0.0","name":"berth-tcni-net","plugins":[{"type":"bridge","x":{"y":[1]},"cni.dev/z":true}]}';
    const l = parseNetworkConfigList(bytes, 'a.conflist');
    expect(l).toEqual({
      name: 'berth-tcni-net',
      cniVersion: '1.0.0',
      plugins: [{ type: 'bridge', x: { y: [1] }, 'cni.dev/z': true }],
      bytes,
    });
  });

  it.each([
    ['"true"', true],
    ['"FALSE"', false],
    ['true', true],
    ['false', false],
  ])('disableCheck %s → %s (strings accepted, any case)', (raw, want) => {
    const l = parseNetworkConfigList(
      `{"name":"n","cniVersion":"0.4.0","disableCheck":${raw},"disableGC":${raw},"loadOnlyInlinedPlugins":${raw},"plugins":[{"type":"a"}]}`,
    );
    expect(l.disableCheck).toBe(want);
    expect(l.disableGC).toBe(want);
    expect(l.loadOnlyInlinedPlugins).toBe(want);
  });

  it.each<[string, string, RegExp]>([
    ['a bad boolean', conf({ disableCheck: 'adsfasdfasf' }), /invalid value "adsfasdfasf" for disableCheck/],
    ['no name', JSON.stringify({ plugins: [{ type: 'a' }] }), /missing name/],
    ['a bad name', conf({ name: '-x' }), /invalid network name/],
    ['a name with a slash', conf({ name: 'a/b' }), /invalid network name/],
    ['no plugins', JSON.stringify({ name: 'n' }), /no 'plugins' key/],
    ['empty plugins', JSON.stringify({ name: 'n', plugins: [] }), /must not be empty/],
    ['a plugin without type', conf({ plugins: [{ x: 1 }] }), /missing 'type'/],
    ['a type with a separator', conf({ plugins: [{ type: '../bin/sh' }] }), /path separator/],
    ['bad capabilities', conf({ plugins: [{ type: 'a', capabilities: { portMappings: 'yes' } }] }), /capabilities/],
    ['not JSON', '{', /error parsing configuration list/],
  ])('rejects %s', (_what, bytes, re) => {
    expect(() => parseNetworkConfigList(bytes)).toThrow(re);
    try {
      parseNetworkConfigList(bytes);
    } catch (err) {
      expect(err).toMatchObject({ code: 'InvalidArgument' });
    }
  });
});

describe('CNI-03 loadNetworkConfigLists', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tcni-conf-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads conflists sorted, then legacy .conf/.json wrapped as one-plugin lists; first name wins', async () => {
    await writeFile(join(dir, '20-b.conflist'), conf({ name: 'b', cniVersion: '1.0.0' }));
    await writeFile(join(dir, '10-a.conflist'), conf({ name: 'a', cniVersion: '1.0.0' }));
    await writeFile(join(dir, '05-legacy.conf'), JSON.stringify({ name: 'legacy', cniVersion: '0.3.1', type: 'bridge', bridge: 'x' }));
    await writeFile(join(dir, '06-legacy.json'), JSON.stringify({ name: 'legacy2', type: 'ptp' }));
    await writeFile(join(dir, '07-dup.conf'), JSON.stringify({ name: 'a', type: 'ptp' }));
    await writeFile(join(dir, 'README.md'), 'not a config');
    const lists = await loadNetworkConfigLists(dir);
    expect(lists.map((l) => l.name)).toEqual(['a', 'b', 'legacy', 'legacy2']);
    const legacy = lists[2];
    expect(legacy?.cniVersion).toBe('0.3.1');
    expect(legacy?.plugins).toEqual([{ name: 'legacy', cniVersion: '0.3.1', type: 'bridge', bridge: 'x' }]);
    expect(JSON.parse(legacy?.bytes ?? '')).toEqual({
      name: 'legacy',
      cniVersion: '0.3.1',
      plugins: [{ name: 'legacy', cniVersion: '0.3.1', type: 'bridge', bridge: 'x' }],
    });
    expect(lists[1]?.plugins).toHaveLength(1); // "a" kept its conflist, not the .conf
  });

  it('appends <dir>/<name>/*.conf plugins unless loadOnlyInlinedPlugins', async () => {
    await writeFile(join(dir, '10-a.conflist'), conf({ name: 'a', cniVersion: '1.0.0' }));
    await writeFile(join(dir, '11-b.conflist'), JSON.stringify({ name: 'b', loadOnlyInlinedPlugins: true, plugins: [{ type: 'x' }] }));
    await writeFile(join(dir, '12-c.conflist'), JSON.stringify({ name: 'c', cniVersion: '1.0.0' }));
    for (const n of ['a', 'b', 'c']) {
      await mkdir(join(dir, n));
      await writeFile(join(dir, n, 'p.conf'), JSON.stringify({ type: 'extra' }));
    }
    const lists = await loadNetworkConfigLists(dir);
    expect(lists.map((l) => l.plugins.map((p) => p.type))).toEqual([['foo', 'extra'], ['x'], ['extra']]);
    // the JSON handed on (pod records, the cache) holds the appended plugins too
    expect(lists.map((l) => (JSON.parse(l.bytes) as { plugins: Array<{ type: string }> }).plugins.map((p) => p.type))).toEqual([
      ['foo', 'extra'],
      ['x'],
      ['extra'],
    ]);
    expect(lists.map((l) => l.file)).toEqual([join(dir, '10-a.conflist'), join(dir, '11-b.conflist'), join(dir, '12-c.conflist')]);
  });

  it('a file that does not parse throws InvalidArgument, or with onError is reported and skipped', async () => {
    await writeFile(join(dir, '10-half.conflist'), '{"name":"half","plugins":[');
    await writeFile(join(dir, '20-ok.conflist'), conf({ name: 'ok' }));
    await expect(loadNetworkConfigLists(dir)).rejects.toMatchObject({ code: 'InvalidArgument' });
    const bad: string[] = [];
    const lists = await loadNetworkConfigLists(dir, { onError: (file, err) => bad.push(`${file} ${err.code}`) });
    expect(lists.map((l) => l.name)).toEqual(['ok']);
    expect(bad).toEqual([`${join(dir, '10-half.conflist')} InvalidArgument`]);
  });

  it('a missing directory has no networks', async () => {
    expect(await loadNetworkConfigLists(join(dir, 'nope'))).toEqual([]);
  });
});
