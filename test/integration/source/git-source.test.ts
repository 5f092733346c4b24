/**
 * GitSource with the system git against a bare repository made here: the checkout is
 * switched only by activate(); a force-push is just a new tip; a path missing from a commit,
 * an unreachable remote or a symlink out of the repository never changes what is applied.
 * And the flag grammar of --git-repo/--git-ref/--git-path.
 */
import { mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { GitSource, checkGitPath } from '../../../src/source/git.js';
import { gitSourceConfigs } from '../../../src/source/git-flags.js';

describe('GitSource (system git, local bare repository)', () => {
  let tmp: string;
  let remote: string;
  let work: string;
  const git = (args: string[]) => execa('git', args, { cwd: work });
  async function commit(files: Record<string, string | null>, o: { amend?: boolean } = {}): Promise<string> {
    for (const [p, text] of Object.entries(files)) {
      if (text === null) await rm(join(work, p), { force: true });
      else {
        await mkdir(join(work, p, '..'), { recursive: true });
        await writeFile(join(work, p), text);
      }
    }
    await git(['add', '-A']);
    await git([
      '-c',
      'user.name=T',
      '-c',
      'user.email=t@berth.invalid',
      'commit',
      '--quiet',
      '--allow-empty',
      ...(o.amend ? ['--amend'] : []),
      '-m',
      'c',
    ]);
    await git(['push', '--quiet', '--force', 'origin', 'HEAD:refs/heads/main']);
    return (await git(['rev-parse', 'HEAD'])).stdout.trim();
  }
  const source = (path = 'hosts/h1', repo = remote) =>
    new GitSource(
      { repo, ref: 'main', path, verify: false },
      { stateDir: join(tmp, 'state'), configDir: join(tmp, 'config'), log: silentLogger() },
    );

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-gitsrc-'));
    remote = join(tmp, 'remote.git');
    work = join(tmp, 'work');
    await execa('git', ['init', '--quiet', '--bare', remote]);
    await execa('git', ['init', '--quiet', '-b', 'main', work]);
    await git(['remote', 'add', 'origin', remote]);
  });
  afterEach(() => rm(tmp, { recursive: true, force: true }));

  it('fetches, checks out beside the applied commit, and switches only on activate()', async () => {
    const c1 = await commit({ 'hosts/h1/a.yaml': 'a: 1\n' });
    const s = source();
    expect(s.snapshot().revision).toBeNull();
    expect(await s.refresh()).toBe(true);
    expect(s.snapshot().revision).toBeNull(); // fetched, not applied yet
    expect(await s.activate()).toBe(c1);
    expect(await readFile(join(s.specDir, 'a.yaml'), 'utf8')).toBe('a: 1\n');
    expect(await readlink(join(s.dir, 'tree'))).toBe(`trees/${c1}`);
    expect(await s.refresh()).toBe(false); // nothing new

    // a force-push (history rewritten) is just a new tip
    const c2 = await commit({ 'hosts/h1/a.yaml': 'a: 2\n' }, { amend: true });
    expect(await s.refresh()).toBe(true);
    expect(await s.activate()).toBe(c2);
    expect(await readFile(join(s.specDir, 'a.yaml'), 'utf8')).toBe('a: 2\n');

    // a new agent on the same state knows the applied commit without fetching
    const again = source();
    await again.init();
    expect(again.snapshot()).toMatchObject({ revision: c2, error: null });
  });

  it('a path missing from the new commit, or an unreachable remote, keeps the applied commit and reports why', async () => {
    const c1 = await commit({ 'hosts/h1/a.yaml': 'a: 1\n' });
    const s = source();
    await s.refresh();
    await s.activate();
    const c2 = await commit({ 'hosts/h1/a.yaml': null, 'hosts/h2/b.yaml': 'b: 1\n' });
    expect(await s.refresh()).toBe(false);
    expect(await s.activate()).toBe(c1);
    expect(s.snapshot().error).toBe(
      `hosts/h1 does not exist in commit ${c2.slice(0, 12)} of ${remote} (keep a .keep file in a directory that should hold no pods)`,
    );

    await rm(remote, { recursive: true, force: true });
    expect(await s.refresh()).toBe(false);
    expect(s.snapshot().revision).toBe(c1);
    expect(s.snapshot().error).toMatch(/^git fetch of .* \(main\) failed: /);
  });

  it('a spec file that is a symlink out of the repository is removed from the checkout and refused; links inside are read', async () => {
    await mkdir(join(work, 'hosts/h1'), { recursive: true });
    await writeFile(join(work, 'common.yaml'), 'shared: 1\n');
    await symlink('../../common.yaml', join(work, 'hosts/h1/shared.yaml'));
    await symlink('/etc/passwd', join(work, 'hosts/h1/passwd.yaml'));
    await commit({});
    const s = source();
    await s.refresh();
    await s.activate();
    expect(await readFile(join(s.specDir, 'shared.yaml'), 'utf8')).toBe('shared: 1\n');
    await expect(readFile(join(s.specDir, 'passwd.yaml'), 'utf8')).rejects.toThrow(/ENOENT/);
    expect(s.snapshot().refused.map((f) => [f.file, f.issues[0]!.reason])).toEqual([[join(s.specDir, 'passwd.yaml'), 'SourceError']]);
  });
});

describe('git source flags', () => {
  it('one --git-ref/--git-path for every repository, or one per repository in order; {hostname} replaced', () => {
    expect(gitSourceConfigs({ gitRepo: ['a', 'b'], gitPath: ['hosts/{hostname}'], hostname: 'web1' })).toEqual([
      { repo: 'a', ref: 'HEAD', path: 'hosts/web1', verify: false },
      { repo: 'b', ref: 'HEAD', path: 'hosts/web1', verify: false },
    ]);
    expect(gitSourceConfigs({ gitRepo: ['a', 'b'], gitRef: ['main', 'v1'], gitPath: ['x', '.'], gitVerify: true })).toEqual([
      { repo: 'a', ref: 'main', path: 'x', verify: true },
      { repo: 'b', ref: 'v1', path: '.', verify: true },
    ]);
    expect(() => gitSourceConfigs({ gitRepo: ['a', 'b', 'c'], gitRef: ['x', 'y'] })).toThrow(/--git-ref is given 2 times for 3 --git-repo/);
    expect(() => gitSourceConfigs({ gitRef: ['main'] })).toThrow(/need --git-repo/);
    expect(() => gitSourceConfigs({ gitRepo: ['a'], gitRef: ['--upload-pack=x'] })).toThrow(/--git-ref/);
    expect(() => gitSourceConfigs({ gitRepo: ['a'], gitPath: ['hosts/{hostname}'], hostname: '../etc' })).toThrow(/--hostname/);
  });

  it('a path must stay inside the repository', () => {
    expect(checkGitPath('hosts/a/')).toBe('hosts/a');
    expect(checkGitPath('./')).toBe('.');
    expect(() => checkGitPath('/etc')).toThrow(/relative/);
    expect(() => checkGitPath('a/../../b')).toThrow(/inside/);
  });
});
