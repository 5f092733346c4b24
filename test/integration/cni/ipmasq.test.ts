/**
 * Masquerade leftovers removed with the real iptables (issue 14 item 11), inside a throwaway
 * "host" network namespace so that the root namespace's tables are never touched: the rules
 * the bridge plugin makes for one attachment go, another attachment's stay. And the address
 * listing of a namespace handle that adoption checks against the CNI cache.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostIptables, ipMasqChainName, ipMasqComment, IpNetnsManager, removeIpMasqLeftovers } from '../../../src/cni/index.js';

const isRoot = process.getuid?.() === 0;
const NS = 'berth-tipmasq';
const NET = 'berthrbnet';

/** The three rules bridge 1.1.1 makes for an attachment with ipMasq (its SetupIPMasq), as iptables-restore input. */
function pluginRules(containerId: string, ip: string): string {
  const chain = ipMasqChainName(NET, containerId);
  const c = `-m comment --comment ${JSON.stringify(ipMasqComment(NET, containerId))}`;
  return [
    `:${chain} - [0:0]`,
    `-A POSTROUTING -s ${ip}/32 ${c} -j ${chain}`,
    `-A ${chain} -d 10.231.0.0/24 ${c} -j ACCEPT`,
    `-A ${chain} ! -d 224.0.0.0/4 ${c} -j MASQUERADE`,
  ].join('\n');
}

describe.skipIf(!isRoot)('ipMasq leftovers with iptables', () => {
  const ipt = new HostIptables(['ip', 'netns', 'exec', NS]);
  const save = async () => (await execa('ip', ['netns', 'exec', NS, 'iptables-save', '-t', 'nat'])).stdout;
  let tmp: string;

  beforeAll(async () => {
    await execa('ip', ['netns', 'add', NS]);
    tmp = await mkdtemp(join(tmpdir(), 'berth-tipmasq-'));
  });
  afterAll(async () => {
    await execa('ip', ['netns', 'delete', NS], { reject: false });
    await rm(tmp, { recursive: true, force: true });
  });

  it("removes one attachment's POSTROUTING rule and chain, keeps another's; a second run finds nothing", async () => {
    await ipt.restore(
      4,
      `*nat\n${pluginRules('berth-aaaaaaaaaaaa', '10.231.0.2')}\n${pluginRules('berth-bbbbbbbbbbbb', '10.231.0.3')}\nCOMMIT\n`,
    );
    expect((await save()).match(/berth-aaaaaaaaaaaa/g)).toHaveLength(3);
    const removed = await removeIpMasqLeftovers(ipt, { network: NET, containerId: 'berth-aaaaaaaaaaaa', families: [4, 6] });
    expect(removed).toEqual([
      expect.stringMatching(/^iptables -t nat -D POSTROUTING -s 10\.231\.0\.2\/32 .* -j CNI-/),
      `iptables -t nat -X ${ipMasqChainName(NET, 'berth-aaaaaaaaaaaa')}`,
    ]);
    const after = await save();
    expect(after).not.toContain('berth-aaaaaaaaaaaa');
    expect(after).not.toContain(ipMasqChainName(NET, 'berth-aaaaaaaaaaaa'));
    expect(after.match(/berth-bbbbbbbbbbbb/g)).toHaveLength(3);
    expect(await removeIpMasqLeftovers(ipt, { network: NET, containerId: 'berth-aaaaaaaaaaaa', families: [4] })).toEqual([]);
    await removeIpMasqLeftovers(ipt, { network: NET, containerId: 'berth-bbbbbbbbbbbb', families: [4] });
    expect(await save()).not.toContain('berth-');
  });

  it('a namespace handle lists its interfaces and addresses; none when the handle is gone', async () => {
    const m = new IpNetnsManager({ dir: join(tmp, 'netns') });
    const p = await m.ensure('berth-tipmasq-a');
    try {
      expect(await m.addresses('berth-tipmasq-a')).toEqual({ lo: [] });
      await execa('nsenter', [`--net=${p}`, 'ip', 'link', 'set', 'lo', 'up']);
      expect((await m.addresses('berth-tipmasq-a'))?.lo).toContain('127.0.0.1/8');
    } finally {
      await m.remove('berth-tipmasq-a');
    }
    expect(await m.addresses('berth-tipmasq-a')).toBeUndefined();
  });
});
