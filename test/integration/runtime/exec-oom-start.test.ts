/**
 * Contract C1 against real crun + conmon: exec runs as confined as the app (same
 * /proc/self/status capability, seccomp and no_new_privs lines, same user, cwd, env, namespaces),
 * a timeout kills only the exec'd process, output is capped; stop honours a stop signal;
 * an OOM-killed app reports reason OOMKilled; an entrypoint that cannot be executed is a
 * StartError.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXEC_OUTPUT_CAP } from '../../../src/runtime/types.js';
import { closeRuntimeSandbox, makeLaunch, openRuntimeSandbox, type RuntimeSandbox } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const PREFIX = 'berth-texec';

const STATUS_LINES = /^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters|Uid|Gid|Groups):.*$/gm;

describe.skipIf(!isRoot)('runtime exec, stop signal, OOMKilled, StartError', () => {
  let sb: RuntimeSandbox | undefined;

  beforeAll(async () => {
    sb = await openRuntimeSandbox(PREFIX);
    await writeFile(join(sb.lower, 'etc/not-executable'), 'x\n');
    await chmod(join(sb.lower, 'etc/not-executable'), 0o644);
    await chmod(join(sb.lower, 'tmp'), 0o1777);
  });

  afterAll(async () => {
    expect(await closeRuntimeSandbox(sb, PREFIX)).toBe(0);
  });

  const launch = (what: string, command: string[], edit?: (c: Record<string, unknown>) => void) => {
    const l = makeLaunch({ tmp: sb!.tmp, lower: sb!.lower, id: `${PREFIX}-${what}`, command });
    if (edit) edit(l.container as unknown as Record<string, unknown>);
    return l;
  };

  it('exec runs with the app own confinement, cwd, env and namespaces', async () => {
    const l = launch(
      'conf',
      [
        'sh',
        '-c',
        'cat /proc/self/status > /tmp/app-status; for n in pid mnt uts; do readlink /proc/self/ns/$n; done > /tmp/app-ns; exec sleep 1000',
      ],
      (c) => {
        c.workingDir = '/tmp';
        c.env = [{ name: 'APPVAR', value: 'v1' }];
        c.securityContext = {
          runAsUser: 65534,
          runAsGroup: 65534,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
        };
      },
    );
    try {
      await sb!.rt.start(l);
      let app = '';
      for (let i = 0; i < 100 && !app.includes('Seccomp'); i++) {
        app = await readFile(join(l.bundleDir, 'rootfs/tmp/app-status'), 'utf8').catch(() => '');
        if (!app.includes('Seccomp')) await new Promise((r) => setTimeout(r, 50));
      }
      const r = await sb!.rt.exec(
        l.containerId,
        [
          'sh',
          '-c',
          'cat /proc/self/status; echo "cwd=$(pwd) var=$APPVAR extra=$EXTRA"; for n in pid mnt uts; do readlink /proc/self/ns/$n; done',
        ],
        { env: ['EXTRA=e1'] },
      );
      expect(r).toMatchObject({ exitCode: 0, timedOut: false, stderr: '' });
      expect(r.stdout.match(STATUS_LINES)).toEqual(app.match(STATUS_LINES));
      expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
      expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
      expect(r.stdout).toMatch(/^Uid:\s+65534\s/m);
      expect(r.stdout).toContain('cwd=/tmp var=v1 extra=e1');
      const ns = (await readFile(join(l.bundleDir, 'rootfs/tmp/app-ns'), 'utf8')).trim();
      expect(r.stdout.trim().endsWith(ns)).toBe(true);
    } finally {
      await sb!.rt.remove(l.containerId).catch(() => undefined);
    }
  });

  it('exec passes the exit code through, caps the output and kills only the exec process on timeout', async () => {
    const l = launch('timeout', ['sleep', '1000']);
    try {
      await sb!.rt.start(l);
      expect((await sb!.rt.exec(l.containerId, ['sh', '-c', 'exit 7'])).exitCode).toBe(7);
      const big = await sb!.rt.exec(l.containerId, ['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo 0123456789; i=$((i+1)); done']);
      expect(big.exitCode).toBe(0);
      expect(big.stdout.length).toBe(EXEC_OUTPUT_CAP);
      const slow = await sb!.rt.exec(l.containerId, ['sh', '-c', 'echo started; exec sleep 1000'], { timeoutMs: 500 });
      expect(slow.timedOut).toBe(true);
      expect(slow.stdout).toBe('started\n');
      expect((await sb!.rt.status(l.containerId)).state).toBe('running');
      const ps = await sb!.rt.exec(l.containerId, ['ps', '-o', 'args']);
      expect(ps.stdout).not.toContain('sleep 1000\nsleep 1000'); // the timed-out one is gone
      expect(ps.stdout.split('\n').filter((x) => x.trim() === 'sleep 1000')).toHaveLength(1);
      const missing = await sb!.rt.exec(l.containerId, ['/no/such/binary']);
      expect(missing.exitCode).not.toBe(0);
    } finally {
      await sb!.rt.remove(l.containerId).catch(() => undefined);
    }
  });

  it('exec of an app that is not running is FailedPrecondition', async () => {
    await expect(sb!.rt.exec(`${PREFIX}-nothere`, ['true'])).rejects.toMatchObject({ code: 'FailedPrecondition' });
  });

  it('stop sends the given stop signal', async () => {
    const l = launch('stopsig', ['sh', '-c', 'trap "echo got-usr1; exit 3" USR1; trap "" TERM; while true; do sleep 0.1; done']);
    try {
      await sb!.rt.start(l);
      await new Promise((r) => setTimeout(r, 300));
      await sb!.rt.stop(l.containerId, 20_000, undefined, { stopSignal: 'SIGUSR1' });
      expect((await sb!.rt.waitExit(l.containerId)).exitCode).toBe(3);
      expect(await readFile(l.logPath, 'utf8')).toContain('got-usr1');
    } finally {
      await sb!.rt.remove(l.containerId).catch(() => undefined);
    }
  });

  it('an app killed by the OOM killer exits with reason OOMKilled; a plain exit has none', async () => {
    const l = launch('oom', ['sh', '-c', 'x=0123456789abcdef; while true; do x="$x$x"; done'], (c) => {
      c.resources = { limits: { memory: '16Mi' } };
    });
    const ok = launch('nooom', ['sh', '-c', 'exit 0']);
    try {
      await sb!.rt.start(l);
      const exit = await sb!.rt.waitExit(l.containerId);
      expect(exit).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
      expect(await sb!.rt.status(l.containerId)).toMatchObject({ state: 'exited', exitCode: 137, reason: 'OOMKilled' });
      await sb!.rt.start(ok);
      const e2 = await sb!.rt.waitExit(ok.containerId);
      expect(e2.exitCode).toBe(0);
      expect(e2.reason).toBeUndefined();
    } finally {
      await sb!.rt.remove(l.containerId).catch(() => undefined);
      await sb!.rt.remove(ok.containerId).catch(() => undefined);
    }
  });

  it.each([
    ['missing', ['/no/such/entrypoint'], undefined],
    ['notexec', ['/etc/not-executable'], undefined],
    ['badcwd', ['sleep', '1'], '/etc/passwd'],
  ] as const)('a start that cannot execute the app (%s) is a StartError', async (what, command, cwd) => {
    const l = launch(`se-${what}`, [...command], (c) => {
      if (cwd) c.workingDir = cwd;
    });
    try {
      const err = await sb!.rt.start(l).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'FailedPrecondition', details: { reason: 'StartError' } });
    } finally {
      await sb!.rt.remove(l.containerId).catch(() => undefined);
    }
  });
});
