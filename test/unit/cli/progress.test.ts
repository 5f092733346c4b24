import { beforeAll, describe, expect, it } from 'vitest';
import { loadHumanLines } from '../../../src/cli/log-format.js';
import { ProgressModel, TtyProgress } from '../../../src/cli/progress.js';

// the TTY display formats log lines as the human logger does (main.ts loads it before a command)
beforeAll(loadHumanLines);

const rec = (o: Record<string, unknown>) => ({ level: 30, time: 't', ...o });

describe('reconcile --once progress lines', () => {
  it('one line per pod: its step, layer bytes while pulling, its apps, why it backs off', () => {
    const m = new ProgressModel();
    m.observe(rec({ podName: 'default/web', msg: 'creating pod' }), 0);
    m.observe(rec({ podName: 'default/web', msg: 'pod state', state: 'pulling' }), 1000);
    m.pull('default/web', { kind: 'layer', digest: 'sha256:a', size: 2_000_000, bytes: 500_000, state: 'downloading' }, 1500);
    m.pull('default/web', { kind: 'layer', digest: 'sha256:b', size: 1_000_000, bytes: 1_000_000, state: 'done' }, 1500);
    m.observe(
      rec({
        podName: 'default/db',
        msg: 'pod state',
        state: 'setupBackoff',
        reason: 'ImagePullBackOff',
        err: { message: 'no such layout' },
        retryInMs: 10_000,
      }),
      2000,
    );
    expect(m.lines(3000)).toEqual([
      'default/web  pulling      1.5 MB/3.0 MB, 1/2 layers  2s',
      'default/db   back-off     ImagePullBackOff: no such layout (retry in 10s)  1s',
    ]);
    m.observe(rec({ podName: 'default/web', msg: 'pod state', state: 'running' }), 4000);
    m.observe(rec({ podName: 'default/web', msg: 'app state', app: 'httpd', state: 'running' }), 4000);
    m.observe(rec({ podName: 'default/web', msg: 'app state', app: 'probe', state: 'backoff', reason: 'CrashLoopBackOff' }), 4000);
    expect(m.lines(5000)[0]).toBe('default/web  running      httpd running, probe CrashLoopBackOff  1s');
    expect(m.lines(5000, 30)[1]).toHaveLength(30);
  });

  it('ignores records about no pod', () => {
    const m = new ProgressModel();
    m.observe(rec({ msg: 'tightened permissions of host directories' }), 0);
    m.observe(rec({ podName: 'not-a-key', msg: 'pod state', state: 'pulling' }), 0);
    expect(m.lines(0)).toEqual([]);
  });

  it("as pino's destination: warnings above the pod lines, info only in them; redrawn in place; cleared at the end", () => {
    let out = '';
    const p = new TtyProgress({ write: (s: string) => (out += s), columns: 100 }, { level: 'info', now: () => 0, intervalMs: 60_000 });
    p.write(`${JSON.stringify(rec({ podName: 'default/web', msg: 'creating pod' }))}\n`);
    p.draw();
    expect(out).toBe('default/web  creating     0s\n');
    p.write(
      `${JSON.stringify({ level: 40, time: 0, podName: 'default/web', msg: 'pod did not converge', state: 'ErrImagePull', reason: 'ErrImagePull' })}\n`,
    );
    // the pod line taken away (cursor up one line, clear below), the warning, the pod line again
    const rest = out.slice('default/web  creating     0s\n'.length);
    expect(rest.startsWith('\x1b[1F\x1b[J')).toBe(true);
    expect(rest).toMatch(/WARN.*default\/web: pod did not converge.*ErrImagePull.*\n.*default\/web {2}ErrImagePull/s);
    p.finish();
    expect(out.endsWith('\x1b[1F\x1b[J')).toBe(true);
    expect(TtyProgress.loggerLevel('warn')).toBe('info');
    expect(TtyProgress.loggerLevel('debug')).toBe('debug');
  });
});
