/**
 * Packaging (issue 12 item 6): `npm pack` (its prepack builds) makes a tarball that
 * `npm install -g` installs into a working `berth`: the executable on the prefix's PATH, the
 * man page, nothing of the sources needed. Installed into a temporary prefix, never the host's.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/berth-cli.js';

describe('npm pack, then npm install -g of the tarball', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('installs a berth that runs (version, --help) and its man page', async () => {
    const work = await mkdtemp(join(tmpdir(), 'berth-e2e-cli-pack-'));
    dirs.push(work);
    const pack = await execa('npm', ['pack', '--pack-destination', work, '--json'], { cwd: REPO, timeout: 540_000 });
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = info!.files.map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining(['dist/bundle/berth.mjs', 'dist/man/berth.1', 'package.json', 'README.md', 'contrib/berth.service']),
    );
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
    const tgz = join(work, info!.filename);
    const prefix = join(work, 'prefix');
    await execa('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tgz], { timeout: 540_000 });
    const bin = join(prefix, 'bin', 'berth');
    expect(existsSync(bin)).toBe(true);
    const env = { ...process.env, PATH: `${join(prefix, 'bin')}:${process.env.PATH}` };
    const v = await execa('berth', ['version', '-o', 'json'], { env, reject: false });
    expect(v.exitCode, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ berth: { version: expect.stringMatching(/^\d+\.\d+\.\d+/) } });
    const help = await execa('berth', ['--help'], { env });
    expect(help.stdout).toContain('Usage: berth');
    expect(help.stdout).toContain('Examples:');
    // npm links the package's "man" pages below the prefix
    const man = join(prefix, 'share', 'man', 'man1');
    expect(existsSync(man) ? await readdir(man) : []).toContain('berth.1');
  }, 1_200_000);
});
