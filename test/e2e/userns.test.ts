/**
 * `hostUsers: false` (issue 9 item 6, KEP-127) with the built CLI, crun and conmon: each pod
 * runs in a user namespace of its own with a 65536-ID range of host IDs. Inside, the app is
 * root and its image and volumes are root's (idmapped); on the host its process and the files
 * it writes to its rootfs belong to the pod's range, and its volume files keep the IDs they
 * have in the app (the kubelet's idmapped volumes). Two pods get disjoint ranges, a new agent
 * keeps them, the pod's root has its network capabilities over its own network only, runc is
 * refused with the reason, and nothing is left after the teardown.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI,
  closeSandbox,
  createSandbox,
  isRoot,
  LOOP,
  networkYaml,
  shortId,
  type Sandbox,
  type StatusJson,
} from '../helpers/berth-cli.js';
import { mountsAtOrBelow } from '../../src/runtime/volume-paths.js';

const BRIDGE = 'berth-usrns0';
const IMAGE = 'oci:/opt/berth/images/busybox:latest';

const podYaml = (name: string, extra = '', securityContext = '') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  hostUsers: false
  terminationGracePeriodSeconds: 2
${extra}  volumes: [{name: data, emptyDir: {}}]
  containers:
    - name: app
      image: ${IMAGE}
      command: [sh, -c, ${JSON.stringify(`echo from-app > /in-rootfs; nc -l -p 80 & ${LOOP}`)}]
      volumeMounts: [{name: data, mountPath: /data}]
${securityContext ? `      securityContext: ${securityContext}\n` : ''}`;

interface Range {
  hostId: number;
  length: number;
}

describe.skipIf(!isRoot)('hostUsers: false: a user namespace per pod', () => {
  let sb: Sandbox;
  const ids = new Set<string>([BRIDGE]);

  beforeAll(async () => {
    sb = await createSandbox('berth-userns');
    await sb.writeSpec('00-net.yaml', networkYaml('usernsnet', BRIDGE, '10.248.0.0/16', join(sb.root, 'ipam')));
    await sb.writeSpec('a.yaml', podYaml('userns-a'));
    await sb.writeSpec('b.yaml', podYaml('userns-b', '', '{procMount: Unmasked}'));
    const r = await sb.run(['reconcile', '--once', '--timeout', '90s']);
    expect(r.exitCode, r.stderr.slice(-2000)).toBe(0);
  }, 180_000);

  afterAll(async () => {
    for (const p of (await sb.status().catch(() => ({ pods: [] }) as StatusJson)).pods) if (p.uid) ids.add(shortId(p.uid));
    const root = sb.root;
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
    expect(await mountsAtOrBelow(root)).toEqual([]);
  }, 120_000);

  const pod = async (name: string) => (await sb.status()).pods.find((p) => p.name === name)!;
  const exec = async (name: string, ...argv: string[]) => {
    const r = await execa('node', [CLI, ...sb.args, 'exec', name, '--', ...argv], { reject: false, stdin: 'ignore', timeout: 60_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    return r.stdout;
  };
  const rangeOf = async (uid: string): Promise<Range> => {
    const f = JSON.parse(await readFile(join(sb.root, 'state', 'pods', uid, 'userns'), 'utf8')) as {
      uidMappings: Range[];
      gidMappings: Range[];
    };
    expect(f.gidMappings).toEqual(f.uidMappings);
    return f.uidMappings[0]!;
  };
  const procIds = async (pid: number) => {
    const s = await readFile(`/proc/${pid}/status`, 'utf8');
    return { uid: Number(/^Uid:\s+(\d+)/m.exec(s)![1]), gid: Number(/^Gid:\s+(\d+)/m.exec(s)![1]) };
  };

  it("runs the app as root inside, mapped to the pod's own range of host IDs", async () => {
    const a = await pod('userns-a');
    expect(a.status).toBe('Running');
    const range = await rangeOf(a.uid!);
    expect(range.length).toBe(65536);
    expect(range.hostId % 65536).toBe(0);
    expect(range.hostId).toBeGreaterThanOrEqual(65536);
    expect(await exec('userns-a', 'id')).toMatch(/^uid=0\(root\) gid=0\(root\)/);
    expect((await exec('userns-a', 'cat', '/proc/self/uid_map')).trim().split(/\s+/).map(Number)).toEqual([0, range.hostId, 65536]);
    expect((await exec('userns-a', 'cat', '/proc/self/gid_map')).trim().split(/\s+/).map(Number)).toEqual([0, range.hostId, 65536]);
    // the image's files are root's inside (an idmapped view of the image tree under the overlay)
    expect(await exec('userns-a', 'stat', '-c', '%u:%g', '/bin/busybox', '/')).toBe('0:0\n0:0');
    // seen from the host, the app's process runs as the mapped IDs, not as root
    const pid = a.apps[0]!.pid!;
    expect(await procIds(pid)).toEqual({ uid: range.hostId, gid: range.hostId });
  });

  it('writes the rootfs as the mapped host UID, and the emptyDir with the IDs it has inside (idmapped, as the kubelet mounts volumes)', async () => {
    const a = await pod('userns-a');
    const range = await rangeOf(a.uid!);
    const podDir = join(sb.root, 'state', 'pods', a.uid!);
    const upper = await stat(join(podDir, 'apps', 'app', 'exec-0', 'upper', 'in-rootfs'));
    expect([upper.uid, upper.gid]).toEqual([range.hostId, range.hostId]);
    await exec('userns-a', 'sh', '-c', 'echo hi > /data/f && chown 1000:1000 /data/f && echo ok > /data/root-f');
    expect(await exec('userns-a', 'stat', '-c', '%u:%g', '/data/f', '/data/root-f')).toBe('1000:1000\n0:0');
    const onHost = await stat(join(podDir, 'volumes', 'data', 'f'));
    expect([onHost.uid, onHost.gid]).toEqual([1000, 1000]);
    expect((await stat(join(podDir, 'volumes', 'data', 'root-f'))).uid).toBe(0);
  });

  it('gives two pods disjoint ranges', async () => {
    const [a, b] = [await pod('userns-a'), await pod('userns-b')];
    const [ra, rb] = [await rangeOf(a.uid!), await rangeOf(b.uid!)];
    expect(ra.hostId + ra.length <= rb.hostId || rb.hostId + rb.length <= ra.hostId).toBe(true);
    expect((await procIds(b.apps[0]!.pid!)).uid).toBe(rb.hostId);
  });

  it('masks /proc in the app, unless its procMount is Unmasked (allowed in a user namespace only)', async () => {
    // masked and read-only paths are mounts over /proc's files
    const masks = "grep -cE ' /proc/(kcore|keys|sys) ' /proc/self/mountinfo || true";
    expect(Number(await exec('userns-a', 'sh', '-c', masks))).toBeGreaterThan(0);
    expect(await exec('userns-b', 'sh', '-c', masks)).toBe('0');
  });

  it("has the network namespace owned by the pod's user namespace: its root binds port 80, has no CAP_NET_ADMIN it was not given", async () => {
    const a = await pod('userns-a');
    const ss = await execa('ip', ['netns', 'exec', a.netns!.split('/').pop()!, 'ss', '-ltn']);
    expect(ss.stdout).toMatch(/:80\b/);
    const r = await execa('node', [CLI, ...sb.args, 'exec', 'userns-a', '--', 'ip', 'link', 'set', 'lo', 'down'], {
      reject: false,
      stdin: 'ignore',
    });
    expect(r.exitCode).not.toBe(0);
  });

  it('keeps the ranges and the running apps across an agent restart', async () => {
    const before = await Promise.all(
      ['userns-a', 'userns-b'].map(async (n) => ({ p: await pod(n), r: await rangeOf((await pod(n)).uid!) })),
    );
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(r.exitCode, r.stderr.slice(-2000)).toBe(0);
    for (const { p, r: range } of before) {
      const now = await pod(p.name);
      expect(now.apps[0]!.pid).toBe(p.apps[0]!.pid);
      expect(now.restarts).toBe(0);
      expect(await rangeOf(now.uid!)).toEqual(range);
    }
  });

  it('refuses hostUsers: false with runc, saying why', async () => {
    const other = await createSandbox('berth-userns-runc');
    const own = new Set<string>(['berth-usrns1']);
    try {
      await other.writeSpec('00-net.yaml', networkYaml('usernsnet2', 'berth-usrns1', '10.249.0.0/16', join(other.root, 'ipam')));
      await other.writeSpec('c.yaml', podYaml('userns-c'));
      const r = await other.run(['reconcile', '--once', '--timeout', '20s', '--runtime', 'runc']);
      expect(r.exitCode).not.toBe(0);
      const c = (await other.status()).pods.find((p) => p.name === 'userns-c')!;
      if (c.uid) own.add(shortId(c.uid));
      expect(JSON.stringify(c)).toMatch(
        /hostUsers: false is not supported by berth: the OCI runtime runc version \S+ makes no idmapped mounts/,
      );
      expect(c.apps[0]?.pid ?? null).toBeNull();
    } finally {
      const { code, leaks } = await closeSandbox(other, own);
      expect(code).toBe(0);
      expect(leaks).toEqual([]);
    }
  }, 120_000);
});
