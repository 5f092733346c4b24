/**
 * CNI-17: VERSION answers are kept across agent runs in <state>/cni/plugin-versions.json, per
 * plugin file and its identity: a second runtime over the same cache dir asks no plugin again;
 * a plugin file that changed is asked again; an unreadable cache file costs one VERSION per
 * plugin, not an error.
 */
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCni, parseNetworkConfigList } from '../../../src/cni/index.js';
import { FakeCniExec } from './fake-cni-exec.js';

const ANSWER = '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}';
const list = parseNetworkConfigList(
  JSON.stringify({ cniVersion: '1.0.0', name: 'berth-tcni-vc', plugins: [{ type: 'bridge' }, { type: 'portmap' }] }),
);

describe('CNI-17 VERSION answers kept across runs', () => {
  let dir: string;
  let exec: FakeCniExec;
  const versions = () => exec.calls.filter((c) => c.env.CNI_COMMAND === 'VERSION').length;
  const cni = (persistVersions = true) => createCni({ cacheDir: join(dir, 'cni'), pluginPaths: [dir], exec, persistVersions });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tcni-vc-'));
    for (const p of ['bridge', 'portmap']) await writeFile(join(dir, p), `#!/bin/sh\n# ${p}\n`, { mode: 0o755 });
    exec = new FakeCniExec();
    exec.findInPath = async (type: string) => join(dir, type);
    exec.on('bridge', 'VERSION', ANSWER).on('portmap', 'VERSION', ANSWER);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('a second runtime over the same cache dir asks no plugin again', async () => {
    expect(await cni().pluginProblems(list)).toEqual([]);
    expect(versions()).toBe(2);
    expect(await cni().pluginProblems(list)).toEqual([]);
    expect(versions()).toBe(2);
    expect(Object.keys(JSON.parse(await readFile(join(dir, 'cni', 'plugin-versions.json'), 'utf8')) as object).sort()).toEqual([
      join(dir, 'bridge'),
      join(dir, 'portmap'),
    ]);
  });

  it('a plugin file replaced since is asked again', async () => {
    await cni().pluginProblems(list);
    await writeFile(join(dir, 'portmap'), '#!/bin/sh\n# portmap, a newer build\n', { mode: 0o755 });
    exec.on('portmap', 'VERSION', '{"cniVersion":"0.4.0","supportedVersions":["0.4.0"]}');
    const problems = await cni().pluginProblems(list);
    expect(versions()).toBe(3);
    expect(problems).toEqual([{ index: 1, field: 'type', message: expect.stringContaining('does not support cniVersion "1.0.0"') }]);
  });

  it('a runtime that only looks reads the answers but writes none', async () => {
    expect(await cni(false).pluginProblems(list)).toEqual([]);
    await expect(readFile(join(dir, 'cni', 'plugin-versions.json'), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    await cni().pluginProblems(list); // asks again (nothing was written) and writes
    expect(versions()).toBe(4);
    expect(await cni(false).pluginProblems(list)).toEqual([]); // reads what the agent wrote
    expect(versions()).toBe(4);
  });

  it('an unreadable cache file means asking again, and it is written anew', async () => {
    await cni().pluginProblems(list);
    await writeFile(join(dir, 'cni', 'plugin-versions.json'), '{"half');
    expect(await cni().pluginProblems(list)).toEqual([]);
    expect(versions()).toBe(4);
    expect(JSON.parse(await readFile(join(dir, 'cni', 'plugin-versions.json'), 'utf8'))).toHaveProperty([join(dir, 'bridge')]);
  });
});
