import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cachedConfigList, createCni, ResultCache } from '../../../src/cni/index.js';
import { FakeCniExec } from './fake-cni-exec.js';

describe('CNI-24 result cache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tcni-cache-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips an attachment; empty netns/cniArgs/capabilityArgs are omitted like Go omitempty', async () => {
    const cache = new ResultCache(join(dir, 'cni'));
    const config = '{"cniVersion":"1.0.0","name":"berth-tcni-net","plugins":[{"type":"bridge"}]}';
    const result = { cniVersion: '1.0.0', ips: [{ address: '10.199.1.2/24' }] };
    const b64 = Buffer.from(config).toString('base64');
    await cache.write(
      {
        containerId: 'berth-tcni-c1',
        ifName: 'eth0',
        networkName: 'berth-tcni-net',
        netns: '',
        cniArgs: [],
        capabilityArgs: {},
        config: b64,
        result,
      },
      result,
    );
    const path = join(dir, 'cni', 'results', 'berth-tcni-net-berth-tcni-c1-eth0');
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
      kind: 'cniCacheV1',
      containerId: 'berth-tcni-c1',
      config: Buffer.from(config).toString('base64'),
      ifName: 'eth0',
      networkName: 'berth-tcni-net',
      result,
    });
    const e = await cache.read('berth-tcni-net', 'berth-tcni-c1', 'eth0', '1.0.0');
    expect(e).toEqual({
      v1: true,
      containerId: 'berth-tcni-c1',
      ifName: 'eth0',
      networkName: 'berth-tcni-net',
      netns: '',
      cniArgs: [],
      capabilityArgs: {},
      config: b64,
      result,
    });
    expect(await cache.list()).toHaveLength(1);
    await cache.remove('berth-tcni-net', 'berth-tcni-c1', 'eth0');
    await cache.remove('berth-tcni-net', 'berth-tcni-c1', 'eth0');
    expect(await cache.read('berth-tcni-net', 'berth-tcni-c1', 'eth0', '1.0.0')).toBeUndefined();
  });

  it('reads a file written by libcni (Go field order, 0.4.0 result)', async () => {
    const results = join(dir, 'cni', 'results');
    await mkdir(results, { recursive: true });
    const config = '{"cniVersion":"0.4.0","name":"berth-tcni-go","plugins":[{"type":"bridge"}]}';
    await writeFile(
      join(results, 'berth-tcni-go-berth-tcni-c2-eth0'),
      JSON.stringify({
        kind: 'cniCacheV1',
        containerId: 'berth-tcni-c2',
        config: Buffer.from(config).toString('base64'),
        ifName: 'eth0',
        networkName: 'berth-tcni-go',
        netns: '/run/netns/berth-tcni-x',
        cniArgs: [['K8S_POD_NAME', 'p']],
        capabilityArgs: { portMappings: [] },
        result: { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.199.2.2/24' }] },
      }),
    );
    const cni = createCni({ cacheDir: join(dir, 'cni'), pluginPaths: ['/x'], exec: new FakeCniExec() });
    const a = await cni.getCachedResult('berth-tcni-go', 'berth-tcni-c2', 'eth0');
    expect(a).toEqual({
      containerId: 'berth-tcni-c2',
      ifName: 'eth0',
      networkName: 'berth-tcni-go',
      netns: '/run/netns/berth-tcni-x',
      cniArgs: [['K8S_POD_NAME', 'p']],
      capabilityArgs: { portMappings: [] },
      config: Buffer.from(config).toString('base64'),
      result: { cniVersion: '1.0.0', ips: [{ address: '10.199.2.2/24' }] },
    });
    expect((await cni.getCachedAttachments()).map((x) => x.networkName)).toEqual(['berth-tcni-go']);
    expect(cachedConfigList(a!)?.name).toBe('berth-tcni-go');
  });

  it('a file without kind is a bare legacy result: readable by key, skipped by listing, used by DEL', async () => {
    const results = join(dir, 'cni', 'results');
    await mkdir(results, { recursive: true });
    await writeFile(
      join(results, 'berth-tcni-old-berth-tcni-c3-eth0'),
      JSON.stringify({ cniVersion: '0.3.1', ips: [{ version: '4', address: '10.199.3.2/24' }] }),
    );
    const exec = new FakeCniExec();
    const cni = createCni({ cacheDir: join(dir, 'cni'), pluginPaths: ['/x'], exec });
    const a = await cni.getCachedResult('berth-tcni-old', 'berth-tcni-c3', 'eth0');
    expect(a?.result).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.199.3.2/24' }] });
    expect(a?.config).toBe('');
    expect(cachedConfigList(a!)).toBeUndefined();
    expect(await cni.getCachedAttachments()).toEqual([]);
    const list = { name: 'berth-tcni-old', cniVersion: '0.4.0', plugins: [{ type: 'bridge' }], bytes: '{}' };
    await cni.delNetworkList(list, { containerId: 'berth-tcni-c3', netns: '', ifName: 'eth0' });
    expect(exec.calls[0]?.conf.prevResult).toEqual({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.199.3.2/24' }] });
    expect(await cni.getCachedResult('berth-tcni-old', 'berth-tcni-c3', 'eth0')).toBeUndefined();
  });

  it('round trip with libcni: berth writes Go field order; a hand-written libcni file drives CHECK and GC-DEL', async () => {
    const exec = new FakeCniExec();
    exec.on('bridge', 'ADD', JSON.stringify({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.198.3.2/24' }] }));
    const cni = createCni({ cacheDir: join(dir, 'cni'), pluginPaths: ['/x'], exec });
    const list = {
      name: 'berth-tcn5-rt',
      cniVersion: '0.4.0',
      plugins: [{ type: 'bridge' }],
      bytes: '{"cniVersion":"0.4.0","name":"berth-tcn5-rt","plugins":[{"type":"bridge"}]}',
    };
    await cni.addNetworkList(list, {
      containerId: 'berth-tcn5-b',
      netns: '/run/netns/b',
      ifName: 'eth0',
      args: [['A', 'b']],
      capabilityArgs: { mac: '02:00:00:00:00:01' },
    });
    const written = await readFile(join(dir, 'cni', 'results', 'berth-tcn5-rt-berth-tcn5-b-eth0'), 'utf8');
    // libcni's cachedInfo struct order, the result in the list's version as plugins wrote it
    expect(Object.keys(JSON.parse(written) as object)).toEqual([
      'kind',
      'containerId',
      'config',
      'ifName',
      'networkName',
      'netns',
      'cniArgs',
      'capabilityArgs',
      'result',
    ]);
    expect((JSON.parse(written) as { result: unknown }).result).toEqual({
      cniVersion: '0.4.0',
      ips: [{ version: '4', address: '10.198.3.2/24' }],
    });

    // As libcni (cnitool) writes it, byte for byte: Go's encoding/json, no spaces.
    const goConfig = Buffer.from(list.bytes).toString('base64');
    await writeFile(
      join(dir, 'cni', 'results', 'berth-tcn5-rt-cnitool-0123456789abcdef0123-eth0'),
      `{"kind":"cniCacheV1","containerId":"cnitool-0123456789abcdef0123","config":"${goConfig}","ifName":"eth0","networkName":"berth-tcn5-rt","netns":"/run/netns/t","cniArgs":[["K8S_POD_NAME","t"]],"result":{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.198.3.9/24"}],"dns":{}}}`,
      { mode: 0o600 },
    );
    exec.calls.length = 0;
    await cni.checkNetworkList(list, { containerId: 'cnitool-0123456789abcdef0123', netns: '/run/netns/t', ifName: 'eth0' });
    expect(exec.calls[0]?.conf.prevResult).toEqual({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.198.3.9/24' }], dns: {} });
    await cni.gcNetworkList(list, { validAttachments: [{ containerID: 'berth-tcn5-b', ifname: 'eth0' }] });
    const del = exec.commands('DEL');
    expect(del.map((c) => [c.env.CNI_CONTAINERID, c.env.CNI_NETNS, c.env.CNI_ARGS])).toEqual([
      ['cnitool-0123456789abcdef0123', '/run/netns/t', 'IgnoreUnknown=1;K8S_POD_NAME=t'],
    ]);
    expect((await cni.getCachedAttachments()).map((a) => a.containerId)).toEqual(['berth-tcn5-b']);
  });
});
