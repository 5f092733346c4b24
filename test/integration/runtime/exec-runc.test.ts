/** Contract C1 with runc instead of crun: exec confinement and timeout, StartError, OOMKilled. */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConmonRuntime, findExecutable, resolveOciRuntime } from '../../../src/runtime/index.js';
import { buildBusyboxRootfs, makeLaunch } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const hasRunc = (await findExecutable('runc')) !== undefined;
const PREFIX = 'berth-texrc';
const LINES = /^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters|Uid|Gid):.*$/gm;

describe.skipIf(!isRoot || !hasRunc)('runtime exec with runc', () => {
  let tmp = '';
  let lower = '';
  let rt: ConmonRuntime;
  beforeAll(async () => {
    tmp = await mkdtemp(`/tmp/${PREFIX}-`);
    lower = join(tmp, 'lower');
    await buildBusyboxRootfs(lower);
    const runDir = join(tmp, 'run');
    rt = new ConmonRuntime({ runDir, ociRuntime: await resolveOciRuntime({ name: 'runc', runDir }), cgroupParent: PREFIX });
  });
  afterAll(async () => {
    for (const id of await rt.list(PREFIX)) await rt.remove(id).catch(() => undefined);
    await rt.pruneCgroupParent();
    await rm(tmp, { recursive: true, force: true });
    expect(
      Number(
        spawnSync('sh', ['-c', `ps -eo args= | grep -c '[c]onmon.*${PREFIX}'`])
          .stdout.toString()
          .trim(),
      ),
    ).toBe(0);
  });

  it('exec has the app lines, a timeout kills only the exec process', async () => {
    const l = makeLaunch({
      tmp,
      lower,
      id: `${PREFIX}-a`,
      command: [
        'sh',
        '-c',
        "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters|Uid|Gid):' /proc/self/status; exec sleep 1000",
      ],
    });
    (l.container as { securityContext?: unknown }).securityContext = {
      runAsUser: 65534,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    };
    try {
      await rt.start(l);
      const r = await rt.exec(l.containerId, ['cat', '/proc/self/status']);
      expect(r.exitCode).toBe(0);
      let log = '';
      for (let i = 0; i < 50 && !log.match(LINES)?.length; i++) {
        log = spawnSync('cat', [l.logPath])
          .stdout.toString()
          .replace(/^\S+ stdout F /gm, '');
        await new Promise((res) => setTimeout(res, 50));
      }
      expect(r.stdout.match(LINES)).toEqual(log.match(LINES));
      const t = await rt.exec(l.containerId, ['sleep', '100'], { timeoutMs: 300 });
      expect(t.timedOut).toBe(true);
      expect((await rt.status(l.containerId)).state).toBe('running');
    } finally {
      await rt.remove(l.containerId).catch(() => undefined);
    }
  });

  it('StartError for a missing entrypoint and a cwd that is a file', async () => {
    for (const [what, cmd, cwd] of [
      ['missing', ['/no/such'], undefined],
      ['cwd', ['true'], '/etc/passwd'],
    ] as const) {
      const l = makeLaunch({ tmp, lower, id: `${PREFIX}-${what}`, command: [...cmd] });
      if (cwd) (l.container as { workingDir?: string }).workingDir = cwd;
      await expect(rt.start(l)).rejects.toMatchObject({ code: 'FailedPrecondition', details: { reason: 'StartError' } });
    }
  });

  it('OOMKilled', async () => {
    const l = makeLaunch({ tmp, lower, id: `${PREFIX}-oom`, command: ['sh', '-c', 'x=0123456789abcdef; while true; do x="$x$x"; done'] });
    (l.container as { resources?: unknown }).resources = { limits: { memory: '16Mi' } };
    try {
      await rt.start(l);
      expect(await rt.waitExit(l.containerId)).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
    } finally {
      await rt.remove(l.containerId).catch(() => undefined);
    }
  });
});
