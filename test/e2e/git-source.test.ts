/**
 * Issue 13 item 6: a git repository as the source, driven through the built CLI. A local bare
 * repository made here, `hosts/{hostname}/` paths: commits that add, change and remove pods
 * are applied; status shows the applied commit; a broken commit leaves the previous pods
 * running; an unreachable remote deletes nothing; an unsigned commit is refused with
 * --git-verify and a signed one applied; two agents with different --hostname run only their
 * own pods.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSandbox, createSandbox, isRoot, LOOP, podYaml, shortId, type Sandbox, type StatusJson } from '../helpers/berth-cli.js';

const IMAGE = 'oci:/opt/berth/images/busybox:latest';
const pod = (name: string, script = LOOP) => podYaml(name, IMAGE, [{ name: 'main', script }], '  hostNetwork: true\n');

type Pod = StatusJson['pods'][number] & { source: { file: string; revision: string | null } };

describe.skipIf(!isRoot)('git source (berth reconcile --git-repo)', () => {
  let tmp: string;
  let remote: string;
  let work: string;
  let gnupg: string;
  let fpr = '';
  let alpha: Sandbox;
  let beta: Sandbox;
  const ids = new Set<string>();

  const git = (args: string[], env: Record<string, string> = {}) => execa('git', args, { cwd: work, env: { GNUPGHOME: gnupg, ...env } });

  /** Write (text) or remove (null) files, commit (signed with `sign`) and push, force if need be; returns the commit. */
  async function commit(files: Record<string, string | null>, o: { sign?: boolean; message?: string } = {}): Promise<string> {
    for (const [path, text] of Object.entries(files)) {
      if (text === null) await rm(join(work, path), { force: true });
      else {
        await mkdir(join(work, path, '..'), { recursive: true });
        await writeFile(join(work, path), text);
      }
    }
    await git(['add', '-A']);
    const sign = o.sign ? ['-c', `user.signingkey=${fpr}`, '-c', 'gpg.program=gpg', 'commit', '-S'] : ['commit'];
    await git([
      '-c',
      'user.name=Berth Test',
      '-c',
      'user.email=test@berth.invalid',
      ...sign,
      '--quiet',
      '--allow-empty',
      '-m',
      o.message ?? 'change',
    ]);
    await git(['push', '--quiet', '--force', 'origin', 'HEAD:refs/heads/main']);
    return (await git(['rev-parse', 'HEAD'])).stdout.trim();
  }

  const gitArgs = (host: string, extra: string[] = [], repo = remote) => [
    '--git-repo',
    repo,
    '--git-ref',
    'main',
    '--git-path',
    'hosts/{hostname}',
    '--hostname',
    host,
    ...extra,
  ];
  const once = (sb: Sandbox, host: string, extra: string[] = [], repo?: string) =>
    sb.run(['reconcile', '--once', '--timeout', '60s', '--log-format', 'json', ...gitArgs(host, extra, repo)]);
  const pods = async (sb: Sandbox) => (await sb.status()).pods as Pod[];
  const byName = async (sb: Sandbox, name: string) => (await pods(sb)).find((p) => p.name === name);
  const track = (ps: Pod[]) => ps.forEach((p) => p.uid && ids.add(shortId(p.uid)));

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-e2egitrepo-'));
    remote = join(tmp, 'remote.git');
    work = join(tmp, 'work');
    gnupg = join(tmp, 'gnupg');
    await mkdir(gnupg, { mode: 0o700 });
    await execa('git', ['init', '--quiet', '--bare', remote]);
    await execa('git', ['init', '--quiet', '-b', 'main', work]);
    await git(['remote', 'add', 'origin', remote]);
    await execa('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', 'Berth Test <test@berth.invalid>', 'ed25519', 'sign', 'never'], {
      env: { GNUPGHOME: gnupg },
    });
    const keys = await execa('gpg', ['--list-keys', '--with-colons'], { env: { GNUPGHOME: gnupg } });
    fpr = keys.stdout
      .split('\n')
      .find((l) => l.startsWith('fpr:'))!
      .split(':')[9]!;
    alpha = await createSandbox('berth-e2egit');
    beta = await createSandbox('berth-e2egitb');
  });

  afterAll(async () => {
    // every pod of the repository goes: each host's directory kept with only a .keep file
    await commit({
      'hosts/alpha/.keep': '',
      'hosts/beta/.keep': '',
      'hosts/alpha/web.yaml': null,
      'hosts/alpha/cache.yaml': null,
      'hosts/beta/db.yaml': null,
    }).catch(() => undefined);
    const a = await once(alpha, 'alpha').catch(() => undefined);
    const b = await once(beta, 'beta').catch(() => undefined);
    const ra = await closeSandbox(alpha, ids);
    const rb = await closeSandbox(beta, ids);
    await execa('gpgconf', ['--kill', 'all'], { env: { GNUPGHOME: gnupg }, reject: false });
    await rm(tmp, { recursive: true, force: true });
    expect(a?.exitCode).toBe(0);
    expect(b?.exitCode).toBe(0);
    expect([ra.code, rb.code]).toEqual([0, 0]);
    expect([...ra.leaks, ...rb.leaks]).toEqual([]);
  });

  it("applies a commit: the host's own pods only, each showing the commit in status", async () => {
    const c1 = await commit({ 'hosts/alpha/web.yaml': pod('gweb'), 'hosts/beta/db.yaml': pod('gdb') });
    const r = await once(alpha, 'alpha');
    expect(r.exitCode, r.stderr + r.stdout.slice(-2000)).toBe(0);
    const ps = await pods(alpha);
    track(ps);
    expect(ps.map((p) => [p.name, p.status, p.source.revision])).toEqual([['gweb', 'Running', c1]]);
    const wide = await alpha.run(['status', '-o', 'wide']);
    expect(wide.stdout).toMatch(/REVISION/);
    expect(wide.stdout).toContain(c1.slice(0, 12));

    // a second agent (own state dir) for host beta runs only beta's pod
    const rb = await once(beta, 'beta');
    expect(rb.exitCode, rb.stderr).toBe(0);
    const pb = await pods(beta);
    track(pb);
    expect(pb.map((p) => [p.name, p.status, p.source.revision])).toEqual([['gdb', 'Running', c1]]);
  });

  it('applies a change and an added pod; an unchanged pod keeps its app and records the new commit', async () => {
    const before = (await byName(alpha, 'gweb'))!;
    const c2 = await commit({ 'hosts/alpha/web.yaml': pod('gweb', `${LOOP} # v2`), 'hosts/alpha/cache.yaml': pod('gcache') });
    const r = await once(alpha, 'alpha');
    expect(r.exitCode, r.stderr).toBe(0);
    const ps = await pods(alpha);
    track(ps);
    expect(ps.map((p) => [p.name, p.status, p.source.revision]).sort()).toEqual([
      ['gcache', 'Running', c2],
      ['gweb', 'Running', c2],
    ]);
    // a change of the container's command restarts its app in the same pod (smallest change)
    const changed = (await byName(alpha, 'gweb'))!;
    expect(changed.uid).toBe(before.uid);
    expect(changed.apps[0]!.pid).not.toBe(before.apps[0]!.pid);

    const cache = (await byName(alpha, 'gcache'))!;
    const c3 = await commit({ 'hosts/alpha/README.md': 'nothing for berth\n' });
    expect((await once(alpha, 'alpha')).exitCode).toBe(0);
    const after = (await byName(alpha, 'gcache'))!;
    expect(after.uid).toBe(cache.uid);
    expect(after.apps[0]!.pid).toBe(cache.apps[0]!.pid);
    expect(after.source.revision).toBe(c3);
  });

  it('a broken commit leaves the broken pod running as it was and applies the rest; removal is applied', async () => {
    const web = (await byName(alpha, 'gweb'))!;
    const c4 = await commit({
      'hosts/alpha/web.yaml': 'apiVersion: v1\nkind: Pod\nmetadata: {name: gweb\n',
      'hosts/alpha/cache.yaml': null,
    });
    const r = await once(alpha, 'alpha');
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('web.yaml');
    const ps = await pods(alpha);
    expect(ps.map((p) => p.name)).toEqual(['gweb']);
    const now = ps[0]!;
    expect(now.uid).toBe(web.uid);
    expect(now.apps[0]!.pid).toBe(web.apps[0]!.pid);
    // the pod runs on, its status says why its file is not applied (last-known-good)
    expect([now.status, now.apps[0]!.state]).toEqual(['InvalidSpec', 'running']);
    expect(now.message).toContain('web.yaml');
    expect(now.source.revision).toBe(web.source.revision); // applied from the last good commit
    expect(now.source.revision).not.toBe(c4);
  });

  it('an unreachable remote changes nothing that runs', async () => {
    const web = (await byName(alpha, 'gweb'))!;
    const r = await once(alpha, 'alpha', [], join(tmp, 'gone.git'));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/SourceError|gone\.git/);
    const now = (await byName(alpha, 'gweb'))!;
    expect([now.uid, now.apps[0]!.pid, now.status]).toEqual([web.uid, web.apps[0]!.pid, 'Running']);
  });

  it('--git-verify refuses an unsigned commit (the applied one stays) and applies a signed one', async () => {
    const trust = join(alpha.root, 'config', 'git-trust');
    await mkdir(trust, { recursive: true });
    const key = await execa('gpg', ['--armor', '--export', fpr], { env: { GNUPGHOME: gnupg } });
    await writeFile(join(trust, 'test.asc'), key.stdout);
    const web = (await byName(alpha, 'gweb'))!;

    const unsigned = await commit({ 'hosts/alpha/web.yaml': pod('gweb', `${LOOP} # v3`) });
    const r = await once(alpha, 'alpha', ['--git-verify']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`commit ${unsigned.slice(0, 12)} is not applied: it is not signed`);
    const still = (await byName(alpha, 'gweb'))!;
    expect([still.uid, still.apps[0]!.pid]).toEqual([web.uid, web.apps[0]!.pid]);

    const signed = await commit({ 'hosts/alpha/web.yaml': pod('gweb', `${LOOP} # v4`) }, { sign: true });
    const ok = await once(alpha, 'alpha', ['--git-verify']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const ps = await pods(alpha);
    track(ps);
    expect(ps.map((p) => [p.name, p.status, p.source.revision])).toEqual([['gweb', 'Running', signed]]);
    expect(ps[0]!.apps[0]!.pid).not.toBe(web.apps[0]!.pid); // the app restarted on the signed commit's spec
  });
});
