/**
 * The Cni contract against CniRuntime over the reference plugins (bridge `brports0`, host-local
 * in 10.223.7.0/24, no gateway nor masquerade: the host's routing and NAT stay untouched), in
 * namespaces `berth-ports-cni-*`, as root.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe } from 'vitest';
import { cachedConfigList, createCni, ExecCni, IpNetnsManager } from '../../../src/cni/index.js';
import { cniContract } from '../../contract/cni.js';

const isRoot = process.getuid?.() === 0;
const BRIDGE = 'brports0';
const NS_PREFIX = 'berth-ports-cni-';

describe.skipIf(!isRoot)('Cni contract on the host', () => {
  const netns = new IpNetnsManager();
  let tmp = '';
  const clear = async () => {
    for (const n of await netns.list(NS_PREFIX)) await netns.remove(n);
    await execa('ip', ['link', 'del', BRIDGE], { reject: false });
  };
  beforeAll(async () => {
    tmp = await mkdtemp('/tmp/berth-ports-cni-');
    await clear(); // what an interrupted run left
  });
  afterAll(async () => {
    await clear();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  cniContract('CniRuntime (reference plugins)', async () => {
    const run = await mkdtemp(`${tmp}/run-`);
    const cni = createCni({ exec: new ExecCni(), cacheDir: `${run}/cache`, pluginPaths: ['/usr/lib/cni'] });
    const plugins = [
      { type: 'bridge', bridge: BRIDGE, ipam: { type: 'host-local', dataDir: `${run}/ipam`, ranges: [[{ subnet: '10.223.7.0/24' }]] } },
    ];
    return {
      cni,
      plugins,
      missingType: 'berth-ports-missing',
      attachment: async (what) => ({ containerId: `ports-${what}`, netns: await netns.ensure(`${NS_PREFIX}${what}`), ifName: 'eth0' }),
      cleanup: async () => {
        for (const a of await cni.getCachedAttachments('ports-')) {
          const list = cachedConfigList(a);
          if (list) await cni.delNetworkList(list, { containerId: a.containerId, netns: a.netns, ifName: a.ifName }).catch(() => undefined);
        }
        await clear();
        await rm(run, { recursive: true, force: true });
      },
    };
  });
});
