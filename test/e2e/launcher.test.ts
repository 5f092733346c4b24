/**
 * The `berth` launcher (src/cli/entry.ts, scripts/bundle.mjs): the program script
 * dist/bundle/berth.cjs is compiled with the V8 code cache the build made. The cache must be
 * one this Node takes, and berth must behave the same without it and with a cache V8 rejects
 * (as it rejects another Node's or V8's: here, bytes it cannot read, a cut-off file). Copies of
 * dist/bundle in temporary directories; nothing on the host beyond them.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { generateKey } from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/berth-cli.js';

const BUNDLE = join(REPO, 'dist/bundle');
const dirs: string[] = [];
let cacheName: string;

async function copyOfBundle(cache: 'built' | 'none' | 'garbage' | 'truncated'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `berth-e2e-launcher-${cache}-`));
  dirs.push(dir);
  for (const f of ['berth.mjs', 'berth.cjs', 'openpgp.cjs']) await copyFile(join(BUNDLE, f), join(dir, f));
  const built = await readFile(join(BUNDLE, cacheName));
  if (cache === 'built') await writeFile(join(dir, cacheName), built);
  if (cache === 'garbage') await writeFile(join(dir, cacheName), Buffer.alloc(built.length, 0x5a));
  if (cache === 'truncated') await writeFile(join(dir, cacheName), built.subarray(0, built.length >> 1));
  return dir;
}

/** What berth answers, run from `dir`: the outputs that must not depend on the cache. */
async function answers(dir: string) {
  const root = await mkdtemp(join(tmpdir(), 'berth-e2e-launcher-run-'));
  dirs.push(root);
  await mkdir(join(root, 'specs'));
  const paths = ['config', 'state', 'run', 'log', 'netns', 'cni-conf'].flatMap((d) => [`--${d}-dir`, join(root, d)]);
  const berth = async (...args: string[]) => {
    const r = await execa(join(dir, 'berth.mjs'), args, { reject: false, env: { NO_COLOR: '1' }, cwd: root });
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  };
  const key = (await generateKey({ userIDs: [{ name: 'launcher test' }], type: 'ecc', format: 'armored' })).publicKey;
  await writeFile(join(root, 'key.asc'), key);
  const version = await berth('version', '-o', 'json');
  const once = await berth(...paths, 'reconcile', '--once', '--spec-dir', join(root, 'specs'), '--log-format', 'json');
  return {
    '--version': await berth('--version'),
    version: { exitCode: version.exitCode, berth: (JSON.parse(version.stdout) as { berth: unknown }).berth },
    help: await berth('--help'),
    status: await berth(...paths, 'status'),
    unknown: await berth('nosuch'),
    once: {
      exitCode: once.exitCode,
      summary: `${once.stdout}\n${once.stderr}`.split('\n').filter((l) => l.includes('reconcile summary')).length,
    },
    // openpgp.cjs, required on first use; the fingerprint and the directory differ per run, the line does not
    trust: (
      await berth('--config-dir', join(root, 'config'), 'trust', 'add', '--prefix', 'registry.example/x', join(root, 'key.asc'))
    ).stdout
      .replace(/[0-9a-f]{40}/, 'FPR')
      .replace(root, 'ROOT'),
  };
}

describe('the berth launcher and its code cache', () => {
  beforeAll(async () => {
    const caches = (await readdir(BUNDLE)).filter((f) => f.endsWith('.v8cache'));
    expect(caches, 'npm run build makes exactly one code cache').toHaveLength(1);
    cacheName = caches[0]!;
  });
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("the build's cache is named after the program's hash, and this Node takes it", async () => {
    const program = await readFile(join(BUNDLE, 'berth.cjs'));
    const id = createHash('sha256').update(program).digest('hex').slice(0, 16);
    expect(cacheName).toBe(`berth.cjs.${id}.v8cache`);
    expect(await readFile(join(BUNDLE, 'berth.mjs'), 'utf8')).toContain(JSON.stringify(id));
    // compiled as the launcher compiles it, in a plain node as `berth` runs
    const probe = `const { Script } = require('node:vm'); const { readFileSync } = require('node:fs');
      const s = new Script(readFileSync(process.argv[1], 'latin1'), { filename: process.argv[1], cachedData: readFileSync(process.argv[2]) });
      process.stdout.write(String(s.cachedDataRejected));`;
    const r = await execa(process.execPath, ['-e', probe, join(BUNDLE, 'berth.cjs'), join(BUNDLE, cacheName)]);
    expect(r.stdout).toBe('false');
  });

  it('berth answers the same with the cache, without it, and with one V8 rejects', async () => {
    const built = await answers(await copyOfBundle('built'));
    expect(built['--version'].stdout).toMatch(/^\d+\.\d+\.\d+$/);
    expect(built.help.stdout).toContain('Usage: berth');
    expect(built.status).toMatchObject({ exitCode: 0 });
    expect(built.unknown.exitCode).toBe(3);
    expect(built.once).toEqual({ exitCode: 0, summary: 1 });
    expect(built.trust).toContain('trusted FPR for docker prefix registry.example/x');
    for (const cache of ['none', 'garbage', 'truncated'] as const) expect(await answers(await copyOfBundle(cache)), cache).toEqual(built);
  }, 240_000);

  it('runs through a symlink, as npm links the bin', async () => {
    const dir = await copyOfBundle('built');
    const bin = await mkdtemp(join(tmpdir(), 'berth-e2e-launcher-bin-'));
    dirs.push(bin);
    await symlink(join(dir, 'berth.mjs'), join(bin, 'berth'));
    const r = await execa(join(bin, 'berth'), ['help', 'status'], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('Usage: berth status');
  });
});
