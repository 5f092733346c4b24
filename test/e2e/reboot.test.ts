/**
 * A simulated reboot and a repaired veth, end to end (issue 14 items 1, 10, 11; issue 13 item 7).
 * Reboot: every conmon and app killed by PID, every pod namespace deleted, the run dir removed;
 * the next `reconcile --once` brings each pod back Running with eth0 and an address of its
 * network, one host-local reservation per pod (the stale ones released by DEL from the cache),
 * one masquerade rule per pod, and no temporary cache file of an interrupted write. A veth
 * deleted by hand is repaired by `--once` (adopted namespace, interface missing) and by the
 * daemon's CHECK, each without leaving the old attachment's masquerade rule or chain. Teardown
 * leaves nothing: `iptables-save | grep <id>` is empty and berth-leaks is clean.
 * Host objects: bridge berthrb0, subnet 10.231.0.0/24, IPAM dataDir under the sandbox.
 */
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostIptables, removeIpMasqLeftovers } from '../../src/cni/index.js';
import {
  buildBusyboxImage,
  closeSandbox,
  createSandbox,
  isRoot,
  networkYaml,
  podYaml,
  shortId,
  type Sandbox,
  type StatusJson,
} from '../helpers/berth-cli.js';

const BRIDGE = 'berthrb0';
const NET = 'rbnet';
const SUBNET = /^10\.231\.0\.\d+\/24$/;
const APP = "trap 'exit 0' TERM; sleep 765432 & wait";
const PODS = ['rb-a', 'rb-b', 'rb-c'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Is the process gone (or a zombie nobody reaped yet)? */
async function dead(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function iptablesLines(id: string): Promise<string[]> {
  const out = (await execa('iptables-save', [], { reject: false })).stdout;
  return out.split('\n').filter((l) => l.includes(id) && !l.startsWith('#'));
}

describe.skipIf(!isRoot)('simulated reboot and repaired veths', () => {
  let sb: Sandbox;
  const ids = new Set<string>([BRIDGE]);
  let ipamDir: string;

  const run = () => sb.run(['reconcile', '--once', '--timeout', '60s']);
  const podsOf = (st: StatusJson) => PODS.map((n) => st.pods.find((p) => p.name === n)!);
  const nsOf = (p: { netns: string | null }) => p.netns!.split('/').pop()!;
  const eth0Of = async (ns: string) =>
    (await execa('ip', ['-n', ns, '-o', '-4', 'addr', 'show', 'dev', 'eth0'], { reject: false })).stdout.match(/inet (\S+)/)?.[1];
  /** host-local's reservations: one file per address, holding the container id */
  const reservations = async () => {
    const dir = join(ipamDir, NET);
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n));
    return Promise.all(names.map(async (n) => ({ ip: n, owner: (await readFile(join(dir, n), 'utf8')).split(/\s/)[0]! })));
  };
  const postrouting = async (id: string) => (await iptablesLines(id)).filter((l) => l.startsWith('-A POSTROUTING'));
  const hostVeth = async (ns: string) => {
    const line = (await execa('ip', ['-o', 'link', 'show', 'master', BRIDGE])).stdout
      .split('\n')
      .find((l) => l.includes(`link-netns ${ns}`));
    return line?.split(': ')[1]?.split('@')[0];
  };

  /** every pod Running with eth0 holding the address status shows, one reservation and one masquerade rule each */
  async function expectNetworked(): Promise<StatusJson> {
    const st = await sb.status();
    const pods = podsOf(st);
    for (const p of pods) {
      expect(p, p.name).toMatchObject({ status: 'Running', ready: '1/1' });
      expect(p.networks).toEqual([{ name: NET, interface: 'eth0', ips: [expect.stringMatching(SUBNET)] }]);
      expect(await eth0Of(nsOf(p)), p.name).toBe(p.networks[0]!.ips[0]);
      const rules = await postrouting(nsOf(p));
      expect(rules, p.name).toHaveLength(1);
      expect(rules[0]).toContain(`-s ${p.networks[0]!.ips[0]!.split('/')[0]}/32`);
    }
    const res = await reservations();
    expect(res.map((r) => r.owner).sort()).toEqual(pods.map((p) => nsOf(p)).sort());
    expect(res.map((r) => `${r.ip}/24`).sort()).toEqual(pods.map((p) => p.networks[0]!.ips[0]!).sort());
    return st;
  }

  beforeAll(async () => {
    sb = await createSandbox('berth-e2rb');
    ids.add(sb.root);
    ipamDir = join(sb.root, 'ipam');
    const image = await buildBusyboxImage(join(sb.root, 'image'));
    await sb.writeSpec('00-net.yaml', networkYaml(NET, BRIDGE, '10.231.0.0/24', ipamDir));
    for (const n of PODS) await sb.writeSpec(`${n}.yaml`, podYaml(n, image, [{ name: 'main', script: APP }]));
  });

  afterAll(async () => {
    const { code, leaks } = await closeSandbox(sb, ids);
    const left: string[] = [];
    for (const id of ids) if (id.length === 12) left.push(...(await iptablesLines(`berth-${id}`)));
    // whatever a failed test left: masquerade rules by name, then the bridge
    for (const id of ids) {
      if (id.length === 12)
        await removeIpMasqLeftovers(new HostIptables(), { network: NET, containerId: `berth-${id}`, families: [4] }).catch(() => undefined);
    }
    await execa('ip', ['link', 'del', BRIDGE], { reject: false });
    expect(code).toBe(0);
    expect(left).toEqual([]);
    expect(leaks).toEqual([]);
  });

  it('converges three pods, each with its own address, reservation and masquerade rule', async () => {
    const r = await run();
    expect(r.exitCode, r.stderr).toBe(0);
    const st = await sb.status();
    for (const p of st.pods) if (p.uid) ids.add(shortId(p.uid));
    await expectNetworked();
  });

  it('after a simulated reboot every pod is back with its network; stale reservations, rules and cache temp files are gone', async () => {
    const before = podsOf(await sb.status());
    const runDir = join(sb.root, 'run');
    const pids: number[] = [];
    for (const c of await readdir(join(runDir, 'containers'))) {
      for (const f of ['conmon.pid', 'ctr.pid']) {
        const pid = Number((await readFile(join(runDir, 'containers', c, f), 'utf8').catch(() => '')).trim());
        if (pid > 1) pids.push(pid);
      }
    }
    expect(pids.length).toBe(2 * PODS.length);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    for (let end = Date.now() + 10_000; Date.now() < end; await sleep(100)) if ((await Promise.all(pids.map(dead))).every(Boolean)) break;
    expect((await Promise.all(pids.map(dead))).every(Boolean)).toBe(true);
    for (const p of before) await execa('ip', ['netns', 'delete', nsOf(p)]);
    await execa('rm', ['-rf', runDir]);
    // an interrupted cache write from before the "reboot"
    const tmp = join(sb.root, 'state', 'cni', 'results', `${NET}-${nsOf(before[0]!)}-eth0.0badf00d.tmp`);
    await writeFile(tmp, '{"kind":"cniCa');
    await utimes(tmp, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));

    const r = await run();
    expect(r.exitCode, r.stderr).toBe(0);
    const after = await expectNetworked();
    expect(podsOf(after).map((p) => p.uid)).toEqual(before.map((p) => p.uid));
    expect(r.stdout).toMatch(/cached attachment is stale/);
    expect(await readdir(join(sb.root, 'state', 'cni', 'results'))).not.toContain(tmp.split('/').pop());
  });

  it('--once repairs a veth deleted by hand (adopted namespace, interface missing) without leaking the old masquerade rule', async () => {
    const a = podsOf(await sb.status())[0]!;
    const veth = await hostVeth(nsOf(a));
    expect(veth).toBeDefined();
    await execa('ip', ['link', 'del', veth!]);
    expect(await eth0Of(nsOf(a))).toBeUndefined();
    const pid = a.apps[0]!.pid;

    const r = await run();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/interface eth0 is missing/);
    const st = await expectNetworked();
    const again = podsOf(st)[0]!;
    expect(again.apps[0]!.pid).toBe(pid); // the app was not restarted
    expect(again.networks[0]!.ips[0]).not.toBe(a.networks[0]!.ips[0]);
  });

  it('--once after a namespace handle was deleted while its app runs: the handle is made again from the app, the attachment kept', async () => {
    const c = podsOf(await sb.status())[2]!;
    await execa('ip', ['netns', 'delete', nsOf(c)]);
    const r = await run();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/network namespace handle was gone: attached it again from the app/);
    expect(r.stdout).not.toMatch(/cached attachment is stale/);
    const again = podsOf(await expectNetworked())[2]!;
    expect(again.apps[0]!.pid).toBe(c.apps[0]!.pid);
    expect(again.networks).toEqual(c.networks);
  });

  it("the daemon's CHECK repairs a deleted veth and removes the old masquerade rule and chain", async () => {
    const b = podsOf(await sb.status())[1]!;
    const daemon = sb.spawn(['reconcile', '--cni-check', '1s', '--resync', '1h']);
    let out = '';
    daemon.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const waitFor = async (re: RegExp, ms: number) => {
      for (const end = Date.now() + ms; !re.test(out) && Date.now() < end;) await sleep(100);
      return re.test(out);
    };
    try {
      // the pod adopted by this daemon (the sync loop no longer waits for pods, so "watching for
      // changes" comes before that): a veth deleted now is CHECK's to find, not the adoption's
      expect(await waitFor(new RegExp(`"podName":"default/${b.name}","state":"running","msg":"pod state"`), 30_000)).toBe(true);
      const veth = await hostVeth(nsOf(b));
      expect(veth).toBeDefined();
      await execa('ip', ['link', 'del', veth!]);
      expect(await waitFor(/attachment repaired/, 20_000)).toBe(true);
      expect(out).toMatch(/removed masquerade rules the plugin left behind/);
    } finally {
      daemon.kill('SIGTERM');
      await daemon;
    }
    const st = await expectNetworked();
    expect(podsOf(st)[1]!.networks[0]!.ips[0]).not.toBe(b.networks[0]!.ips[0]);
  });
});
