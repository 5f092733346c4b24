#!/usr/bin/env node
/* global process, Buffer */
/**
 * OCI render (issue 11 item 3): an image of `--layers` layers and `--files` files in all
 * (built with umoci: unpack, add files, repack, per layer; gzip layers), pulled once into
 * berth's content store, then rendered by berth's image service (every layer verified,
 * decompressed and applied through the safe applier, the tree published) next to
 * `umoci unpack` of the same layout, alternating which goes first, in the same run (each tree is
 * removed right after its run, so each run follows the removal of the other's). The event-loop
 * delay of this process during berth's renders (what a daemon's other work waits) is recorded
 * too. Needs root (umoci unpack and berth's render both chown and mknod as root).
 *
 *   npm run build && flock /tmp/berth-bench.lock node bench/render.mjs [--reps 5] [--layers 4] [--files 10000] [--out bench/results/render.json]
 *
 * Environment equivalents: BENCH_REPS, BENCH_LAYERS, BENCH_FILES, BENCH_OUT. Everything lives
 * under /tmp/berth-trender-bench-* and is removed at the end (also on failure and SIGINT).
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { option } from './lib/common.mjs';
import { must, median, r1, stats } from './lib/proc.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPS = Number(option('--reps', 'BENCH_REPS', '5'));
const LAYERS = Number(option('--layers', 'BENCH_LAYERS', '4'));
const FILES = Number(option('--files', 'BENCH_FILES', '10000'));
const OUT = resolve(option('--out', 'BENCH_OUT', join(REPO, 'bench/results/render.json')));

if (process.getuid?.() !== 0) throw new Error('bench/render.mjs needs root (umoci unpack and berth render as root)');
const tmp = await mkdtemp(join(tmpdir(), 'berth-trender-bench-'));
const cleanup = () => rm(tmp, { recursive: true, force: true });
process.on('SIGINT', async () => {
  await cleanup();
  process.exit(130);
});

/** Files of 512 B–8 KiB, half text, half random, 40 per directory; a few symlinks and hard links. */
async function writeFiles(root, layer, n) {
  const words = 'berth layer render overlay manifest digest '.repeat(200);
  for (let i = 0; i < n; i++) {
    const dir = join(root, 'data', `l${layer}`, `d${Math.floor(i / 40)}`);
    if (i % 40 === 0) await mkdir(dir, { recursive: true });
    const size = 512 + ((i * 7919) % (7.5 * 1024));
    await writeFile(join(dir, `f${i}`), i % 2 ? randomBytes(size) : Buffer.from(words.slice(0, size)));
  }
}

try {
  const { createImageService } = await import(join(REPO, 'dist/image/index.js'));
  const layout = join(tmp, 'oci');
  const bundle = join(tmp, 'build');
  await must('umoci', ['init', '--layout', layout]);
  await must('umoci', ['new', '--image', `${layout}:v1`]);
  for (let l = 0; l < LAYERS; l++) {
    await rm(bundle, { recursive: true, force: true });
    await must('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
    await writeFiles(join(bundle, 'rootfs'), l, Math.ceil(FILES / LAYERS));
    await must('umoci', ['repack', '--image', `${layout}:v1`, bundle]);
  }
  await must('umoci', ['config', '--image', `${layout}:v1`, '--config.cmd', '/bin/sh', '--os', 'linux', '--architecture', 'amd64']);
  await must('umoci', ['gc', '--layout', layout]);
  await rm(bundle, { recursive: true, force: true });

  const svc = createImageService({ stateDir: join(tmp, 'state') });
  const img = await svc.pull(`oci:${layout}:v1`);
  const key = img.manifestDigest.slice('sha256:'.length);
  const load0 = loadavg();
  const berth = [];
  const umoci = [];
  const loops = []; // one histogram per render: a re-enabled one would count the pause as one delay
  const runs = {
    berth: async () => {
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      const t0 = performance.now();
      await svc.render(img);
      berth.push(performance.now() - t0);
      loop.disable();
      loops.push(loop);
      await svc.removeRendered(key);
    },
    umoci: async (rep) => {
      const b = join(tmp, `umoci-${rep}`);
      const t0 = performance.now();
      await must('umoci', ['unpack', '--image', `${layout}:v1`, b]);
      umoci.push(performance.now() - t0);
      await rm(b, { recursive: true, force: true });
    },
  };
  for (let rep = 0; rep < REPS; rep++) {
    for (const k of rep % 2 ? ['umoci', 'berth'] : ['berth', 'umoci']) await runs[k](rep);
  }
  const worst = (f) => r1(Math.max(...loops.map(f)) / 1e6);
  const loopMs = { max: worst((h) => h.max), p99: worst((h) => h.percentile(99)), mean: worst((h) => h.mean) };
  const load1 = loadavg();
  const speedup = median(umoci) / median(berth);
  const result = {
    benchmark: 'render',
    date: new Date().toISOString(),
    host: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: r1(totalmem() / 1024 ** 3), kernel: release(), node: process.version },
    loadavg: { before: load0.map(r1), after: load1.map(r1) },
    params: { reps: REPS, layers: LAYERS, files: FILES },
    berthRenderMs: stats(berth),
    umociUnpackMs: stats(umoci),
    speedup: r1(speedup),
    eventLoopDelayDuringRenderMs: loopMs,
    notes:
      'berth: image service render from the content store (digest and DiffID verified while streaming, gunzip, safe applier, publish by rename); umoci: `umoci unpack` of the same layout into a fresh bundle (its rootfs plus config.json and mtree manifest). speedup = umoci median / berth median.',
  };
  await mkdir(dirname(OUT), { recursive: true });
  await writeFile(OUT, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `render: ${LAYERS} layers, ${FILES} files, ${REPS} reps, load average ${load0.map(r1).join(' ')} -> ${load1.map(r1).join(' ')}\n` +
      `  berth render   median ${r1(median(berth))} ms  (min ${r1(Math.min(...berth))}, max ${r1(Math.max(...berth))})\n` +
      `  umoci unpack   median ${r1(median(umoci))} ms  (min ${r1(Math.min(...umoci))}, max ${r1(Math.max(...umoci))})\n` +
      `  speed berth / umoci = ${r1(speedup)}x\n` +
      `  event-loop delay during berth's renders (worst render): max ${loopMs.max} ms, p99 ${loopMs.p99} ms, mean ${loopMs.mean} ms\n  -> ${OUT}\n`,
  );
} finally {
  await cleanup();
}
