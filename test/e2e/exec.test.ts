/**
 * `berth exec` with the built CLI and a real pod (issue 9 item 8): the command sees the pod's
 * hostname, IP and root filesystem, the same /proc/self/status capability, seccomp and
 * no_new_privs lines as the app; exit codes pass through; -i passes stdin; -t gives a terminal;
 * without -c a multi-app pod prints kubectl's "Defaulted container" notice.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildBusyboxImage,
  CLI,
  closeSandbox,
  createSandbox,
  isRoot,
  LOOP,
  networkYaml,
  shortId,
  type Sandbox,
} from '../helpers/berth-cli.js';

const BRIDGE = 'berth-ex0';
const LINES = /^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters|Uid|Gid):.*$/gm;

describe.skipIf(!isRoot)('berth exec', () => {
  let sb: Sandbox;
  const ids = new Set<string>([BRIDGE]);

  // global options first: everything after `--` is the command
  const ex = async (args: string[], input?: string) => {
    const r = await execa('node', [CLI, ...sb.args, 'exec', ...args], {
      reject: false,
      timeout: 60_000,
      ...(input !== undefined ? { input } : { stdin: 'ignore' }),
    });
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(async () => {
    sb = await createSandbox('berth-exec');
    const busybox = await buildBusyboxImage(join(sb.root, 'busybox'));
    await sb.writeSpec('00-net.yaml', networkYaml('execnet', BRIDGE, '10.233.0.0/24', join(sb.root, 'ipam')));
    await sb.writeSpec(
      'two.yaml',
      `apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  terminationGracePeriodSeconds: 2
  securityContext:
    runAsUser: 65534
    runAsGroup: 65534
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: main
      image: ${busybox}
      command: [sh, -c, ${JSON.stringify(`echo rootfs-of-main > /tmp/marker; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters|Uid|Gid):' /proc/self/status; echo MAIN-READY; ${LOOP}`)}]
      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
    - name: side
      image: ${busybox}
      command: [sh, -c, ${JSON.stringify(LOOP)}]
`,
    );
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(r.exitCode, r.stderr).toBe(0);
    for (const p of (await sb.status()).pods) if (p.uid) ids.add(shortId(p.uid));
  });

  afterAll(async () => {
    if (!sb) return;
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('runs in the pod: hostname, IP, root filesystem; the Defaulted container notice without -c', async () => {
    const pod = (await sb.status()).pods.find((p) => p.name === 'two')!;
    const ip = pod.ips[0]!;
    const r = await ex(['two', '--', 'sh', '-c', 'hostname; ip -o -4 addr show eth0; cat /tmp/marker']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('Defaulted container "main" out of: main, side');
    const [hostname, addr, marker] = r.stdout.split('\n');
    expect(hostname).toBe('two');
    expect(addr).toContain(`inet ${ip}/`);
    expect(marker).toBe('rootfs-of-main');
    const side = await ex(['two', '-c', 'side', '--', 'cat', '/tmp/marker']);
    expect(side.exitCode).not.toBe(0); // its own root filesystem
    expect(side.stderr).not.toContain('Defaulted container');
  });

  it('has the same capability, seccomp and no_new_privs lines as the app', async () => {
    const log = (await sb.run(['logs', 'two', '-c', 'main'])).stdout;
    const app = log.match(LINES);
    expect(app).not.toBeNull();
    const r = await ex(['two', '-c', 'main', '--', 'cat', '/proc/self/status']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.match(LINES)).toEqual(app);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(r.stdout).toMatch(/^CapEff:\s+0+$/m);
  });

  it('passes the exit code through, stdin with -i, a terminal with -t', async () => {
    expect((await ex(['two', '-c', 'main', '--', 'sh', '-c', 'exit 7'])).exitCode).toBe(7);
    const i = await ex(['-i', 'two', '-c', 'main', '--', 'cat'], 'hello from stdin\n');
    expect(i.stdout).toBe('hello from stdin');
    const noI = await ex(['two', '-c', 'main', '--', 'cat'], 'ignored\n');
    expect(noI.stdout).toBe('');
    // a terminal around berth, as a user's shell has one: script(1) runs it on a pty
    const line = ['node', CLI, ...sb.args, 'exec', '-it', 'two', '-c', 'main', '--', 'sh', '-c', 'tty; exit 3']
      .map((a) => `'${a}'`)
      .join(' ');
    const t = await execa('script', ['-qec', line, '/dev/null'], { reject: false, stdin: 'ignore', timeout: 60_000 });
    expect(t.stdout, t.stderr).toMatch(/\/dev\/pts\/\d+/);
    expect(t.exitCode).toBe(3);
    const noT = await ex(['two', '-c', 'main', '--', 'tty']);
    expect(noT.stdout).toContain('not a tty');
    const notTerminal = await ex(['-t', 'two', '-c', 'main', '--', 'tty']);
    expect(notTerminal.stderr).toContain('Unable to use a TTY - input is not a terminal or the right kind of file');
    expect(notTerminal.stdout).toContain('not a tty');
  });

  it('refuses an unknown app and a pod that does not exist', async () => {
    const r = await ex(['two', '-c', 'nope', '--', 'true']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('container nope not found in pod default/two');
    expect((await ex(['ghost', '--', 'true'])).stderr).toContain('pod default/ghost not found');
  });
});
