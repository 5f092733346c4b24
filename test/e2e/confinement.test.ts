/**
 * Confinement, checked as an attacker would (issue 8): from inside unprivileged apps run by
 * the built CLI, the kernel's dangerous interfaces are closed (seccomp, capabilities, device
 * cgroup), a fork bomb stays inside its pids limit, setuid files written by container root
 * give a host user nothing, runAsNonRoot is enforced and sysctls take effect.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxImage, closeSandbox, createSandbox, isRoot, LOOP, networkYaml, shortId, type Sandbox } from '../helpers/berth-cli.js';
import { buildProbeImage, probeUnavailable } from '../helpers/probe-image.js';

const BRIDGE = 'berth-cf0';
const PIDS_LIMIT = 64;

const unavailable = isRoot ? await probeUnavailable() : 'needs root';

describe.skipIf(unavailable !== undefined)('confinement of unprivileged apps', () => {
  let sb: Sandbox;
  let busybox: string;
  let probe: string;
  const ids = new Set<string>([BRIDGE]);

  const pod = (name: string, image: string, script: string, extra: { spec?: string; container?: string } = {}) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 2
${extra.spec ?? ''}  containers:
    - name: main
      image: ${image}
      command: [sh, -c, ${JSON.stringify(script)}]
${extra.container ?? ''}`;

  const logOf = async (name: string) => (await sb.run(['logs', name])).stdout;
  const podOf = async (name: string) => (await sb.status()).pods.find((p) => p.name === name)!;

  beforeAll(async () => {
    sb = await createSandbox('berth-conf');
    busybox = await buildBusyboxImage(join(sb.root, 'busybox'));
    probe = await buildProbeImage(join(sb.root, 'probe'));
    await sb.writeSpec('00-net.yaml', networkYaml('confnet', BRIDGE, '10.232.0.0/24', join(sb.root, 'ipam')));
    await sb.writeSpec(
      'probe.yaml',
      pod('probe', probe, `/probe all; grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status; echo PROBE-DONE; ${LOOP}`),
    );
    await sb.writeSpec(
      'restricted.yaml',
      pod(
        'restricted',
        busybox,
        `echo uid=$(id -u); grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status; echo pgr=$(cat /proc/sys/net/ipv4/ping_group_range); echo RESTRICTED-DONE; ${LOOP}`,
        {
          spec: `  securityContext:
    runAsNonRoot: true
    runAsUser: 65534
    runAsGroup: 65534
    seccompProfile: {type: RuntimeDefault}
    sysctls: [{name: net.ipv4.ping_group_range, value: "0 2000"}]
`,
          container: `      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {drop: [ALL]}
`,
        },
      ),
    );
    await sb.writeSpec('root.yaml', pod('asroot', busybox, LOOP, { container: '      securityContext: {runAsNonRoot: true}\n' }));
    await sb.writeSpec(
      'bomb.yaml',
      // the inner shell forks until the limit stops it (ash exits when a fork fails); the outer one stays
      pod('bomb', busybox, `sh -c 'while true; do sleep 1000 & done' 2>/dev/null; echo BOMB-DONE; exec sleep 1000000`),
    );
    await sb.writeSpec(
      'suid.yaml',
      pod(
        'suid',
        busybox,
        `cp /bin/busybox /data/sh && chmod 4755 /data/sh && cp /bin/busybox /tmp/sh && chmod 4755 /tmp/sh && grep ' /data ' /proc/mounts; echo SUID-DONE; ${LOOP}`,
        {
          spec: '  volumes: [{name: data, emptyDir: {}}]\n',
          container: '      volumeMounts: [{name: data, mountPath: /data}]\n',
        },
      ),
    );
    await mkdir(join(sb.root, 'config', 'seccomp', 'profiles'), { recursive: true });
    await writeFile(
      join(sb.root, 'config', 'seccomp', 'profiles', 'no-mkdir.json'),
      JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }),
    );
    await sb.writeSpec(
      'localhost.yaml',
      pod('localhost', busybox, `mkdir /tmp/x && echo MKDIR-OK || echo MKDIR-DENIED; ${LOOP}`, {
        container: '      securityContext: {seccompProfile: {type: Localhost, localhostProfile: profiles/no-mkdir.json}}\n',
      }),
    );
    await sb.writeSpec(
      'privileged.yaml',
      pod(
        'privileged',
        busybox,
        `grep -E '^Seccomp:' /proc/self/status; mkdir -p /mnt/t && mount -t tmpfs t /mnt/t && echo MOUNT-OK; grep ' /sys ' /proc/mounts; echo PRIV-DONE; ${LOOP}`,
        {
          container: '      securityContext: {privileged: true}\n',
        },
      ),
    );
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s', '--pids-limit', String(PIDS_LIMIT)]);
    // the root pod never converges: the exit code says some pod failed
    expect([0, 1]).toContain(r.exitCode);
    for (const p of (await sb.status()).pods) if (p.uid) ids.add(shortId(p.uid));
  });

  afterAll(async () => {
    if (!sb) return;
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('closes user namespaces, keyctl, io_uring, perf, vsock, mount, mknod, modules, sethostname (Seccomp 2)', async () => {
    const log = await logOf('probe');
    expect(log).toContain('PROBE-DONE');
    for (const name of [
      'unshare-user',
      'clone-newuser',
      'keyctl',
      'add_key',
      'io_uring_setup',
      'perf_event_open',
      'socket-vsock',
      'mount-tmpfs',
      'mknod-open',
      'init_module',
      'finit_module',
      'sethostname',
      'bpf',
    ]) {
      expect(log, name).toMatch(new RegExp(`^${name} errno=`, 'm'));
    }
    expect(log).toMatch(/^clone3 errno=ENOSYS/m);
    for (const name of ['fork', 'exec', 'socket-inet']) expect(log, name).toMatch(new RegExp(`^${name} ok`, 'm'));
    expect(log).toMatch(/^Seccomp:\s+2$/m);
  });

  it('runs a Pod of the restricted Pod Security Standard as its user, with its sysctl', async () => {
    expect(await podOf('restricted')).toMatchObject({ status: 'Running' });
    const log = await logOf('restricted');
    expect(log).toContain('uid=65534');
    expect(log).toMatch(/^Seccomp:\s+2$/m);
    expect(log).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(log).toMatch(/^CapEff:\s+0+$/m);
    expect(log).toMatch(/pgr=0\s+2000/);
  });

  it('applies a Localhost seccomp profile from <config-dir>/seccomp', async () => {
    expect(await logOf('localhost')).toContain('MKDIR-DENIED');
  });

  it('gives privileged apps what privileged means: no seccomp, mount, writable /sys', async () => {
    const log = await logOf('privileged');
    expect(log).toContain('PRIV-DONE');
    expect(log).toMatch(/^Seccomp:\s+0$/m);
    expect(log).toContain('MOUNT-OK');
    expect(log).toMatch(/ \/sys sysfs rw/);
  });

  it('refuses runAsNonRoot with a root image, with the kubelet reason and message', async () => {
    const p = await podOf('asroot');
    expect(p.status).not.toBe('Running');
    expect(p.apps[0]?.state).not.toBe('running');
    expect(JSON.stringify(p)).toContain('container has runAsNonRoot and image will run as root');
    expect(JSON.stringify(p)).toContain('CreateContainerConfigError');
  });

  it('keeps a fork bomb inside its pids limit; the other pods and the agent stay responsive', async () => {
    expect(await logOf('bomb')).toContain('BOMB-DONE');
    const p = await podOf('bomb');
    const cid = `berth-${shortId(p.uid!)}-main`;
    // the pids controller: a v1 hierarchy of its own, or the v2 unified one
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n');
    const cg = (mounts.find((l) => / - cgroup cgroup \S*\bpids\b/.test(l)) ?? mounts.find((l) => / - cgroup2 /.test(l)))?.split(' ')[4];
    expect(cg, 'a pids cgroup hierarchy').toBeTruthy();
    const dir = join(cg!, 'berth', cid);
    expect((await readFile(join(dir, 'pids.max'), 'utf8')).trim()).toBe(String(PIDS_LIMIT));
    expect(Number((await readFile(join(dir, 'pids.current'), 'utf8')).trim())).toBeLessThanOrEqual(PIDS_LIMIT);
    expect(await podOf('restricted')).toMatchObject({ status: 'Running' });
  });

  it('gives a host user nothing from setuid files container root wrote (private state, nosuid volumes)', async () => {
    const log = await logOf('suid');
    expect(log).toContain('SUID-DONE');
    expect(log).toMatch(/ \/data \S+ \S*nosuid/);
    expect(log).toMatch(/ \/data \S+ \S*nodev/);
    const p = await podOf('suid');
    const state = join(sb.root, 'state');
    expect((await stat(state)).mode & 0o777).toBe(0o711);
    expect((await stat(join(state, 'pods'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(state, 'pods', p.uid!))).mode & 0o777).toBe(0o700);
    const found = await execa('find', [join(state, 'pods', p.uid!), '-xdev', '-name', 'sh', '-perm', '-4000', '-type', 'f']);
    const files = found.stdout.split('\n').filter(Boolean);
    expect(files.length, 'the setuid copies in the emptyDir and the upper dir').toBeGreaterThanOrEqual(2);
    for (const f of files) {
      // through a shell: setpriv itself would open the file before it drops root
      const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', '/bin/sh', '-c', '"$0" id -u', f], {
        reject: false,
      });
      expect(r.exitCode, `${f} ran: ${r.stdout}`).not.toBe(0);
      expect(r.stderr).toMatch(/Permission denied/);
    }
  });
});
