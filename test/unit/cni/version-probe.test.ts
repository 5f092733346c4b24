import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCni, ExecCni, parseNetworkConfigList, PluginExitError } from '../../../src/cni/index.js';
import { FakeCniExec } from './fake-cni-exec.js';

const list = (v: string) =>
  parseNetworkConfigList(
    JSON.stringify({
      cniVersion: v,
      name: 'berth-tcni-v',
      plugins: [{ type: 'bridge' }, { type: 'portmap', capabilities: { portMappings: true, x: false } }],
    }),
  );

describe('CNI-05/17 VERSION probing', () => {
  let exec: FakeCniExec;
  beforeEach(() => {
    exec = new FakeCniExec();
  });
  const cni = () => createCni({ cacheDir: '/nonexistent', pluginPaths: ['/p'], exec });

  it('sends {"cniVersion":"1.1.0"} with dummy NETNS/IFNAME/PATH', async () => {
    exec.on('bridge', 'VERSION', '{"cniVersion":"1.0.0","supportedVersions":["0.3.1","1.0.0"]}');
    expect(await cni().getVersionInfo('bridge')).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.3.1', '1.0.0'] });
    expect(exec.calls[0]?.conf).toEqual({ cniVersion: '1.1.0' });
    expect(exec.calls[0]?.env).toEqual({
      CNI_COMMAND: 'VERSION',
      CNI_CONTAINERID: '',
      CNI_NETNS: 'dummy',
      CNI_IFNAME: 'dummy',
      CNI_ARGS: '',
      CNI_PATH: 'dummy',
    });
  });

  it('libcni fallbacks: unknown VERSION command means 0.1.0; a bare 0.2.0 means 0.1.0 and 0.2.0', async () => {
    exec.on('old', 'VERSION', new PluginExitError('/p/old', 1, '', 'unknown CNI_COMMAND: VERSION'));
    exec.on('mid', 'VERSION', '{"cniVersion":"0.2.0"}');
    expect((await cni().getVersionInfo('old')).supportedVersions).toEqual(['0.1.0']);
    expect((await cni().getVersionInfo('mid')).supportedVersions).toEqual(['0.1.0', '0.2.0']);
  });

  it('pluginProblems: none when every plugin fits the list version', async () => {
    exec.on('bridge', 'VERSION', '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}');
    exec.on('portmap', 'VERSION', '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}');
    expect(await cni().pluginProblems(list('1.0.0'))).toEqual([]);
  });

  it('pluginProblems names every plugin that does not fit: one too old, one not in the path', async () => {
    exec.on('bridge', 'VERSION', '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}');
    exec.available = new Set(['bridge']);
    const problems = await cni().pluginProblems(list('1.1.0'));
    expect(problems).toEqual([
      { index: 0, field: 'type', message: expect.stringContaining('plugin "bridge" (/p/bridge) does not support cniVersion "1.1.0"') },
      { index: 1, field: 'type', message: expect.stringContaining('failed to find plugin "portmap" in path [/p]') },
    ]);
  });
});

describe('CNI-18 ExecCni.findInPath', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tcni-find-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes the first directory holding a regular file (symlinks followed), skipping directories', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((d) => join(dir, d)) as [string, string, string];
    for (const d of [a, b, c]) await mkdir(d);
    await mkdir(join(a, 'bridge')); // a directory is not a plugin
    await writeFile(join(c, 'bridge'), '#!/bin/sh\n');
    await chmod(join(c, 'bridge'), 0o755);
    await symlink(join(c, 'bridge'), join(b, 'bridge'));
    const exec = new ExecCni();
    expect(await exec.findInPath('bridge', [a, b, c])).toBe(join(b, 'bridge'));
    await expect(exec.findInPath('nope', [a, b])).rejects.toThrow(`failed to find plugin "nope" in path [${a} ${b}]`);
    await expect(exec.findInPath('../bridge', [a])).rejects.toThrow('invalid plugin name: ../bridge');
    await expect(exec.findInPath('', [a])).rejects.toThrow('no plugin name provided');
  });

  it('runs a plugin: stdout on exit 0, PluginExitError with stdout and stderr otherwise', async () => {
    const ok = join(dir, 'ok');
    await writeFile(ok, '#!/bin/sh\ncat >/dev/null\nprintf "%s" "$CNI_COMMAND-$BERTH_TCNI_INHERITED"\n');
    const bad = join(dir, 'bad');
    await writeFile(bad, '#!/bin/sh\necho \'{"code":7,"msg":"no"}\'\necho oops >&2\nexit 1\n');
    await chmod(ok, 0o755);
    await chmod(bad, 0o755);
    const exec = new ExecCni();
    vi.stubEnv('BERTH_TCNI_INHERITED', 'yes');
    expect(await exec.execPlugin(ok, '{}', { CNI_COMMAND: 'ADD' })).toBe('ADD-yes');
    const err = (await exec.execPlugin(bad, '{}', { CNI_COMMAND: 'ADD' }).catch((e: unknown) => e)) as PluginExitError;
    expect(err).toBeInstanceOf(PluginExitError);
    expect(err).toMatchObject({ exitCode: 1, stderr: 'oops\n' });
    expect(JSON.parse(err.stdout)).toEqual({ code: 7, msg: 'no' });
  });
});
