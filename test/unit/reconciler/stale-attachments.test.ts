/**
 * Stale cached attachments (issue 14 item 1, issue 13 item 7) with fake host interfaces: after a
 * reboot (namespace and apps gone) every cached attachment gets DEL, then a fresh ADD; an
 * adopted namespace keeps its attachments unless the interface or address the cache names is
 * missing; an attachment that cannot be released is an error, never a silent keep.
 */
import { rm } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import type { CniResult, NetworkConfigList } from '../../../src/cni/index.js';
import { attachAll, staleReason } from '../../../src/reconciler/attachments.js';
import { reattachSandbox } from '../../../src/reconciler/sandbox.js';
import { containerId, listRecords, netnsName, Reconciler, type Layout } from '../../../src/reconciler/index.js';
import { fakeHost, tempLayout, WEB_POD, FakeRuntime } from '../../fakes/host.js';

describe('stale cached attachments', () => {
  let root: string;
  let layout: Layout;
  beforeEach(async () => {
    ({ root, layout } = await tempLayout('berth-trb-', { 'web.yaml': WEB_POD }));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  async function converged() {
    const f = fakeHost(layout);
    const first = await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000);
    expect(first.exitCode).toBe(0);
    f.cni.calls = [];
    return { f, ip: first.rows[0]!.ips[0] };
  }
  const calls = (f: ReturnType<typeof fakeHost>) => f.cni.calls.map((c) => `${c.verb} ${c.network} ${c.ifName}`);

  it('after a reboot (namespace and apps gone) every cached attachment is DELeted, then ADDed again', async () => {
    const { f, ip } = await converged();
    f.netns.live.clear();
    const rebooted = { ...f.host, runtime: new FakeRuntime(f.clock) };
    const res = await new Reconciler(rebooted, { cniConfDirs: [], minReadyMs: 0 }).once(5000);
    expect(res.exitCode).toBe(0);
    // each attachment DEL, then ADD; loopback goes beside eth0 (attachments.ts)
    expect(calls(f).filter((c) => c.endsWith(' lo'))).toEqual(['DEL berth-loopback lo', 'ADD berth-loopback lo']);
    expect(calls(f).filter((c) => c.endsWith(' eth0'))).toEqual(['DEL berth eth0', 'ADD berth eth0']);
    expect(calls(f)).toHaveLength(4);
    expect(res.rows[0]).toMatchObject({ status: 'Running' });
    expect(res.rows[0]!.ips).toHaveLength(1);
    expect(res.rows[0]!.ips[0]).not.toBe(ip); // a fresh reservation (the fake hands out the next address)
    expect(f.cni.cache.size).toBe(2);
  });

  it('an adopted namespace: attachments whose interface is there are kept, a missing one is repaired', async () => {
    const { f } = await converged();
    const rec = (await listRecords(layout))[0]!;
    const eth0 = rec.attachments[0]!.ips[0]!;
    const present: Record<string, string[]> = { lo: ['127.0.0.1/8', '::1/128'], eth0: [eth0] };
    (f.netns as unknown as { addresses: () => Promise<Record<string, string[]>> }).addresses = async () => present;
    expect((await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000)).exitCode).toBe(0);
    expect(f.cni.calls).toEqual([]);

    delete present.eth0; // someone deleted the veth
    const res = await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000);
    expect(res.exitCode).toBe(0);
    expect(calls(f)).toEqual(['DEL berth eth0', 'ADD berth eth0']);
    expect(f.runtime.starts).toHaveLength(1); // the app kept running
  });

  it('staleReason: created anew, interface missing, address missing, or nothing to say', () => {
    const r: CniResult = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'berthx0' }, { name: 'vethab' }, { name: 'eth0', sandbox: '/run/netns/x' }],
      ips: [{ address: '10.231.0.5/24', interface: 2 }],
    };
    expect(staleReason(false, undefined, 'eth0', r)).toMatch(/created anew/);
    expect(staleReason(true, undefined, 'eth0', r)).toBeUndefined();
    expect(staleReason(true, { lo: [] }, 'eth0', r)).toMatch(/interface eth0 is missing/);
    expect(staleReason(true, { eth0: ['10.231.0.6/24'] }, 'eth0', r)).toMatch(/address 10\.231\.0\.5\/24 is missing from eth0/);
    expect(staleReason(true, { eth0: ['10.231.0.5/24'] }, 'eth0', r)).toBeUndefined();
    expect(
      staleReason(true, { lo: ['127.0.0.1/8'] }, 'lo', { cniVersion: '1.0.0', ips: [{ address: '127.0.0.1/8' }, { address: '::1/128' }] }),
    ).toBeUndefined();
    expect(staleReason(true, { lo: [] }, 'lo', { cniVersion: '1.0.0', ips: [{ address: '127.0.0.1/8' }] })).toMatch(
      /127\.0\.0\.1\/8 is missing from lo/,
    );
  });

  it('a stale attachment whose DEL fails with the cached config is DELeted with the current one; if that fails too, it is an error', async () => {
    const { f } = await converged();
    const rec = (await listRecords(layout))[0]!;
    // the network changed since the ADD: the cached config differs from the current one
    const entry = [...f.cni.cache.values()].find((a) => a.ifName === 'eth0')!;
    const changed = JSON.parse(Buffer.from(entry.config, 'base64').toString()) as Record<string, unknown>;
    entry.config = Buffer.from(JSON.stringify({ ...changed, plugins: [{ type: 'gone-plugin' }] })).toString('base64');
    const orig = f.cni.delNetworkList.bind(f.cni);
    const tried: string[] = [];
    let currentFails = false;
    f.cni.delNetworkList = async (list: NetworkConfigList, rt) => {
      tried.push(list.plugins.map((p) => p.type).join(','));
      if (list.plugins[0]?.type === 'gone-plugin' || currentFails) throw new Error(`failed to find plugin "${list.plugins[0]?.type}"`);
      return orig(list, rt);
    };
    f.netns.live.clear();
    await f.netns.ensure(rec.netns!.split('/').pop()!);
    const atts = await attachAll(f.host, rec, rec.netns!, false, silentLogger());
    expect(tried).toEqual(['loopback', 'gone-plugin', 'bridge,portmap']);
    expect(atts).toHaveLength(1);

    const again = [...f.cni.cache.values()].find((a) => a.ifName === 'eth0')!;
    again.config = entry.config;
    currentFails = true;
    tried.length = 0;
    await expect(attachAll(f.host, rec, rec.netns!, false, silentLogger())).rejects.toThrow(
      /stale attachment berth-loopback\/lo .*could not be released/,
    );
  });

  it('a handle deleted while an app runs is made again from the app; with no app running nothing is made', async () => {
    const { f } = await converged();
    const rec = (await listRecords(layout))[0]!;
    const attached: Array<{ name: string; pid: number }> = [];
    const netns = f.netns as unknown as { attach: (name: string, pid: number) => Promise<string> };
    netns.attach = async (name, pid) => {
      attached.push({ name, pid });
      return f.netns.ensure(name);
    };
    expect(await reattachSandbox(f.host, rec, silentLogger())).toBe(false); // the handle is there
    f.netns.live.clear();
    expect(await reattachSandbox(f.host, rec, silentLogger())).toBe(true);
    const pid = (await f.runtime.status(containerId(rec.uid, 'a'))).pid;
    expect(pid).toBeGreaterThan(0);
    expect(attached).toEqual([{ name: netnsName(rec.uid), pid }]);
    f.netns.live.clear();
    const rebooted = { ...f.host, runtime: new FakeRuntime(f.clock) };
    expect(await reattachSandbox(rebooted, rec, silentLogger())).toBe(false);
    expect(attached).toHaveLength(1);
  });
});
