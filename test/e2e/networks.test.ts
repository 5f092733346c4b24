/**
 * Several networks per pod end to end (issue 5): a pod on two networks (the
 * k8s.v1.cni.cncf.io/networks annotation: eth0 and net1) reaches a pod on each of them through
 * the right interface, `berth net ls` shows the networks and attachments, and the daemon's
 * periodic CHECK leaves healthy pods alone and repairs a broken attachment.
 * Host objects are named berth-e2n…; subnets 10.198.100.0/24 and 10.197.100.0/24; no gateway,
 * no masquerading: traffic stays between the pods' namespaces.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxImage, closeSandbox, createSandbox, isRoot, LOOP, podYaml, shortId, type Sandbox } from '../helpers/berth-cli.js';

const BR_A = 'berth-e2na';
const BR_B = 'berth-e2nb';

const net = (name: string, bridge: string, subnet: string, dataDir: string) => `apiVersion: berth.dev/v1
kind: Network
metadata: {name: ${name}}
spec:
  cniVersion: "1.0.0"
  plugins:
    - type: bridge
      bridge: ${bridge}
      ipam: {type: host-local, dataDir: ${dataDir}, ranges: [[{subnet: ${subnet}}]]}
    - {type: portmap, capabilities: {portMappings: true}}
`;

describe.skipIf(!isRoot)('pods on several networks', () => {
  let sb: Sandbox;
  let image: string;
  const ids = new Set<string>([BR_A, BR_B]);
  const pod = (name: string, networks: string) =>
    podYaml(name, image, [{ name: 'main', script: LOOP }]).replace(
      `metadata: {name: ${name}}`,
      `metadata:\n  name: ${name}\n  annotations:\n    k8s.v1.cni.cncf.io/networks: ${JSON.stringify(networks)}`,
    );
  const nsOf = (p: { netns: string | null }) => p.netns!.split('/').pop()!;
  const ping = (ns: string, iface: string, ip: string) =>
    execa('ip', ['netns', 'exec', ns, '/bin/busybox', 'ping', '-I', iface, '-c', '1', '-W', '2', ip.split('/')[0]!], { reject: false });

  beforeAll(async () => {
    sb = await createSandbox('berth-e2n');
    image = await buildBusyboxImage(join(sb.root, 'image'));
    await sb.writeSpec(
      '00-nets.yaml',
      `${net('e2na', BR_A, '10.198.100.0/24', join(sb.root, 'ipam'))}---\n${net('e2nb', BR_B, '10.197.100.0/24', join(sb.root, 'ipam'))}`,
    );
    await sb.writeSpec('multi.yaml', pod('multi', 'e2na, e2nb'));
    await sb.writeSpec('peer-a.yaml', pod('peer-a', 'e2na'));
    await sb.writeSpec('peer-b.yaml', pod('peer-b', 'e2nb'));
  });

  afterAll(async () => {
    const { code, leaks } = await closeSandbox(sb, ids);
    for (const br of [BR_A, BR_B]) await execa('ip', ['link', 'del', br], { reject: false });
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('a pod on two networks reaches a pod on each through the right interface; net ls shows them', async () => {
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(r.exitCode, r.stderr).toBe(0);
    const st = await sb.status();
    for (const p of st.pods) if (p.uid) ids.add(shortId(p.uid));
    const multi = st.pods.find((p) => p.name === 'multi')!;
    const a = st.pods.find((p) => p.name === 'peer-a')!;
    const b = st.pods.find((p) => p.name === 'peer-b')!;
    expect(multi).toMatchObject({ status: 'Running' });
    expect(multi.networks).toEqual([
      { name: 'e2na', interface: 'eth0', ips: [expect.stringMatching(/^10\.198\.100\.\d+\/24$/)] },
      { name: 'e2nb', interface: 'net1', ips: [expect.stringMatching(/^10\.197\.100\.\d+\/24$/)] },
    ]);
    const ns = nsOf(multi);
    expect(await execa('ip', ['-n', ns, '-o', '-4', 'addr', 'show', 'net1']).then((x) => x.stdout)).toContain(multi.networks[1]!.ips[0]!);
    const toA = await ping(ns, 'eth0', a.ips[0]!);
    expect(toA.exitCode, toA.stdout + toA.stderr).toBe(0);
    const toB = await ping(ns, 'net1', b.ips[0]!);
    expect(toB.exitCode, toB.stdout + toB.stderr).toBe(0);
    // and not through the wrong one: each interface only has its own subnet
    expect((await ping(ns, 'eth0', b.ips[0]!)).exitCode).not.toBe(0);
    expect((await ping(ns, 'net1', a.ips[0]!)).exitCode).not.toBe(0);

    const ls = await sb.run(['net', 'ls']);
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/^e2na\s+1\.0\.0\s+bridge@1\.0\.0,portmap@1\.0\.0\s+2\s+not supported by plugin bridge, portmap/m);
    expect(ls.stdout).toMatch(/^e2nb\s+1\.0\.0\s+bridge@1\.0\.0,portmap@1\.0\.0\s+2\s/m);
    const json = JSON.parse((await sb.run(['net', 'inspect', 'e2nb', '-o', 'json'])).stdout) as {
      attachments: Array<{ pod: string; containerId: string; ifName: string; ips: string[] }>;
    };
    expect(json.attachments.map((x) => `${x.pod} ${x.ifName} ${x.ips.join(',')}`).sort()).toEqual(
      [`default/multi net1 ${multi.networks[1]!.ips[0]}`, `default/peer-b eth0 ${b.networks[0]!.ips[0]}`].sort(),
    );
  });

  it('daemon: periodic CHECK leaves healthy pods alone and repairs a deleted veth (DEL + ADD, event recorded)', async () => {
    const daemon = sb.spawn(['reconcile', '--cni-check', '1s', '--resync', '1h']);
    let out = '';
    daemon.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const waitFor = async (re: RegExp, ms: number) => {
      const end = Date.now() + ms;
      while (!re.test(out) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      return re.test(out);
    };
    try {
      expect(await waitFor(/watching for changes/, 30_000)).toBe(true);
      await new Promise((r) => setTimeout(r, 3500)); // three CHECK rounds
      expect(out).not.toMatch(/cni check failed|attachment repaired/);

      const st = await sb.status();
      const a = st.pods.find((p) => p.name === 'peer-a')!;
      const multi = st.pods.find((p) => p.name === 'multi')!;
      // break peer-a: delete its veth on the host side of bridge A
      const port = (await execa('ip', ['-o', 'link', 'show', 'master', BR_A])).stdout
        .split('\n')
        .find((l) => l.includes(`link-netns ${nsOf(a)}`));
      expect(port).toBeDefined();
      await execa('ip', ['link', 'del', port!.split(': ')[1]!.split('@')[0]!]);
      expect(await waitFor(/attachment repaired/, 15_000)).toBe(true);
      const lines = out
        .split('\n')
        .filter((l) => /cni check failed|attachment repaired/.test(l))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.every((l) => l.podName === 'default/peer-a' && l.network === 'e2na' && l.interface === 'eth0')).toBe(true);
      // The event is written to the pod's events file just after the log line: wait for the write.
      type EventsFile = { events?: Array<{ reason: string; message: string }> };
      const readEvents = async () =>
        (JSON.parse(await readFile(join(sb.root, 'state', 'events', `${a.uid!}.json`), 'utf8').catch(() => '{}')) as EventsFile).events ??
        [];
      const repaired = async () => (await readEvents()).filter((e) => e.reason === 'NetworkRepaired');
      for (let end = Date.now() + 5000; !(await repaired()).length && Date.now() < end;) await new Promise((r) => setTimeout(r, 100));
      expect(await repaired()).toEqual([
        expect.objectContaining({ reason: 'NetworkRepaired', message: expect.stringContaining('network e2na') }),
      ]);
      // reachable again, and the repair round after is quiet
      const ip = (await execa('ip', ['-n', nsOf(a), '-o', '-4', 'addr', 'show', 'eth0'])).stdout.match(/inet (\S+)/)?.[1];
      expect(ip).toBeDefined();
      const again = await ping(nsOf(multi), 'eth0', ip!);
      expect(again.exitCode, again.stdout + again.stderr).toBe(0);
      const before = out.match(/attachment repaired/g)?.length ?? 0;
      await new Promise((r) => setTimeout(r, 2500));
      expect(out.match(/attachment repaired/g)?.length ?? 0).toBe(before);
    } finally {
      daemon.kill('SIGTERM');
      await daemon;
    }
  });
});
