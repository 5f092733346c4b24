/**
 * `berth gc` end to end (issue 13 item 9, issue 14 item 6): a pod whose record was lost (removed
 * by hand, as a second agent on the state dir or a crash can leave it) is found by
 * `gc --dry-run` — netns, runtime container, CNI cache entries, IPAM reservation, masquerade
 * rule, mounts, pod dir — without anything changing, and removed by `gc`, while a recorded pod
 * keeps running with the same PID. Host objects are named berth-e2gc…; subnet 10.196.77.0/24.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSandbox, createSandbox, isRoot, leaksOf, LOOP, networkYaml, podYaml, shortId, type Sandbox } from '../helpers/berth-cli.js';

const BR = 'berth-e2gc';
const IMAGE = 'oci:/opt/berth/images/busybox:latest';

interface GcJson {
  dryRun: boolean;
  orphans: Array<{ kind: string; name: string; reason: string; action: string; error?: string }>;
}

const natSave = async () => (await execa('iptables-save', ['-t', 'nat'], { reject: false })).stdout;

describe.skipIf(!isRoot)('berth gc', () => {
  let sb: Sandbox;
  const ids = new Set<string>([BR]);

  beforeAll(async () => {
    sb = await createSandbox('berth-e2gc');
    const data = join(sb.root, 'data');
    await mkdir(join(data, 'sub'), { recursive: true });
    await sb.writeSpec('00-net.yaml', networkYaml('e2gc', BR, '10.196.77.0/24', join(sb.root, 'ipam')));
    await sb.writeSpec('keep.yaml', podYaml('keep', IMAGE, [{ name: 'main', script: LOOP }]));
    // a volume subPath gives the pod a pin mount below its pod dir
    await sb.writeSpec(
      'lost.yaml',
      `apiVersion: v1
kind: Pod
metadata: {name: lost}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: data, hostPath: {path: ${data}}}]
  containers:
    - name: main
      image: ${IMAGE}
      command: [sh, -c, ${JSON.stringify(LOOP)}]
      volumeMounts: [{name: data, mountPath: /data, subPath: sub}]
`,
    );
  });

  afterAll(async () => {
    const { code, leaks } = await closeSandbox(sb, ids);
    await execa('ip', ['link', 'del', BR], { reject: false });
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('lists the objects of a pod without a record, changes nothing, then removes them; a recorded pod keeps running', async () => {
    const r = await sb.run(['reconcile', '--once', '--timeout', '90s']);
    expect(r.exitCode, r.stderr).toBe(0);
    const st = await sb.status();
    for (const p of st.pods) if (p.uid) ids.add(shortId(p.uid));
    const keep = st.pods.find((p) => p.name === 'keep')!;
    const lost = st.pods.find((p) => p.name === 'lost')!;
    expect(keep.status).toBe('Running');
    expect(lost.status).toBe('Running');
    const keepPid = keep.apps[0]!.pid;
    const lostId = shortId(lost.uid!);
    const keepId = shortId(keep.uid!);
    const lostCid = `berth-${lostId}`;
    expect(await natSave()).toContain(`id: \\"${lostCid}\\"`);

    // The record goes (a lost record, or the other agent's pod).
    const podDir = join(sb.root, 'state', 'pods', lost.uid!);
    await rm(join(podDir, 'pod.json'));

    const dry = await sb.run(['gc', '--dry-run', '-o', 'json']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    const listed = (JSON.parse(dry.stdout) as GcJson).orphans;
    const names = (kind: string) => listed.filter((o) => o.kind === kind).map((o) => o.name);
    expect(names('netns')).toEqual([lostCid]);
    expect(names('container')).toEqual([`${lostCid}-main`]);
    expect(names('cni-attachment').sort()).toEqual([`berth-loopback-${lostCid}-lo`, `e2gc-${lostCid}-eth0`]);
    expect(names('ipam')).toEqual([join(sb.root, 'ipam', 'e2gc', lost.ips[0]!)]);
    expect(names('iptables').join('\n')).toContain(lostCid);
    expect(names('mount').length).toBeGreaterThanOrEqual(2); // the rootfs overlay and the subPath pin
    expect(names('mount').every((m) => m.startsWith(`${podDir}/`))).toBe(true);
    expect(names('pod-dir')).toEqual([podDir]);
    expect(names('log-dir')).toEqual([join(sb.root, 'log', `default_lost_${lost.uid}`)]);
    expect(listed.every((o) => o.action.startsWith('would '))).toBe(true);
    expect(dry.stdout).not.toContain(keepId);
    // nothing changed
    expect(existsSync(podDir)).toBe(true);
    expect(await natSave()).toContain(`id: \\"${lostCid}\\"`);
    expect((await execa('ip', ['netns', 'list'])).stdout).toContain(lostCid);
    expect(await readdir(join(sb.root, 'ipam', 'e2gc'))).toContain(lost.ips[0]!);

    const gc = await sb.run(['gc']);
    expect(gc.exitCode, `${gc.stdout}\n${gc.stderr}`).toBe(0);
    expect(gc.stdout).toMatch(/^KIND\s+NAME\s+ACTION/);
    expect(await leaksOf([lostId])).toEqual([]);
    expect(await natSave()).not.toContain(lostCid);
    expect(existsSync(podDir)).toBe(false);
    expect(await readdir(join(sb.root, 'ipam', 'e2gc'))).not.toContain(lost.ips[0]!);

    // the recorded pod was not touched
    const after = await sb.status();
    const k = after.pods.find((p) => p.name === 'keep')!;
    expect(k.status).toBe('Running');
    expect(k.apps[0]!.pid).toBe(keepPid);
    expect(await natSave()).toContain(`id: \\"berth-${keepId}\\"`);

    // and a second run finds nothing of the pods
    const again = await sb.run(['gc', '--dry-run', '-o', 'json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(
      (JSON.parse(again.stdout) as GcJson).orphans.filter((o) => o.kind !== 'blob' && o.kind !== 'rendered' && o.kind !== 'image'),
    ).toEqual([]);
  }, 240_000);

  it("removes the masquerade rule a second ADD left for a recorded pod, keeps the pod's own (issue 14 item 6)", async () => {
    const keep = (await sb.status()).pods.find((p) => p.name === 'keep')!;
    const cid = `berth-${shortId(keep.uid!)}`;
    const own = (await natSave()).split('\n').find((l) => l.startsWith('-A POSTROUTING') && l.includes(`id: \\"${cid}\\"`))!;
    expect(own).toContain(`-s ${keep.ips[0]}/32`);
    const chain = /-j (\S+)/.exec(own)![1]!;
    // what a second agent's ADD of the same pod leaves: the same comment and chain, another address
    const rule = ['-s', '10.196.77.250/32', '-m', 'comment', '--comment', `name: "e2gc" id: "${cid}"`, '-j', chain];
    await execa('iptables', ['-t', 'nat', '-A', 'POSTROUTING', ...rule]);
    const reservation = join(sb.root, 'ipam', 'e2gc', '10.196.77.250');
    await writeFile(reservation, `${cid}\r\neth0`);
    try {
      const dry = await sb.run(['gc', '--dry-run', '-o', 'json']);
      expect(dry.exitCode, dry.stderr).toBe(0);
      const listed = (JSON.parse(dry.stdout) as GcJson).orphans.filter((o) => o.kind === 'iptables');
      expect(listed).toHaveLength(1);
      expect(listed[0]!.name).toContain('10.196.77.250/32');
      expect(listed[0]!.reason).toMatch(/second ADD/);
      const ipam = (JSON.parse(dry.stdout) as GcJson).orphans.filter((o) => o.kind === 'ipam');
      expect(ipam.map((o) => o.name)).toEqual([reservation]);
      const gc = await sb.run(['gc']);
      expect(gc.exitCode, `${gc.stdout}\n${gc.stderr}`).toBe(0);
      const nat = await natSave();
      expect(nat).not.toContain('10.196.77.250');
      expect(nat).toContain(own);
      expect(existsSync(reservation)).toBe(false);
      expect(await readdir(join(sb.root, 'ipam', 'e2gc'))).toContain(keep.ips[0]!.split('/')[0]!);
      const k = (await sb.status()).pods.find((p) => p.name === 'keep')!;
      expect(k.apps[0]!.pid).toBe(keep.apps[0]!.pid);
    } finally {
      await execa('iptables', ['-t', 'nat', '-D', 'POSTROUTING', ...rule], { reject: false });
      await rm(reservation, { force: true });
    }
  }, 120_000);

  it('refuses to apply while an agent holds the lock (exit 3); --dry-run still lists', async () => {
    const agent = sb.spawn(['reconcile']);
    try {
      // wait until the agent holds the lock (it writes its pid into the lock file)
      const lockFile = join(sb.root, 'state', 'berth.lock');
      for (let i = 0; i < 300 && (await readFile(lockFile, 'utf8').catch(() => '')).trim() !== String(agent.pid); i++) {
        await new Promise((res) => setTimeout(res, 100));
      }
      const r = await sb.run(['gc']);
      expect(r.exitCode, r.stdout).toBe(3);
      expect(r.stderr).toMatch(/another berth \(pid \d+\) holds .*a running agent collects its own garbage/);
      const dry = await sb.run(['gc', '--dry-run']);
      expect(dry.exitCode, dry.stderr).toBe(0);
      expect(dry.stderr).toMatch(/note: another berth \(pid \d+\) holds .*collects its own garbage/);
    } finally {
      agent.kill('SIGTERM');
      await agent;
    }
  }, 120_000);
});
