import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf } from '../../../src/common/index.js';
import {
  cachedConfigList,
  CniError,
  createCni,
  parseNetworkConfigList,
  PluginExitError,
  type NetworkConfigList,
  type RuntimeConf,
} from '../../../src/cni/index.js';
import { FakeCniExec } from './fake-cni-exec.js';

const BRIDGE_RESULT_100 = JSON.stringify({
  cniVersion: '1.0.0',
  interfaces: [
    { name: 'berth-tcni0', mac: 'aa:bb:cc:dd:ee:01' },
    { name: 'veth1', mac: 'aa:bb:cc:dd:ee:02' },
    { name: 'eth0', mac: 'aa:bb:cc:dd:ee:03', sandbox: '/run/netns/berth-tcni-a' },
  ],
  ips: [{ interface: 2, address: '10.199.1.2/24', gateway: '10.199.1.1' }],
  routes: [{ dst: '0.0.0.0/0' }],
  dns: {},
});

function list(cniVersion = '1.0.0', extra: Record<string, unknown> = {}): NetworkConfigList {
  return parseNetworkConfigList(
    JSON.stringify({
      cniVersion,
      name: 'berth-tcni-net',
      ...extra,
      plugins: [
        { type: 'bridge', bridge: 'berth-tcni0', ipam: { type: 'host-local', ranges: [[{ subnet: '10.199.1.0/24' }]] } },
        { type: 'portmap', capabilities: { portMappings: true, other: false }, snat: true },
        { type: 'tuning', capabilities: { mac: true } },
      ],
    }),
  );
}

const rt: RuntimeConf = {
  containerId: 'berth-tcni-c1',
  netns: '/run/netns/berth-tcni-a',
  ifName: 'eth0',
  args: [['K8S_POD_NAME', 'web']],
  capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], other: 1, bandwidth: {} },
};

describe('Cni with FakeCniExec', () => {
  let dir: string;
  let exec: FakeCniExec;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tcni-unit-'));
    exec = new FakeCniExec();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const cni = (opts: { timeoutMs?: number } = {}) =>
    createCni({ cacheDir: join(dir, 'cni'), pluginPaths: ['/opt/cni/bin', '/usr/lib/cni'], exec, retryDelayMs: 1, ...opts });

  it('CNI-06/07/08/12: ADD runs plugins in order with name, cniVersion, prevResult chain and filtered runtimeConfig', async () => {
    exec.on('bridge', 'ADD', BRIDGE_RESULT_100);
    exec.on('portmap', 'ADD', BRIDGE_RESULT_100);
    exec.on('tuning', 'ADD', BRIDGE_RESULT_100);
    const res = await cni().addNetworkList(list(), rt);
    expect(exec.calls.map((c) => `${c.type} ${c.command}`)).toEqual(['bridge ADD', 'portmap ADD', 'tuning ADD']);
    const [b, p, t] = exec.calls;
    expect(b?.pluginPath).toBe('/opt/cni/bin/bridge');
    expect(b?.conf).toEqual({
      type: 'bridge',
      bridge: 'berth-tcni0',
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.199.1.0/24' }]] },
      name: 'berth-tcni-net',
      cniVersion: '1.0.0',
    });
    // G3: capabilities stay in; runtimeConfig only has the declared, true, given keys.
    expect(p?.conf).toEqual({
      type: 'portmap',
      capabilities: { portMappings: true, other: false },
      snat: true,
      name: 'berth-tcni-net',
      cniVersion: '1.0.0',
      prevResult: JSON.parse(BRIDGE_RESULT_100),
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
    });
    // CNI-07: declared capability without an argument: runtimeConfig omitted.
    expect(t?.conf).not.toHaveProperty('runtimeConfig');
    expect(t?.conf.prevResult).toEqual(JSON.parse(BRIDGE_RESULT_100));
    expect(res).toEqual(JSON.parse(BRIDGE_RESULT_100));
  });

  it('CNI-09/10: sets the six variables, IgnoreUnknown=1 first', async () => {
    await cni().addNetworkList(list(), rt);
    expect(exec.calls[0]?.env).toEqual({
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'berth-tcni-c1',
      CNI_NETNS: '/run/netns/berth-tcni-a',
      CNI_IFNAME: 'eth0',
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web',
      CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
    });
    expect(exec.findCalls[0]).toEqual({ type: 'bridge', paths: ['/opt/cni/bin', '/usr/lib/cni'] });
  });

  it('CNI-09: without args CNI_ARGS is IgnoreUnknown=1 and a given IgnoreUnknown is not repeated', async () => {
    await cni().addNetworkList(list(), {
      containerId: 'berth-tcni-c2',
      netns: '/x',
      ifName: 'eth1',
      args: [
        ['IgnoreUnknown', '1'],
        ['A', 'b'],
      ],
    });
    expect(exec.calls[0]?.env.CNI_ARGS).toBe('IgnoreUnknown=1;A=b');
  });

  it('CNI-24: caches the final result in libcni format, dir 0700 file 0600', async () => {
    exec.on('tuning', 'ADD', BRIDGE_RESULT_100);
    const l = list();
    await cni().addNetworkList(l, rt);
    const path = join(dir, 'cni', 'results', 'berth-tcni-net-berth-tcni-c1-eth0');
    const file = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(file).toEqual({
      kind: 'cniCacheV1',
      containerId: 'berth-tcni-c1',
      config: Buffer.from(l.bytes).toString('base64'),
      ifName: 'eth0',
      networkName: 'berth-tcni-net',
      netns: '/run/netns/berth-tcni-a',
      cniArgs: [['K8S_POD_NAME', 'web']],
      capabilityArgs: rt.capabilityArgs,
      result: JSON.parse(BRIDGE_RESULT_100),
    });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'cni', 'results'))).mode & 0o777).toBe(0o700);
    const cached = await cni().getCachedResult('berth-tcni-net', 'berth-tcni-c1', 'eth0');
    expect(cached?.config).toBe(Buffer.from(l.bytes).toString('base64'));
    expect(cachedConfigList(cached!)).toEqual(l);
    expect(cached?.result).toEqual(JSON.parse(BRIDGE_RESULT_100));
    expect((await cni().getCachedAttachments('berth-tcni-')).map((a) => a.containerId)).toEqual(['berth-tcni-c1']);
    expect(await cni().getCachedAttachments('other-')).toEqual([]);
  });

  it('CNI-12: halts on the first error and caches nothing', async () => {
    exec.on('portmap', 'ADD', new PluginExitError('/opt/cni/bin/portmap', 1, '{"code":7,"msg":"bad config","details":"snat"}', ''));
    const err = await cni()
      .addNetworkList(list(), rt)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniError);
    expect(err).toMatchObject({
      cniCode: 7,
      msg: 'bad config',
      cniDetails: 'snat',
      plugin: 'portmap',
      verb: 'ADD',
      code: 'InvalidArgument',
    });
    expect(exec.calls.map((c) => c.type)).toEqual(['bridge', 'portmap']);
    expect(await cni().getCachedResult('berth-tcni-net', 'berth-tcni-c1', 'eth0')).toBeUndefined();
  });

  it('CNI-12: a repeated ADD of a cached attachment is refused with AlreadyExists', async () => {
    const c = cni();
    await c.addNetworkList(list(), rt);
    await expect(c.addNetworkList(list(), rt)).rejects.toMatchObject({ code: 'AlreadyExists' });
  });

  it('CNI-13/G4: DEL runs in reverse with the cached prevResult and removes the cache entry', async () => {
    exec.on('tuning', 'ADD', BRIDGE_RESULT_100);
    const c = cni();
    await c.addNetworkList(list(), rt);
    exec.calls.length = 0;
    await c.delNetworkList(list(), rt);
    expect(exec.calls.map((x) => `${x.type} ${x.command}`)).toEqual(['tuning DEL', 'portmap DEL', 'bridge DEL']);
    for (const call of exec.calls) expect(call.conf.prevResult).toEqual(JSON.parse(BRIDGE_RESULT_100));
    expect(exec.calls[1]?.conf.runtimeConfig).toEqual({ portMappings: rt.capabilityArgs?.portMappings });
    expect(exec.calls[0]?.env.CNI_COMMAND).toBe('DEL');
    expect(await c.getCachedResult('berth-tcni-net', 'berth-tcni-c1', 'eth0')).toBeUndefined();
  });

  it('CNI-13: DEL without a cache entry sends no prevResult and succeeds; repeated DEL too', async () => {
    const c = cni();
    await c.delNetworkList(list(), rt);
    await c.delNetworkList(list(), rt);
    expect(exec.calls).toHaveLength(6);
    for (const call of exec.calls) expect(call.conf).not.toHaveProperty('prevResult');
  });

  it('G4: DEL of a 0.3.1 list sends no prevResult even when cached', async () => {
    exec.on('tuning', 'ADD', BRIDGE_RESULT_100);
    const c = cni();
    await c.addNetworkList(list('0.3.1'), rt);
    exec.calls.length = 0;
    await c.delNetworkList(list('0.3.1'), rt);
    for (const call of exec.calls) expect(call.conf).not.toHaveProperty('prevResult');
  });

  it('CNI-13: an unreadable cache entry is dropped and DEL goes on without prevResult', async () => {
    await mkdir(join(dir, 'cni', 'results'), { recursive: true });
    await writeFile(join(dir, 'cni', 'results', 'berth-tcni-net-berth-tcni-c1-eth0'), '{not json');
    await cni().delNetworkList(list(), rt);
    for (const call of exec.calls) expect(call.conf).not.toHaveProperty('prevResult');
    await expect(stat(join(dir, 'cni', 'results', 'berth-tcni-net-berth-tcni-c1-eth0'))).rejects.toThrow();
  });

  it('an unreadable cache entry: getCachedResult is undefined, ADD refuses (AlreadyExists), DEL clears it', async () => {
    await mkdir(join(dir, 'cni', 'results'), { recursive: true });
    await writeFile(join(dir, 'cni', 'results', 'berth-tcni-net-berth-tcni-c1-eth0'), '{"kind":"cniCacheV1",');
    const c = cni();
    expect(await c.getCachedResult('berth-tcni-net', 'berth-tcni-c1', 'eth0')).toBeUndefined();
    await expect(c.addNetworkList(list(), rt)).rejects.toMatchObject({ code: 'AlreadyExists' });
    await c.delNetworkList(list(), rt);
    await c.addNetworkList(list(), rt);
    expect(await c.getCachedResult('berth-tcni-net', 'berth-tcni-c1', 'eth0')).toBeDefined();
  });

  it('CNI-13: a DEL error halts and keeps the cache entry', async () => {
    const c = cni();
    await c.addNetworkList(list(), rt);
    exec.on('portmap', 'DEL', new PluginExitError('/x/portmap', 1, '', 'iptables: resource busy'));
    await expect(c.delNetworkList(list(), rt)).rejects.toMatchObject({ cniCode: 0, msg: 'iptables: resource busy', verb: 'DEL' });
    expect(exec.commands('DEL').map((x) => x.type)).toEqual(['tuning', 'portmap']);
    expect(await c.getCachedResult('berth-tcni-net', 'berth-tcni-c1', 'eth0')).toBeDefined();
  });

  it('CNI-14: CHECK runs in order with the cached result converted to the list version', async () => {
    exec.on('tuning', 'ADD', BRIDGE_RESULT_100);
    const c = cni();
    await c.addNetworkList(list(), rt);
    exec.calls.length = 0;
    await c.checkNetworkList(list(), rt);
    expect(exec.calls.map((x) => `${x.type} ${x.command}`)).toEqual(['bridge CHECK', 'portmap CHECK', 'tuning CHECK']);
    for (const call of exec.calls) expect(call.conf.prevResult).toEqual(JSON.parse(BRIDGE_RESULT_100));
  });

  it('CNI-14: CHECK with disableCheck runs nothing; below 0.4.0 it is refused; without ADD it is NotFound', async () => {
    const c = cni();
    await c.checkNetworkList(list('1.0.0', { disableCheck: 'true' }), rt);
    expect(exec.calls).toHaveLength(0);
    await expect(c.checkNetworkList(list('0.3.1'), rt)).rejects.toMatchObject({ cniCode: 1, code: 'InvalidArgument' });
    await expect(c.checkNetworkList(list('0.3.1'), rt)).rejects.toThrow(/does not support the CHECK command/);
    await expect(c.checkNetworkList(list(), rt)).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('CNI-22/23: an old plugin result is converted up to the list version for prevResult, and returned as 1.x', async () => {
    exec.on(
      'bridge',
      'ADD',
      JSON.stringify({ cniVersion: '0.2.0', ip4: { ip: '10.199.1.2/24', gateway: '10.199.1.1', routes: [{ dst: '0.0.0.0/0' }] } }),
    );
    const l = list('0.4.0');
    exec.on('portmap', 'ADD', (call) => JSON.stringify(call.conf.prevResult));
    exec.on('tuning', 'ADD', (call) => JSON.stringify(call.conf.prevResult));
    const res = await cni().addNetworkList(l, rt);
    expect(exec.calls[1]?.conf.prevResult).toEqual({
      cniVersion: '0.4.0',
      ips: [{ version: '4', address: '10.199.1.2/24', gateway: '10.199.1.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
    });
    expect(res).toEqual({
      cniVersion: '1.0.0',
      ips: [{ address: '10.199.1.2/24', gateway: '10.199.1.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
    });
  });

  it('CNI-22: an empty or null plugin output is an empty result in the list version', async () => {
    exec.on('bridge', 'ADD', 'null');
    await cni().addNetworkList(list(), rt);
    expect(exec.calls[1]?.conf.prevResult).toEqual({ cniVersion: '1.0.0' });
    expect(exec.calls[2]?.conf.prevResult).toEqual({ cniVersion: '1.0.0' });
  });

  it('G5: parses the stdout error first, stderr otherwise; code 11 is Unavailable', async () => {
    exec.on(
      'bridge',
      'ADD',
      new PluginExitError('/x/bridge', 1, '{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"retry"}', 'log noise'),
    );
    const err = (await cni()
      .addNetworkList(list(), rt)
      .catch((e: unknown) => e)) as CniError;
    expect(err).toMatchObject({ cniCode: 11, msg: 'busy', cniDetails: 'retry', plugin: 'bridge', verb: 'ADD' });
    expect(codeOf(err)).toBe('Unavailable');
    expect(err.message).toBe('plugin type="bridge" failed (add): busy; retry');
  });

  it("CNI-18: a missing plugin fails with libcni's text and FailedPrecondition", async () => {
    exec.available = new Set(['bridge']);
    const err = await cni()
      .addNetworkList(list(), rt)
      .catch((e: unknown) => e);
    expect(codeOf(err)).toBe('FailedPrecondition');
    expect(String(err)).toContain('failed to find plugin "portmap" in path [/opt/cni/bin /usr/lib/cni]');
  });

  it('CNI-19: retries "text file busy" up to 5 times, then fails', async () => {
    const busy = Object.assign(new Error('spawn /x/bridge ETXTBSY'), { code: 'ETXTBSY' });
    exec.on('bridge', 'ADD', busy, busy, BRIDGE_RESULT_100);
    await cni().addNetworkList(list(), rt);
    expect(exec.commands('ADD').filter((c) => c.type === 'bridge')).toHaveLength(3);

    exec.calls.length = 0;
    exec.on('bridge', 'DEL', new Error('fork/exec /x/bridge: text file busy'));
    await expect(cni().delNetworkList(list(), { ...rt, containerId: 'berth-tcni-c9' })).rejects.toThrow(/text file busy/);
    expect(exec.commands('DEL').filter((c) => c.type === 'bridge')).toHaveLength(6);
  });

  it('CNI-20: a plugin that does not finish is aborted at the timeout: DeadlineExceeded, nothing cached', async () => {
    exec.on(
      'bridge',
      'ADD',
      (call) => new Promise<string>((_res, rej) => call.signal?.addEventListener('abort', () => rej(new Error('killed')))),
    );
    const err = await cni({ timeoutMs: 50 })
      .addNetworkList(list(), rt)
      .catch((e: unknown) => e);
    expect(codeOf(err)).toBe('DeadlineExceeded');
    expect(exec.calls).toHaveLength(1);
    expect(exec.calls[0]?.signal?.aborted).toBe(true);
    expect(await cni().getCachedResult('berth-tcni-net', 'berth-tcni-c1', 'eth0')).toBeUndefined();
  });

  it('a caller signal cancels the call: Canceled', async () => {
    const ac = new AbortController();
    exec.on('bridge', 'ADD', (call) => {
      ac.abort();
      return new Promise<string>((_res, rej) => {
        if (call.signal?.aborted) rej(new Error('killed'));
      });
    });
    await expect(cni().addNetworkList(list(), rt, ac.signal)).rejects.toMatchObject({ code: 'Canceled' });
  });

  it.each([
    [{ containerId: '' }, 3, 'missing containerID'],
    [{ containerId: 'a/b' }, 4, 'invalid characters in containerID'],
    [{ containerId: '-lead' }, 4, 'invalid characters in containerID'],
    [{ ifName: '' }, 4, 'interface name is empty'],
    [{ ifName: 'abcdefghijklmnop' }, 4, 'interface name is too long'],
    [{ ifName: '..' }, 4, 'interface name is . or ..'],
    [{ ifName: 'eth:0' }, 4, 'interface name contains / or : or whitespace characters'],
    [{ ifName: 'eth 0' }, 4, 'interface name contains / or : or whitespace characters'],
    [{ ifName: 'a/b' }, 4, 'interface name contains / or : or whitespace characters'],
  ])('CNI-25: ADD rejects %j with code %i before running anything', async (patch, code, msg) => {
    const err = (await cni()
      .addNetworkList(list(), { ...rt, ...patch })
      .catch((e: unknown) => e)) as CniError;
    expect(err).toBeInstanceOf(CniError);
    expect(err.cniCode).toBe(code);
    expect(err.msg).toBe(msg);
    expect(exec.calls).toHaveLength(0);
  });

  it('CNI-25: an ifName of exactly 15 bytes is accepted', async () => {
    await cni().addNetworkList(list(), { ...rt, ifName: 'abcdefghijklmno' });
    expect(exec.calls[0]?.env.CNI_IFNAME).toBe('abcdefghijklmno');
  });

  it('CNI-05: an unsupported list version fails with code 1 before running anything', async () => {
    await expect(cni().addNetworkList(list('1.2.3'), rt)).rejects.toMatchObject({ cniCode: 1 });
    expect(exec.calls).toHaveLength(0);
  });

  it('CNI-26: operations on one attachment are serialized', async () => {
    const order: string[] = [];
    let release!: () => void;
    exec.on(
      'bridge',
      'ADD',
      () =>
        new Promise<string>((res) => {
          order.push('add-start');
          release = () => {
            order.push('add-end');
            res('');
          };
        }),
    );
    exec.on('bridge', 'DEL', () => {
      order.push('del');
      return '';
    });
    const c = cni();
    const add = c.addNetworkList(list(), rt);
    const del = c.delNetworkList(list(), rt);
    await new Promise((r) => setTimeout(r, 20));
    release();
    await add;
    await del;
    expect(order).toEqual(['add-start', 'add-end', 'del']);
  });
});
