/**
 * `berth gc`'s find step (and its apply step) with fake host interfaces: two pods converge, one
 * loses its record; what the lost pod left is listed, nothing of the recorded pod is; objects
 * of another installation sharing the host (netns dir, runtime root, iptables) are not taken
 * without a trace in this state dir; a second ADD's masquerade rule of a recorded pod is; the
 * apply step removes through the ports and leaves the recorded pod alone.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ipMasqChainName, type Iptables } from '../../../src/cni/index.js';
import {
  containerId,
  listRecords,
  podDir,
  podShortId,
  Reconciler,
  sandboxId,
  type Layout,
  type PodRecord,
} from '../../../src/reconciler/index.js';
import { applyOrphans } from '../../../src/reconciler/orphan-apply.js';
import { scanHost } from '../../../src/reconciler/orphan-scan.js';
import { findOrphans, masqRules, type ObservedHost } from '../../../src/reconciler/orphans.js';
import { gcTable } from '../../../src/cli/commands/gc.js';
import { fakeHost, tempLayout } from '../../fakes/host.js';

const pod = (name: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  containers:
    - {name: a, image: "oci:/img:latest", command: [sleep, "1000"]}
`;

const comment = (net: string, cid: string) => `-m comment --comment "name: \\"${net}\\" id: \\"${cid}\\""`;
/** What the bridge plugin's ipMasq adds for one ADD (the chain declaration goes with the table header). */
const masq = (net: string, cid: string, ip: string) => [
  `:${ipMasqChainName(net, cid)} - [0:0]`,
  `-A POSTROUTING -s ${ip}/32 ${comment(net, cid)} -j ${ipMasqChainName(net, cid)}`,
  `-A ${ipMasqChainName(net, cid)} -d 10.9.0.0/16 ${comment(net, cid)} -j ACCEPT`,
];

class FakeIptables implements Iptables {
  restores: string[] = [];
  constructor(public text: string) {}
  async save(family: 4 | 6) {
    if (family === 6) throw Object.assign(new Error('no ip6tables'), { code: 'ENOENT' });
    return this.text;
  }
  async restore(_family: 4 | 6, script: string) {
    this.restores.push(script);
    for (const l of script.split('\n')) {
      let keep: (x: string) => boolean = () => true;
      if (l.startsWith('-D ')) keep = (x) => x !== l.replace(/^-D /, '-A ');
      if (l.startsWith('-F ')) keep = (x) => !x.startsWith(`-A ${l.slice(3)} `);
      if (l.startsWith('-X ')) keep = (x) => !x.startsWith(`:${l.slice(3)} `);
      this.text = this.text.split('\n').filter(keep).join('\n');
    }
  }
}

describe('berth gc: find and apply', () => {
  let root: string;
  let layout: Layout;
  beforeEach(async () => {
    ({ root, layout } = await tempLayout('berth-tgc-', { 'keep.yaml': pod('keep'), 'lost.yaml': pod('lost') }));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  async function setup() {
    const f = fakeHost(layout);
    const res = await new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 }).once(5000);
    expect(res.exitCode).toBe(0);
    const recs = await listRecords(layout);
    const keep = recs.find((r) => r.name === 'keep')!;
    const lost = recs.find((r) => r.name === 'lost')!;
    // what the real pods would also have: log dirs, IPAM reservations, masquerade rules
    for (const r of recs) await mkdir(join(layout.logDir, `default_${r.name}_${r.uid}`, 'a'), { recursive: true });
    const ipOf = (r: PodRecord) => r.attachments[0]!.ips[0]!.split('/')[0]!;
    const ipam = join(layout.stateDir, 'cni', 'networks', 'berth');
    await mkdir(ipam, { recursive: true });
    for (const r of recs) await writeFile(join(ipam, ipOf(r)), `${sandboxId(r.uid)}\r\neth0`);
    await writeFile(join(ipam, '10.9.0.99'), `${sandboxId(keep.uid)}\r\neth0`); // a second ADD's
    await writeFile(join(ipam, 'last_reserved_ip.0'), ipOf(lost));
    await writeFile(join(ipam, 'lock'), '');
    // another installation on the host: its netns, container and rule carry the prefix too
    const foreign = 'berth-ffffffffffff';
    await f.netns.ensure(foreign);
    const ipt = new FakeIptables(
      [
        '*nat',
        ':POSTROUTING ACCEPT [0:0]',
        ...masq('berth', sandboxId(keep.uid), ipOf(keep)),
        ...masq('berth', sandboxId(keep.uid), '10.9.0.99'),
        ...masq('berth', sandboxId(lost.uid), ipOf(lost)),
        ...masq('othernet', foreign, '10.50.0.2'),
        'COMMIT',
        '',
      ].join('\n'),
    );
    const bundles = new Map([
      [containerId(keep.uid, 'a'), join(podDir(layout, keep.uid), 'apps', 'a')],
      [containerId(lost.uid, 'a'), join(podDir(layout, lost.uid), 'apps', 'a')],
      [`${foreign}-a`, '/elsewhere/pods/x/apps/a'],
    ]);
    const oci = {
      name: 'crun',
      list: async () => [...(await f.runtime.list('berth-')), `${foreign}-a`],
      state: async (id: string) => ({ status: 'running', pid: 1, bundle: bundles.get(id) ?? '' }),
    };
    // a kubelet pod's log dir in a shared log dir (uid version 4)
    await mkdir(join(layout.logDir, 'kube-system_dns_0b6f2c6e-8c4e-4f4a-9d7e-1a2b3c4d5e6f'), { recursive: true });
    // an unreadable record: the pod counts as recorded
    const broken = '0a0a0a0a-0a0a-8a0a-8a0a-0a0a0a0a0a0a';
    await mkdir(podDir(layout, broken), { recursive: true });
    await writeFile(join(podDir(layout, broken), 'pod.json'), '{');
    await f.netns.ensure(`berth-${podShortId(broken)}`);

    await rm(join(podDir(layout, lost.uid), 'pod.json')); // the lost record
    const scan = () => scanHost({ layout, cni: f.cni, netns: f.netns, ociRuntimes: [oci], iptables: ipt });
    return { f, keep, lost, ipt, scan, ipam, ipOf, foreign, broken };
  }

  it('lists what the pod without a record left, nothing of the recorded pod, nothing foreign', async () => {
    const { keep, lost, scan, ipam, ipOf, foreign, broken } = await setup();
    const orphans = findOrphans(await scan());
    const rows = orphans.filter((o) => o.kind !== 'ipam').map((o) => `${o.kind} ${o.name}`);
    const lostCid = sandboxId(lost.uid);
    expect(rows).toEqual([
      `container ${containerId(lost.uid, 'a')}`,
      `cni-attachment berth-loopback-${lostCid}-lo`,
      `cni-attachment berth-${lostCid}-eth0`,
      `iptables iptables -t nat ${masq('berth', sandboxId(keep.uid), '10.9.0.99')[1]}`,
      `iptables iptables nat berth/${lostCid}`,
      `netns ${lostCid}`,
      `pod-dir ${podDir(layout, lost.uid)}`,
      `log-dir ${join(layout.logDir, `default_lost_${lost.uid}`)}`,
    ]);
    // the lost pod's reservation, and the one of a second ADD of the recorded pod
    expect(
      orphans
        .filter((o) => o.kind === 'ipam')
        .map((o) => o.name)
        .sort(),
    ).toEqual([join(ipam, '10.9.0.99'), join(ipam, ipOf(lost))].sort());
    const all = JSON.stringify(orphans.filter((o) => !o.reason.includes('second ADD')));
    expect(all).not.toContain(`${podShortId(keep.uid)}-a`);
    expect(all).not.toContain(foreign);
    expect(all).not.toContain(podShortId(broken));
    expect(all).not.toContain('kube-system');
    expect(orphans.find((o) => o.kind === 'iptables' && o.name.includes('10.9.0.99'))!.reason).toMatch(
      /10\.9\.0\.99, an address pod \w+ does not have \(a second ADD\)/,
    );
  });

  it('a foreign netns is taken once this state dir holds a trace of its pod; a rule when its network is ours', () => {
    const base: ObservedHost = {
      layout,
      records: [],
      unreadableRecords: [],
      podDirs: [],
      mounts: [],
      netns: ['berth-aaaaaaaaaaaa', 'berth-bbbbbbbbbbbb'],
      containers: [],
      attachments: [],
      staleCacheTemps: [],
      ipam: [],
      nat: {
        4: ['*nat', ...masq('mine', 'berth-cccccccccccc', '10.1.0.2'), ...masq('theirs', 'berth-dddddddddddd', '10.2.0.2'), 'COMMIT'].join(
          '\n',
        ),
      },
      logDirs: ['default_web_aaaaaaaa-aaaa-8aaa-8aaa-aaaaaaaaaaaa'],
      bridges: [
        { name: 'berth-br1', ports: 0 },
        { name: 'berth-br2', ports: 3 },
        { name: 'cni0', ports: 0 },
      ],
      networkNames: ['mine'],
      bridgesInUse: [],
      bridgesOfNetwork: {},
    };
    const rows = findOrphans(base).map((o) => `${o.kind} ${o.name}`);
    expect(rows).toEqual([
      'iptables iptables nat mine/berth-cccccccccccc',
      'netns berth-aaaaaaaaaaaa',
      `log-dir ${join(layout.logDir, 'default_web_aaaaaaaa-aaaa-8aaa-8aaa-aaaaaaaaaaaa')}`,
      'bridge berth-br1',
    ]);
    expect(findOrphans({ ...base, bridgesInUse: ['berth-br1'] }).map((o) => o.name)).not.toContain('berth-br1');
  });

  it('parses the masquerade comment as iptables-save writes it', () => {
    const [r] = masqRules(
      ['*nat', `-A POSTROUTING -s 10.0.0.5/32 ${comment('my net', 'berth-0123456789ab')} -j CNI-x`, 'COMMIT'].join('\n'),
    );
    expect(r).toEqual({
      chain: 'POSTROUTING',
      rule: expect.stringContaining('-s 10.0.0.5/32') as unknown,
      network: 'my net',
      containerId: 'berth-0123456789ab',
      source: '10.0.0.5/32',
    });
  });

  it('apply removes through the ports and leaves the recorded pod alone', async () => {
    const { f, keep, lost, ipt, scan, ipam, ipOf } = await setup();
    const observed = await scan();
    f.cni.calls = [];
    const outcomes = await applyOrphans({ host: f.host, iptables: ipt }, findOrphans(observed), observed.records);
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    expect(f.cni.calls.map((c) => `${c.verb} ${c.network} ${c.containerId} ${c.ifName}`)).toEqual([
      `DEL berth-loopback ${sandboxId(lost.uid)} lo`,
      `DEL berth ${sandboxId(lost.uid)} eth0`,
    ]);
    expect(await f.runtime.list('berth-')).toEqual([containerId(keep.uid, 'a')]);
    expect(f.runtime.running()).toEqual([containerId(keep.uid, 'a')]);
    expect(await f.netns.exists(sandboxId(lost.uid))).toBe(false);
    expect(await f.netns.exists(sandboxId(keep.uid))).toBe(true);
    expect(existsSync(podDir(layout, lost.uid))).toBe(false);
    expect(existsSync(podDir(layout, keep.uid))).toBe(true);
    expect((await readdir(ipam)).sort()).toEqual([ipOf(keep), 'last_reserved_ip.0', 'lock'].sort());
    expect(ipt.text).not.toContain(sandboxId(lost.uid));
    expect(ipt.text).not.toContain('10.9.0.99');
    expect(ipt.text).toContain(`-s ${ipOf(keep)}/32`);
    expect(await readdir(layout.logDir)).not.toContain(`default_lost_${lost.uid}`);
    // nothing left to find
    expect(findOrphans(await scan()).map((o) => o.kind)).toEqual([]);
  });

  it('a removal that fails is reported by name; the others still happen', async () => {
    const { f, lost, ipt, scan } = await setup();
    f.netns.remove = async () => {
      throw new Error('netns busy');
    };
    const observed = await scan();
    const outcomes = await applyOrphans({ host: f.host, iptables: ipt }, findOrphans(observed), observed.records);
    expect(outcomes.filter((o) => !o.ok).map((o) => [o.orphan.kind, o.orphan.name, o.error])).toEqual([
      ['netns', sandboxId(lost.uid), 'netns busy'],
    ]);
    expect(existsSync(podDir(layout, lost.uid))).toBe(false);
    expect(
      gcTable(
        outcomes.map((o) => ({
          kind: o.orphan.kind,
          name: o.orphan.name,
          reason: o.orphan.reason,
          action: o.action,
          ...(o.error ? { error: o.error } : {}),
        })),
      ),
    ).toMatch(new RegExp(`netns\\s+${sandboxId(lost.uid)}\\s+failed: netns busy`));
  });
});
