/**
 * The agent's input side, as a new user would meet it (issue 13.3–13.5, 14.2, 14.6, 14.12):
 * a source is never silently empty, files are read without ever blocking, one agent per
 * state dir, and a broken file keeps the last good spec of its pods running.
 */
import { mkdtemp, readFile, rm, symlink, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, closeSandbox, createSandbox, isRoot, LOOP, podYaml, shortId, type Sandbox } from '../helpers/berth-cli.js';

const IMAGE = 'oci:/opt/berth/images/busybox:latest';
const WEB = podYaml('src-web', IMAGE, [{ name: 'main', script: LOOP }], '  hostNetwork: true\n');

describe.skipIf(!isRoot)('sources, safe reading, the agent lock, last known good', () => {
  let sb: Sandbox;
  const ids = new Set<string>();
  const daemons: number[] = [];
  const state = () => join(sb.root, 'state');
  /** the sandbox's arguments with the spec dir replaced */
  const withSpecDir = (dir: string) => sb.args.map((a, i) => (sb.args[i - 1] === '--spec-dir' ? dir : a));
  const runWith = async (args: string[], timeoutMs = 90_000) => {
    const r = await execa('node', [CLI, ...args], { reject: false, timeout: timeoutMs });
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut };
  };
  const web = async () => (await sb.status()).pods.find((p) => p.name === 'src-web')!;

  beforeAll(async () => {
    sb = await createSandbox('berth-e2e-src');
    await sb.writeSpec('web.yaml', WEB);
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(r.exitCode, r.stderr).toBe(0);
    const w = await web();
    ids.add(shortId(w.uid!));
    expect(w.status).toBe('Running');
  });

  afterAll(async () => {
    for (const pid of daemons) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('--spec-dir /typo deletes nothing: exit 2, the pod keeps its PID and shows SourceError', async () => {
    const pid = (await web()).apps[0]!.pid;
    expect(pid).toBeGreaterThan(0);
    const typo = join(sb.root, 'typo');
    const plan = await runWith(['reconcile', '--once', '--dry-run', ...withSpecDir(typo)]);
    expect(plan.exitCode, plan.stderr).toBe(2);
    expect(plan.stdout).toBe('no changes');
    expect(plan.stderr).toContain(`spec directory ${typo} does not exist`);
    const r = await runWith(['reconcile', '--once', '--timeout', '30s', ...withSpecDir(typo)]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(`spec directory ${typo} does not exist`);
    const w = await web();
    expect(w).toMatchObject({ status: 'Running', reason: 'SourceError' });
    expect(w.message).toContain(typo);
    expect(w.apps[0]!.pid).toBe(pid);
    // the daemon logs the error, leaves the host as it is and tries again at the next sync
    const daemon = execa('node', [CLI, 'reconcile', '--resync', '1s', ...withSpecDir(typo)], { reject: false });
    daemons.push(daemon.pid!);
    let out = '';
    daemon.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    for (let i = 0; i < 400 && out.split(`spec directory ${typo} does not exist`).length < 3; i++)
      await new Promise((res) => setTimeout(res, 25));
    expect(out.split(`spec directory ${typo} does not exist`).length).toBeGreaterThanOrEqual(3);
    expect(out).not.toContain('deleting pod');
    daemon.kill('SIGTERM');
    expect((await daemon).exitCode).toBe(0);
    expect((await web()).apps[0]!.pid).toBe(pid);
    // the right directory again: nothing to do, no reason left
    const again = await sb.run(['reconcile', '--once', '--timeout', '30s']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(await web()).toMatchObject({ status: 'Running', reason: null });
    expect((await web()).apps[0]!.pid).toBe(pid);
  });

  it('a symlink to a FIFO does not hang --once and is reported; /dev/zero is refused at once', async () => {
    const pid = (await web()).apps[0]!.pid;
    await execa('mkfifo', [join(sb.root, 'fifo')]);
    await symlink(join(sb.root, 'fifo'), join(sb.specDir, 'z.yaml'));
    await symlink('/dev/zero', join(sb.specDir, 'zero.yaml'));
    await symlink(join(sb.root, 'nowhere.yaml'), join(sb.specDir, 'dangling.yaml'));
    try {
      const r = await runWith(['reconcile', '--once', '--timeout', '30s', ...sb.args], 60_000);
      expect(r.timedOut).toBe(false);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${join(sb.specDir, 'z.yaml')}: error: is a FIFO, not a regular file: refused`);
      expect(r.stderr).toContain(`${join(sb.specDir, 'zero.yaml')}: error: is a character device, not a regular file: refused`);
      const v = await runWith(['validate', sb.specDir, ...sb.args], 60_000);
      expect(v.exitCode).toBe(2);
      expect(v.stdout).toContain(`${join(sb.specDir, 'dangling.yaml')}: warning: dangling symlink`);
      expect((await web()).apps[0]!.pid).toBe(pid);
    } finally {
      for (const f of ['z.yaml', 'zero.yaml', 'dangling.yaml']) await rm(join(sb.specDir, f), { force: true });
    }
  });

  it('validate: a FIFO, a missing file and a missing default dir are clear errors with exit 2', async () => {
    const v1 = await sb.run(['validate', join(sb.root, 'fifo')]);
    expect(v1.exitCode).toBe(2);
    expect(v1.stdout).toContain('is a FIFO, not a regular file');
    const v2 = await sb.run(['validate', join(sb.root, 'nonexistent.yaml')]);
    expect(v2.exitCode).toBe(2);
    expect(v2.stdout).toContain(`spec file ${join(sb.root, 'nonexistent.yaml')} does not exist`);
    const v3 = await runWith(['validate', ...withSpecDir(join(sb.root, 'typo'))]);
    expect(v3.exitCode).toBe(2);
    expect(v3.stdout).toContain('does not exist (no PATH given');
  });

  it('a YAML syntax error keeps the running pod (InvalidSpec with file:line:column); fixing the file resumes', async () => {
    const pid = (await web()).apps[0]!.pid;
    const file = join(sb.specDir, 'web.yaml');
    await sb.writeSpec('web.yaml', WEB.replace('metadata: {name: src-web}', 'metadata: {name: src-web'));
    const r = await sb.run(['reconcile', '--once', '--timeout', '30s']);
    expect(r.exitCode, r.stderr).toBe(2);
    const w = await web();
    expect(w.status).toBe('InvalidSpec');
    expect(w.message).toMatch(new RegExp(`^${file}:\\d+:\\d+: invalid YAML`));
    expect(w.apps[0]).toMatchObject({ state: 'running', pid });
    // a half-written (empty) file is held the same way
    await writeFile(file, '');
    const e = await sb.run(['reconcile', '--once', '--timeout', '30s']);
    expect(e.exitCode).toBe(2);
    expect((await web()).apps[0]!.pid).toBe(pid);
    await sb.writeSpec('web.yaml', WEB);
    const fixed = await sb.run(['reconcile', '--once', '--timeout', '30s']);
    expect(fixed.exitCode, fixed.stderr).toBe(0);
    expect(await web()).toMatchObject({ status: 'Running', reason: null });
    expect((await web()).apps[0]!.pid).toBe(pid);
  });

  it('one agent per state dir: a second reconcile exits 3 naming the holder; read-only commands work beside it; kill -9 frees the lock', async () => {
    const pid = (await web()).apps[0]!.pid;
    const daemon = sb.spawn(['reconcile', '--resync', '1s']);
    daemons.push(daemon.pid!);
    const lock = join(state(), 'berth.lock');
    for (let i = 0; i < 400; i++) {
      const text = await readFile(lock, 'utf8').catch(() => '');
      if (text.trim() === String(daemon.pid)) break;
      await new Promise((res) => setTimeout(res, 25));
    }
    expect((await readFile(lock, 'utf8')).trim()).toBe(String(daemon.pid));
    const second = await sb.run(['reconcile', '--once', '--timeout', '10s']);
    expect(second.exitCode).toBe(3);
    expect(second.stderr).toContain(`another berth (pid ${daemon.pid}) holds ${state()}`);
    const daemonToo = await sb.run(['reconcile']);
    expect(daemonToo.exitCode).toBe(3);
    const st = await sb.run(['status']);
    expect(st.exitCode, st.stderr).toBe(0);
    expect(st.stdout).toContain('src-web');
    const plan = await sb.run(['reconcile', '--once', '--dry-run']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    const d = await sb.run(['describe', 'src-web']);
    expect(d.exitCode, d.stderr).toBe(0);
    process.kill(daemon.pid!, 'SIGKILL');
    await daemon;
    const after = await sb.run(['reconcile', '--once', '--timeout', '30s']);
    expect(after.exitCode, after.stderr).toBe(0);
    expect((await web()).apps[0]!.pid).toBe(pid);
  });

  it('read-only commands create nothing in a fresh state dir', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-e2e-ro-'));
    try {
      const args = [
        '--spec-dir',
        sb.specDir,
        '--state-dir',
        join(root, 'state'),
        '--run-dir',
        join(root, 'run'),
        '--log-dir',
        join(root, 'log'),
        '--config-dir',
        join(root, 'config'),
      ];
      for (const cmd of [
        ['status'],
        ['status', '-o', 'json'],
        ['describe', 'src-web'],
        ['logs', 'src-web'],
        ['reconcile', '--once', '--dry-run'],
        ['validate'],
      ]) {
        const r = await runWith([...cmd, ...args]);
        expect(r.exitCode, `${cmd.join(' ')}: ${r.stderr}`).toBeLessThan(3);
        expect(await readdir(root), cmd.join(' ')).toEqual([]);
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
