/**
 * The Cni contract (src/cni/types.ts, libcni's verbs on a network configuration list):
 * test/unit/contract/cni.test.ts runs it against FakeCni, test/integration/contract/cni.test.ts
 * against CniRuntime over the reference plugins (bridge + host-local) in real namespaces.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf } from '../../src/common/errors.js';
import { CniCode, CniError } from '../../src/cni/errors.js';
import { parseNetworkConfigList } from '../../src/cni/conf.js';
import type { Cni, NetworkConfigList, PluginConf, RuntimeConf } from '../../src/cni/types.js';

export interface CniHarness {
  cni: Cni;
  /** the plugins of the network under test (bridge + host-local on the real host) */
  plugins: PluginConf[];
  /** a plugin type that is not in the plugin path */
  missingType: string;
  /** an attachment `eth0` of a container unique to this run, in a namespace that exists */
  attachment(what: string): Promise<RuntimeConf>;
  /** remove what the test left (attachments first, then namespaces and bridges) */
  cleanup(): Promise<void>;
}

export function cniContract(label: string, open: () => Promise<CniHarness>): void {
  describe(`Cni contract: ${label}`, () => {
    let h: CniHarness;
    const list = (extra: Record<string, unknown> = {}): NetworkConfigList =>
      parseNetworkConfigList(JSON.stringify({ cniVersion: '1.0.0', name: 'berth-ports-net', plugins: h.plugins, ...extra }));
    beforeEach(async () => {
      h = await open();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('ADD returns the result and caches it with the list it was added with; a second ADD is AlreadyExists', async () => {
      const l = list();
      const rt = await h.attachment('add');
      const result = await h.cni.addNetworkList(l, rt);
      expect(result.ips?.length).toBeGreaterThan(0);
      const cached = await h.cni.getCachedResult(l.name, rt.containerId, rt.ifName);
      expect(cached).toMatchObject({ containerId: rt.containerId, ifName: rt.ifName, networkName: l.name, netns: rt.netns });
      expect(cached?.result.ips?.map((i) => i.address)).toEqual(result.ips?.map((i) => i.address));
      expect(Buffer.from(cached!.config, 'base64').toString()).toBe(l.bytes);
      expect((await h.cni.getCachedAttachments(rt.containerId)).map((a) => a.ifName)).toEqual([rt.ifName]);
      expect(codeOf(await h.cni.addNetworkList(l, rt).catch((e: unknown) => e))).toBe('AlreadyExists');
    });

    it('ADD refuses container ids and interface names the spec does not allow', async () => {
      const rt = await h.attachment('names');
      for (const bad of [
        { ...rt, containerId: '' },
        { ...rt, containerId: 'a/b' },
        { ...rt, ifName: '' },
        { ...rt, ifName: 'x'.repeat(16) },
      ]) {
        const err = await h.cni.addNetworkList(list(), bad).catch((e: unknown) => e);
        expect(err, JSON.stringify(bad)).toBeInstanceOf(CniError);
      }
      expect(await h.cni.getCachedAttachments(rt.containerId)).toEqual([]);
    });

    it('CHECK: passes for an added attachment, NotFound for one never added, skipped with disableCheck, refused below 0.4.0', async () => {
      const rt = await h.attachment('check');
      await h.cni.addNetworkList(list(), rt);
      await h.cni.checkNetworkList(list(), rt);
      const other = await h.attachment('check-none');
      expect(codeOf(await h.cni.checkNetworkList(list(), other).catch((e: unknown) => e))).toBe('NotFound');
      await h.cni.checkNetworkList(list({ disableCheck: true }), other);
      const old = await h.cni.checkNetworkList(list({ cniVersion: '0.3.1' }), rt).catch((e: unknown) => e);
      expect(old).toBeInstanceOf(CniError);
      expect((old as CniError).cniCode).toBe(CniCode.IncompatibleCniVersion);
    });

    it('DEL forgets the cached result and is idempotent; a DEL of an attachment never added succeeds', async () => {
      const rt = await h.attachment('del');
      await h.cni.addNetworkList(list(), rt);
      await h.cni.delNetworkList(list(), rt);
      expect(await h.cni.getCachedResult(list().name, rt.containerId, rt.ifName)).toBeUndefined();
      await h.cni.delNetworkList(list(), rt);
      await h.cni.delNetworkList(list(), await h.attachment('del-never'));
      // DEL released the address: the attachment can be added again
      await h.cni.addNetworkList(list(), rt);
    });

    it('GC DELs the cached attachments of the network missing from the valid ones and keeps the others; skipped with disableGC', async () => {
      const keep = await h.attachment('gc-keep');
      const stale = await h.attachment('gc-stale');
      await h.cni.addNetworkList(list(), keep);
      await h.cni.addNetworkList(list(), stale);
      await h.cni.gcNetworkList(list({ disableGC: true }), { validAttachments: [{ containerID: keep.containerId, ifname: keep.ifName }] });
      expect(await h.cni.getCachedResult(list().name, stale.containerId, stale.ifName)).toBeDefined();
      await h.cni.gcNetworkList(list(), { validAttachments: [{ containerID: keep.containerId, ifname: keep.ifName }] });
      expect(await h.cni.getCachedResult(list().name, stale.containerId, stale.ifName)).toBeUndefined();
      expect(await h.cni.getCachedResult(list().name, keep.containerId, keep.ifName)).toBeDefined();
      await h.cni.checkNetworkList(list(), keep);
    });

    it('STATUS of a list before 1.1.0 succeeds without asking the plugins; VERSION and plugin problems answer', async () => {
      await h.cni.getStatusNetworkList(list());
      const v = await h.cni.getVersionInfo(h.plugins[0]!.type);
      expect(v.supportedVersions).toContain('1.0.0');
      expect(await h.cni.pluginProblems(list())).toEqual([]);
      const problems = await h.cni.pluginProblems(list({ plugins: [...h.plugins, { type: h.missingType }] }));
      expect(problems).toMatchObject([{ index: h.plugins.length, field: 'type' }]);
      expect(problems[0]!.message).toContain(h.missingType);
    });
  });
}
