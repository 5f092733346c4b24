#!/usr/bin/env node
/* global process */
/**
 * ACI render: an ACI with three dependencies (a chain top → lib → tools → base, where base
 * is static busybox with its applets and the others add trees of small files and override
 * some of base's), rendered by berth's appc renderer from the content store (selection by
 * appc's rules, extraction through the safe layer applier), next to plain `tar -x` of the
 * same four uncompressed archives into one directory, bottom-up, in the same run, alternating
 * which goes first (each tree is removed right after its run, so each run follows the removal
 * of the other's: the file system's deferred work for a removed tree falls on both alike).
 *
 *   npm run build && node bench/aci-render.mjs [--reps 5] [--files 2000] [--out bench/results/aci-render.json]
 *
 * Environment equivalents: BENCH_REPS, BENCH_FILES, BENCH_OUT. Everything lives under
 * /tmp/berth-taci-bench-* and is removed at the end (also on failure and SIGINT).
 */
import { mkdtemp, mkdir, rm, writeFile, copyFile, symlink } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { option } from './lib/common.mjs';
import { must, median, r1, stats } from './lib/proc.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPS = Number(option('--reps', 'BENCH_REPS', '5'));
const FILES = Number(option('--files', 'BENCH_FILES', '2000'));
const OUT = resolve(option('--out', 'BENCH_OUT', join(REPO, 'bench/results/aci-render.json')));

const tmp = await mkdtemp(join(tmpdir(), 'berth-taci-bench-'));
const cleanup = () => rm(tmp, { recursive: true, force: true });
process.on('SIGINT', async () => {
  await cleanup();
  process.exit(130);
});

try {
  const { renderAciTree } = await import(join(REPO, 'dist/image/appc/render.js'));
  const { FsContentStore } = await import(join(REPO, 'dist/image/content-store.js'));

  /** Build one uncompressed ACI with GNU tar; returns { tar, id }. */
  async function aci(name, fill, deps) {
    const work = join(tmp, `work-${name}`);
    const rootfs = join(work, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    await fill(rootfs);
    const manifest = {
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: `example.com/bench/${name}`,
      dependencies: deps.map((d) => ({ imageName: d.name, imageID: d.id })),
    };
    if (name === 'top') manifest.app = { exec: ['/bin/sh'], user: '0', group: '0' };
    await writeFile(join(work, 'manifest'), JSON.stringify(manifest));
    const tar = join(tmp, `${name}.aci`);
    await must('tar', [
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '-C',
      work,
      '-cf',
      tar,
      'manifest',
      'rootfs',
    ]);
    const id = `sha512-${createHash('sha512').update(readFileSync(tar)).digest('hex')}`;
    return { name: manifest.name, tar, id };
  }
  const files = (dir, n, prefix) => async (rootfs) => {
    for (let i = 0; i < n; i++) {
      const d = join(rootfs, dir, `d${i % 50}`);
      await mkdir(d, { recursive: true });
      await writeFile(join(d, `${prefix}-${i}.txt`), `${prefix} ${i}\n`.repeat(8));
    }
  };
  const base = await aci(
    'base',
    async (r) => {
      await mkdir(join(r, 'bin'), { recursive: true });
      await mkdir(join(r, 'etc'), { recursive: true });
      await copyFile('/bin/busybox', join(r, 'bin/busybox'));
      const applets = must('/bin/busybox', ['--list']);
      for (const a of (await applets).stdout.split('\n').filter((x) => /^[\w.[-]+$/.test(x) && x !== 'busybox'))
        await symlink('busybox', join(r, 'bin', a));
      await writeFile(join(r, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
      await files('usr/share/base', FILES, 'base')(r);
    },
    [],
  );
  const tools = await aci('tools', files('usr/share/tools', FILES, 'tools'), [base]);
  const lib = await aci(
    'lib',
    async (r) => {
      await files('usr/lib/bench', FILES, 'lib')(r);
      await files('usr/share/base', FILES / 4, 'base')(r); // overrides a quarter of base's files
    },
    [tools],
  );
  const top = await aci('top', files('app', FILES / 4, 'top'), [lib]);
  const chain = [top, lib, tools, base];

  // berth: import into a content store, then render from it
  const state = join(tmp, 'state');
  const store = new FsContentStore(state);
  const { createReadStream } = await import('node:fs');
  for (const x of chain) await store.ingest({ digest: `sha512:${x.id.slice(7)}` }, createReadStream(x.tar));
  const flat = chain.map((x, level) => ({ imageId: x.id, level }));

  const berth = [];
  const plain = [];
  let entries = 0;
  const runs = {
    berth: async (rep) => {
      const a = join(tmp, `render-${rep}`);
      await mkdir(a);
      const t0 = performance.now();
      const r = await renderAciTree(a, flat, (id) => store.blobPath(`sha512:${id.slice(7)}`), {});
      berth.push(performance.now() - t0);
      entries = r.selected.reduce((n, s) => n + s.length, 0);
      await rm(a, { recursive: true, force: true });
    },
    tar: async (rep) => {
      const b = join(tmp, `tar-${rep}`);
      await mkdir(b);
      const t0 = performance.now();
      for (const x of [...chain].reverse()) await must('tar', ['-C', b, '-xf', x.tar, 'rootfs']);
      plain.push(performance.now() - t0);
      await rm(b, { recursive: true, force: true });
    },
  };
  const load0 = loadavg();
  for (let rep = 0; rep < REPS; rep++) {
    for (const k of rep % 2 ? ['tar', 'berth'] : ['berth', 'tar']) await runs[k](rep);
  }
  const load1 = loadavg();
  const bs = stats(berth);
  const ps = stats(plain);
  const ratio = median(berth) / median(plain);
  const result = {
    benchmark: 'aci-render',
    date: new Date().toISOString(),
    host: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: r1(totalmem() / 1024 ** 3), kernel: release(), node: process.version },
    loadavg: { before: load0.map(r1), after: load1.map(r1) },
    params: { reps: REPS, filesPerImage: FILES, images: chain.length, dependencies: chain.length - 1, entriesRendered: entries },
    berthRenderMs: bs,
    tarExtractMs: ps,
    ratio: r1(ratio),
    notes:
      'berth: appc selection (upper first, later files win, whitelist) + extraction through the safe applier, from the content store, re-hashing every image; tar: GNU tar -xf of the same uncompressed ACIs bottom-up into one directory (no selection, no hashing, no safety checks).',
  };
  await mkdir(dirname(OUT), { recursive: true });
  await writeFile(OUT, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `aci-render: ${chain.length} images (3 dependencies), ${entries} entries rendered, ${REPS} reps, load average ${load0.map(r1).join(' ')} -> ${load1.map(r1).join(' ')}\n` +
      `  berth render  median ${r1(median(berth))} ms  (min ${r1(Math.min(...berth))}, max ${r1(Math.max(...berth))})\n` +
      `  tar -x        median ${r1(median(plain))} ms  (min ${r1(Math.min(...plain))}, max ${r1(Math.max(...plain))})\n` +
      `  ratio berth / tar = ${r1(ratio)}\n  -> ${OUT}\n`,
  );
} finally {
  await cleanup();
}
