/**
 * GC (CNI-15, G1) and STATUS (CNI-16) with a recording fake: the stdin and environment are
 * exactly what libcni's GCNetworkList / GetStatusNetworkList send.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf } from '../../../src/common/index.js';
import { CniError, createCni, parseNetworkConfigList, type NetworkConfigList, type RuntimeConf } from '../../../src/cni/index.js';
import { FakeCniExec } from './fake-cni-exec.js';

const PATHS = ['/opt/cni/bin', '/usr/lib/cni'];
const RESULT = (v: string) => JSON.stringify({ cniVersion: v, ips: [{ address: '10.198.9.2/24' }] });

function list(cniVersion: string, extra: Record<string, unknown> = {}): NetworkConfigList {
  return parseNetworkConfigList(
    JSON.stringify({
      cniVersion,
      name: 'berth-tcn5-gc',
      ...extra,
      plugins: [
        { type: 'alpha', x: 1 },
        { type: 'beta', capabilities: { portMappings: true } },
      ],
    }),
  );
}
const rt = (id: string, ifName = 'eth0'): RuntimeConf => ({
  containerId: id,
  netns: `/run/netns/${id}`,
  ifName,
  args: [['K8S_POD_NAME', id]],
  capabilityArgs: { portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }] },
});

describe('GC and STATUS', () => {
  let dir: string;
  let exec: FakeCniExec;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tcn5-unit-'));
    exec = new FakeCniExec();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const cni = () => createCni({ cacheDir: join(dir, 'cni'), pluginPaths: PATHS, exec, retryDelayMs: 1 });

  it('CNI-15/G1: DELs stale cached attachments with their cached netns/args/caps, then GC to every plugin with both keys', async () => {
    const c = cni();
    const l = list('1.1.0');
    exec.on('alpha', 'ADD', RESULT('1.1.0'));
    exec.on('beta', 'ADD', RESULT('1.1.0'));
    await c.addNetworkList(l, rt('berth-tcn5-keep'));
    await c.addNetworkList(l, rt('berth-tcn5-stale', 'net1'));
    // another network's attachment is never touched
    await c.addNetworkList(
      parseNetworkConfigList(JSON.stringify({ cniVersion: '1.1.0', name: 'berth-tcn5-other', plugins: [{ type: 'alpha' }] })),
      rt('berth-tcn5-x'),
    );
    exec.calls.length = 0;

    await c.gcNetworkList(l, { validAttachments: [{ containerID: 'berth-tcn5-keep', ifname: 'eth0' }] });
    expect(exec.calls.map((x) => `${x.type} ${x.command}`)).toEqual(['beta DEL', 'alpha DEL', 'alpha GC', 'beta GC']);
    const [del] = exec.calls;
    expect(del?.env).toMatchObject({
      CNI_COMMAND: 'DEL',
      CNI_CONTAINERID: 'berth-tcn5-stale',
      CNI_NETNS: '/run/netns/berth-tcn5-stale',
      CNI_IFNAME: 'net1',
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=berth-tcn5-stale',
    });
    expect(del?.conf.runtimeConfig).toEqual({ portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }] });
    expect(del?.conf.prevResult).toEqual({ cniVersion: '1.1.0', ips: [{ address: '10.198.9.2/24' }] });
    const valid = [{ containerID: 'berth-tcn5-keep', ifname: 'eth0' }];
    const gcs = exec.commands('GC');
    expect(gcs[0]?.conf).toEqual({
      type: 'alpha',
      x: 1,
      name: 'berth-tcn5-gc',
      cniVersion: '1.1.0',
      'cni.dev/valid-attachments': valid,
      'cni.dev/attachments': valid,
    });
    expect(gcs[1]?.conf).toEqual({
      type: 'beta',
      capabilities: { portMappings: true },
      name: 'berth-tcn5-gc',
      cniVersion: '1.1.0',
      'cni.dev/valid-attachments': valid,
      'cni.dev/attachments': valid,
    });
    for (const g of gcs)
      expect(g.env).toEqual({
        CNI_COMMAND: 'GC',
        CNI_CONTAINERID: '',
        CNI_NETNS: '',
        CNI_IFNAME: '',
        CNI_ARGS: '',
        CNI_PATH: PATHS.join(':'),
      });
    expect((await c.getCachedAttachments()).map((a) => `${a.networkName}/${a.containerId}`).sort()).toEqual([
      'berth-tcn5-gc/berth-tcn5-keep',
      'berth-tcn5-other/berth-tcn5-x',
    ]);
  });

  it('CNI-15: below 1.1.0 only the stale DELs run; disableGC runs nothing', async () => {
    const c = cni();
    exec.on('alpha', 'ADD', RESULT('1.0.0'));
    exec.on('beta', 'ADD', RESULT('1.0.0'));
    await c.addNetworkList(list('1.0.0'), rt('berth-tcn5-s1'));
    exec.calls.length = 0;
    await c.gcNetworkList(list('1.1.0', { disableGC: true }), { validAttachments: [] });
    expect(exec.calls).toEqual([]);
    await c.gcNetworkList(list('1.0.0'), { validAttachments: [] });
    expect(exec.calls.map((x) => `${x.type} ${x.command}`)).toEqual(['beta DEL', 'alpha DEL']);
    expect(await c.getCachedAttachments()).toEqual([]);
  });

  it('CNI-15: GC continues past errors and joins them', async () => {
    const c = cni();
    exec.on('alpha', 'GC', new CniError({ cniCode: 4, msg: 'unknown CNI_COMMAND: GC' }));
    exec.on('beta', 'GC', new CniError({ cniCode: 11, msg: 'busy' }));
    const err = await c.gcNetworkList(list('1.1.0'), { validAttachments: [] }).catch((e: unknown) => e);
    expect(exec.commands('GC').map((x) => x.type)).toEqual(['alpha', 'beta']);
    expect(String((err as Error).message)).toMatch(
      /plugin type="alpha" failed \(gc\): unknown CNI_COMMAND: GC.*plugin type="beta" failed \(gc\): busy/,
    );
    expect((err as Error).cause).toBeInstanceOf(AggregateError);
  });

  it('CNI-15: GC waits for an ADD in flight on the network and holds the next one back', async () => {
    const c = cni();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    exec.on('alpha', 'ADD', async () => {
      order.push('add-start');
      await gate;
      order.push('add-end');
      return RESULT('1.1.0');
    });
    exec.on('beta', 'ADD', RESULT('1.1.0'));
    exec.on('alpha', 'GC', () => (order.push('gc'), ''));
    const l = list('1.1.0');
    const add = c.addNetworkList(l, rt('berth-tcn5-a'));
    await new Promise((r) => setTimeout(r, 5));
    const gc = c.gcNetworkList(l, { validAttachments: [{ containerID: 'berth-tcn5-a', ifname: 'eth0' }] });
    const del = c.delNetworkList(l, rt('berth-tcn5-a')).then(() => order.push('del'));
    release();
    await Promise.all([add, gc, del]);
    expect(order).toEqual(['add-start', 'add-end', 'gc', 'del']);
  });

  it('CNI-16: STATUS injects name and cniVersion only, stops at the first error, maps 50/51', async () => {
    const c = cni();
    await c.getStatusNetworkList(list('1.1.0'));
    expect(exec.calls.map((x) => x.conf)).toEqual([
      { type: 'alpha', x: 1, name: 'berth-tcn5-gc', cniVersion: '1.1.0' },
      { type: 'beta', capabilities: { portMappings: true }, name: 'berth-tcn5-gc', cniVersion: '1.1.0' },
    ]);
    expect(exec.calls[0]?.env).toEqual({
      CNI_COMMAND: 'STATUS',
      CNI_CONTAINERID: '',
      CNI_NETNS: '',
      CNI_IFNAME: '',
      CNI_ARGS: '',
      CNI_PATH: PATHS.join(':'),
    });
    exec.calls.length = 0;
    exec.on('alpha', 'STATUS', new CniError({ cniCode: 50, msg: 'no addresses left' }));
    const err = await c.getStatusNetworkList(list('1.1.0')).catch((e: unknown) => e);
    expect(err).toMatchObject({ cniCode: 50, plugin: 'alpha', verb: 'STATUS' });
    expect(codeOf(err)).toBe('Unavailable');
    expect(exec.calls.map((x) => x.type)).toEqual(['alpha']);
    exec.calls.length = 0;
    await c.getStatusNetworkList(list('1.0.0'));
    expect(exec.calls).toEqual([]);
  });

  it('pluginProblems: unknown types (plugin and ipam) and unsupported versions, naming the plugin index and field', async () => {
    exec.available = new Set(['alpha', 'host-local']);
    exec.on('alpha', 'VERSION', JSON.stringify({ cniVersion: '1.0.0', supportedVersions: ['0.4.0', '1.0.0'] }));
    const l = parseNetworkConfigList(
      JSON.stringify({
        cniVersion: '1.1.0',
        name: 'berth-tcn5-p',
        plugins: [{ type: 'alpha', ipam: { type: 'nope-ipam' } }, { type: 'gamma' }],
      }),
    );
    const c = cni();
    const problems = await c.pluginProblems(l);
    expect(problems.map((p) => [p.index, p.field])).toEqual([
      [0, 'ipam.type'],
      [0, 'type'],
      [1, 'type'],
    ]);
    expect(problems[0]?.message).toContain('unknown IPAM plugin type "nope-ipam"');
    expect(problems[1]?.message).toContain('does not support cniVersion "1.1.0"');
    expect(problems[2]?.message).toContain(
      'unknown plugin type "gamma": failed to find plugin "gamma" in path [/opt/cni/bin /usr/lib/cni]',
    );
    await c.pluginProblems(l);
    expect(exec.commands('VERSION')).toHaveLength(1); // remembered
  });
});
