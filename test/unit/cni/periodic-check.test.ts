/**
 * The daemon's periodic CHECK (issue 5 §8) with fake host interfaces: healthy pods are left
 * alone round after round (the plugins' CHECK every FULL_CHECK_EVERY-th, the host side between),
 * a failed CHECK is repaired (DEL + ADD) and recorded as an event,
 * and portmap 1.1.1's IPv6 CHECK failure on an IPv4-only attachment is not a failure.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniError, parseNetworkConfigList, type GcArgs, type NetworkConfigList, type RuntimeConf } from '../../../src/cni/index.js';
import { listRecords, Reconciler, type Layout } from '../../../src/reconciler/index.js';
import { FULL_CHECK_EVERY } from '../../../src/reconciler/attachments.js';
import { fakeHost, tempLayout, WEB_POD } from '../../fakes/host.js';

describe('periodic CHECK of attachments', () => {
  let root: string;
  let layout: Layout;
  beforeEach(async () => {
    ({ root, layout } = await tempLayout('berth-tcn5-check-', { 'web.yaml': WEB_POD }));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  async function running() {
    const f = fakeHost(layout);
    const checks: Array<{ network: string; plugins: string[]; ifName: string }> = [];
    let fail: ((list: NetworkConfigList, ifName: string) => Error | undefined) | undefined;
    (f.cni as unknown as { checkNetworkList: (list: NetworkConfigList, rt: RuntimeConf) => Promise<void> }).checkNetworkList = async (
      list,
      rt,
    ) => {
      checks.push({ network: list.name, plugins: list.plugins.map((p) => p.type), ifName: rt.ifName });
      const err = fail?.(list, rt.ifName);
      if (err) throw err;
    };
    const r = new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });
    await r.sync();
    for (let i = 0; i < 200 && r.rows()[0]?.status !== 'Running'; i++) await new Promise((res) => setTimeout(res, 10));
    expect(r.rows()[0]?.status).toBe('Running');
    f.cni.calls = [];
    return { f, r, checks, setFail: (fn: typeof fail) => (fail = fn) };
  }

  it('a healthy pod is CHECKed at its first round and every FULL_CHECK_EVERY-th, and never touched', async () => {
    const { f, r, checks } = await running();
    for (let i = 0; i <= FULL_CHECK_EVERY; i++) expect(await r.checkNetworks()).toBe(0);
    expect(checks.map((c) => `${c.network} ${c.ifName}`)).toEqual(['berth-loopback lo', 'berth eth0', 'berth-loopback lo', 'berth eth0']);
    expect(f.cni.calls).toEqual([]);
    expect(f.events.reasons()).not.toContain('NetworkRepaired');
    await r.once(1000);
  });

  it('between plugin CHECKs, a host-side link the result names that is gone (a deleted veth) is CHECKed and repaired at once', async () => {
    const { f, r, checks, setFail } = await running();
    expect(await r.checkNetworks()).toBe(0); // the first round: the plugins' CHECK
    checks.length = 0;
    // the cached result names a host-side link: `lo` is there on every host, the veth is not
    const names = { host: 'lo' };
    const orig = f.cni.getCachedResult.bind(f.cni);
    f.cni.getCachedResult = async (...args: Parameters<typeof orig>) => {
      const c = await orig(...args);
      if (!c || args[0] !== 'berth') return c;
      return { ...c, result: { ...c.result, interfaces: [{ name: names.host }, { name: 'eth0', sandbox: '/run/netns/x' }] } };
    };
    expect(await r.checkNetworks()).toBe(0);
    expect(checks).toEqual([]); // host side there: no plugin run
    names.host = 'berthtgone0';
    let broken = true;
    setFail((list) =>
      list.name === 'berth' && broken ? new CniError({ cniCode: 999, msg: 'veth gone', plugin: 'bridge', verb: 'CHECK' }) : undefined,
    );
    f.cni.addNetworkList = (
      (add) =>
      async (...args: Parameters<typeof add>) => {
        broken = false;
        names.host = 'lo';
        return add(...args);
      }
    )(f.cni.addNetworkList.bind(f.cni));
    expect(await r.checkNetworks()).toBe(1);
    expect(checks.map((c) => `${c.network} ${c.ifName}`)).toEqual(['berth eth0']);
    expect(f.cni.calls.map((c) => `${c.verb} ${c.network} ${c.ifName}`)).toEqual(['DEL berth eth0', 'ADD berth eth0']);
    await r.once(1000);
  });

  it('a failed CHECK is repaired with DEL + ADD, logged and recorded; the next round is quiet', async () => {
    const { f, r, setFail } = await running();
    let broken = true;
    setFail((list) =>
      list.name === 'berth' && broken
        ? new CniError({ cniCode: 999, msg: 'Container veth name provided (eth0) does not match', plugin: 'bridge', verb: 'CHECK' })
        : undefined,
    );
    f.cni.addNetworkList = (
      (orig) =>
      async (...args: Parameters<typeof orig>) => {
        broken = false;
        return orig(...args);
      }
    )(f.cni.addNetworkList.bind(f.cni));
    expect(await r.checkNetworks()).toBe(1);
    expect(f.cni.calls.map((c) => `${c.verb} ${c.network} ${c.ifName}`)).toEqual(['DEL berth eth0', 'ADD berth eth0']);
    const recs = await listRecords(layout);
    const rec = recs[0]!;
    expect(f.events.events.filter((e) => e.reason === 'NetworkRepaired')).toEqual([
      expect.objectContaining({
        uid: rec.uid,
        type: 'Warning',
        reason: 'NetworkRepaired',
        message: expect.stringMatching(/^network berth, interface eth0: .*does not match/),
      }),
    ]);
    expect(rec.attachments[0]?.ips).toEqual([expect.stringMatching(/^10\.9\.0\.\d+\/16$/)]);
    f.cni.calls = [];
    expect(await r.checkNetworks()).toBe(0);
    expect(f.cni.calls).toEqual([]);
    await r.once(1000);
  });

  it("portmap's ipv6 CHECK failure on an IPv4-only attachment: the list is CHECKed again without portmap, no repair", async () => {
    const { f, r, checks, setFail } = await running();
    setFail((list) =>
      list.plugins.some((p) => p.type === 'portmap')
        ? new CniError({ cniCode: 999, msg: 'could not check ipv6 dnat: chain CNI-DN-x does not exist', plugin: 'portmap', verb: 'CHECK' })
        : undefined,
    );
    expect(await r.checkNetworks()).toBe(0);
    expect(checks.filter((c) => c.network === 'berth').map((c) => c.plugins.join(','))).toEqual(['bridge,portmap', 'bridge']);
    expect(f.cni.calls).toEqual([]);
    await r.once(1000);
  });

  it('an attachment missing from the cache is re-added', async () => {
    const { f, r } = await running();
    for (const k of [...f.cni.cache.keys()]) if (k.startsWith('berth-berth')) f.cni.cache.delete(k);
    expect(await r.checkNetworks()).toBe(1);
    expect(f.cni.calls.map((c) => `${c.verb} ${c.network} ${c.ifName}`)).toEqual(['DEL berth eth0', 'ADD berth eth0']);
    await r.once(1000);
  });
});

describe('CNI-15 GC of stale attachments by the reconciler', () => {
  let root: string;
  let layout: Layout;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-tcn5-gc-'));
    await mkdir(join(root, 'specs'));
    layout = {
      configDir: join(root, 'config'),
      stateDir: join(root, 'state'),
      runDir: join(root, 'run'),
      logDir: join(root, 'log'),
      specDirs: [join(root, 'specs')],
    };
    await writeFile(join(root, 'specs', 'web.yaml'), WEB_POD);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it("at the first sync, a cached attachment no record accounts for is collected; the pod's own are kept", async () => {
    const f = fakeHost(layout);
    const stale = parseNetworkConfigList(JSON.stringify({ cniVersion: '1.0.0', name: 'berth', plugins: [{ type: 'bridge' }] }));
    await f.cni.addNetworkList(stale, { containerId: 'berth-0123456789ab', netns: '/run/netns/berth-0123456789ab', ifName: 'eth0' });
    const gcs: Array<{ network: string; valid: string[] }> = [];
    (f.cni as unknown as { gcNetworkList: (list: NetworkConfigList, args?: GcArgs) => Promise<void> }).gcNetworkList = async (
      list,
      args,
    ) => {
      gcs.push({ network: list.name, valid: (args?.validAttachments ?? []).map((a) => `${a.containerID}/${a.ifname}`) });
      for (const a of await f.cni.getCachedAttachments()) {
        if (a.networkName === list.name && !args?.validAttachments.some((v) => v.containerID === a.containerId && v.ifname === a.ifName)) {
          await f.cni.delNetworkList(list, { containerId: a.containerId, netns: a.netns, ifName: a.ifName });
        }
      }
    };
    const r = new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });
    const res = await r.once(5000);
    expect(res.exitCode).toBe(0);
    const id = `berth-${(await listRecords(layout))[0]!.uid.replace(/-/g, '').slice(0, 12)}`;
    expect(gcs).toEqual([{ network: 'berth', valid: [`${id}/lo`, `${id}/eth0`] }]);
    expect((await f.cni.getCachedAttachments()).map((a) => `${a.networkName} ${a.containerId}`).sort()).toEqual([
      `berth ${id}`,
      `berth-loopback ${id}`,
    ]);
    // the next run has nothing stale: no GC
    gcs.length = 0;
    await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000);
    expect(gcs).toEqual([]);
  });
});
