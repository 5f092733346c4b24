#!/usr/bin/env node
/**
 * Pull from a registry into the store and to a rendered rootfs: berth next to
 * `skopeo copy docker://… oci:…` + `umoci unpack` of the same image, in the same run.
 *
 *   npm run build && node bench/pull.mjs [--reps 3] [--layers 4] [--files 2500] [--out bench/results/pull.json] [--keep]
 *
 * The image is built with umoci from generated files: `--layers` layers (umoci repack after
 * each batch), `--files` files per layer of 1–16 KiB, half random bytes and half text (so
 * gzip has some work), about 20 MB per layer of 2500 files. It is pushed with skopeo to a
 * docker-registry on 127.0.0.1 (a free port; the process is killed by PID at the end).
 *
 * Timed per repetition, berth and peer interleaved, each from an empty destination:
 *   berth  `node dist/bundle/berth.mjs image pull --render REF` (process start to exit: manifest,
 *          config, layers in parallel into the content store, verified, then rendered)
 *   lib    the same through the library in this process (no Node start-up): pull, render
 *   peer   `skopeo copy docker://REF oci:DIR:tag` + `umoci unpack --image DIR:tag BUNDLE`
 *   re-render  render of an image already rendered (the cached tree; what every pod start
 *          after the first does, before the per-execution overlay)
 * Results: a table and ratios on stdout, JSON in bench/results/pull.json. Needs root (umoci
 * unpack as root, like berth's render). Everything is under /tmp/berth-bench-pull-*.
 */
/* global process, fetch, setTimeout, Buffer */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { must, median, r1, stats } from './lib/proc.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(REPO, 'dist/bundle/berth.mjs');

function option(flag, env, dflt) {
  const i = process.argv.indexOf(flag);
  if (i > 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1];
  return process.env[env] ?? dflt;
}
const reps = Number(String(option('--reps', 'BENCH_PULL_REPS', '3')).split(',')[0]); // run.mjs may pass pod-start's list
const layers = Number(option('--layers', 'BENCH_PULL_LAYERS', '4'));
const filesPerLayer = Number(option('--files', 'BENCH_PULL_FILES', '2500'));
const outFile = resolve(REPO, option('--out', 'BENCH_PULL_OUT', 'bench/results/pull.json'));
const keep = process.argv.includes('--keep');
const say = (...a) => process.stderr.write(`${a.join(' ')}\n`);

let sandbox;
let registry;

async function cleanup() {
  if (registry && registry.exitCode === null) {
    try {
      process.kill(registry.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (sandbox && !keep) await rm(sandbox, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  cleanup().finally(() => process.exit(130));
});

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
    s.on('error', rej);
  });
}

async function waitUp(url) {
  for (let i = 0; i < 200; i++) {
    try {
      await (await fetch(url)).arrayBuffer();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${url} did not come up`);
}

/** Files of one layer: 1–16 KiB, half random, half text, in nested directories. */
async function writeFiles(root, layer) {
  const words = 'berth registry layer content store digest verify render overlay manifest index '.repeat(200);
  let bytes = 0;
  for (let i = 0; i < filesPerLayer; i++) {
    const dir = join(root, 'data', `l${layer}`, `d${i % 50}`);
    if (i < 50) await mkdir(dir, { recursive: true });
    const size = 1024 + ((i * 7919) % (15 * 1024));
    const body = i % 2 ? randomBytes(size) : Buffer.from(words.slice(0, size));
    await writeFile(join(dir, `f${i}.bin`), body);
    bytes += size;
  }
  return bytes;
}

async function buildImage(dir) {
  const layout = join(dir, 'oci');
  const bundle = join(dir, 'bundle');
  await must('umoci', ['init', '--layout', layout]);
  await must('umoci', ['new', '--image', `${layout}:v1`]);
  let total = 0;
  for (let l = 0; l < layers; l++) {
    await rm(bundle, { recursive: true, force: true });
    await must('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
    total += await writeFiles(join(bundle, 'rootfs'), l);
    await must('umoci', ['repack', '--image', `${layout}:v1`, bundle]);
  }
  await must('umoci', ['config', '--image', `${layout}:v1`, '--config.cmd', '/bin/sh', '--os', 'linux', '--architecture', 'amd64']);
  await must('umoci', ['gc', '--layout', layout]);
  await rm(bundle, { recursive: true, force: true });
  return { layout, rawBytes: total, files: layers * filesPerLayer };
}

const ms = (t0) => performance.now() - t0;

async function main() {
  if (process.getuid?.() !== 0) throw new Error('bench/pull.mjs needs root (umoci unpack and berth render as root)');
  sandbox = await mkdtemp(join(tmpdir(), 'berth-bench-pull-'));
  say(`sandbox ${sandbox}`);
  say(`building the image: ${layers} layers × ${filesPerLayer} files (umoci)`);
  const img = await buildImage(sandbox);

  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  await writeFile(join(sandbox, 'registry.yml'), `version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: ${join(sandbox, 'registry')}}}\nhttp: {addr: ${host}}\n`);
  registry = spawn('docker-registry', ['serve', join(sandbox, 'registry.yml')], { stdio: 'ignore' });
  await waitUp(`http://${host}/v2/`);
  const ref = `${host}/berth-bench/pull:v1`;
  await must('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${img.layout}:v1`, `docker://${ref}`]);
  const configDir = join(sandbox, 'config');
  await mkdir(configDir, { recursive: true });
  await writeFile(join(configDir, 'registries.conf'), `[[registry]]\nlocation = "${host}"\ninsecure = true\n`);

  const lib = await import(join(REPO, 'dist/image/index.js'));
  const rows = { berth: [], lib: [], libPull: [], libRender: [], peer: [], peerCopy: [], peerUnpack: [], rerender: [] };
  let compressed = 0;
  for (let i = 0; i < reps + 1; i++) {
    const warm = i === 0;
    const d = join(sandbox, `rep${i}`);
    await mkdir(d, { recursive: true });
    // berth CLI
    let t0 = performance.now();
    await must(process.execPath, [CLI, 'image', 'pull', '--render', '-q', ref, '--state-dir', join(d, 'state-cli'), '--config-dir', configDir]);
    const tCli = ms(t0);
    // peer: skopeo + umoci
    t0 = performance.now();
    await must('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(d, 'peer-oci')}:v1`]);
    const tCopy = ms(t0);
    const t1 = performance.now();
    await must('umoci', ['unpack', '--image', `${join(d, 'peer-oci')}:v1`, join(d, 'peer-bundle')]);
    const tUnpack = ms(t1);
    // library, in process
    const svc = lib.createImageService({ stateDir: join(d, 'state-lib'), configDir });
    t0 = performance.now();
    const pulled = await svc.pull(ref);
    const tPull = ms(t0);
    const t2 = performance.now();
    await svc.render(pulled);
    const tRender = ms(t2);
    const t3 = performance.now();
    await svc.render(pulled);
    const tRe = ms(t3);
    compressed = pulled.layers.reduce((a, l) => a + l.size, 0);
    say(`rep ${warm ? 'warm-up' : i}: berth cli ${r1(tCli)} ms | lib pull ${r1(tPull)} + render ${r1(tRender)} ms | skopeo ${r1(tCopy)} + umoci ${r1(tUnpack)} ms | re-render ${r1(tRe)} ms`);
    if (!warm) {
      rows.berth.push(tCli);
      rows.lib.push(tPull + tRender);
      rows.libPull.push(tPull);
      rows.libRender.push(tRender);
      rows.peer.push(tCopy + tUnpack);
      rows.peerCopy.push(tCopy);
      rows.peerUnpack.push(tUnpack);
      rows.rerender.push(tRe);
    }
    await rm(d, { recursive: true, force: true });
  }
  const s = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, stats(v)]));
  const ratio = (a, b) => Math.round((median(rows[a]) / median(rows[b])) * 1000) / 1000;
  const result = {
    bench: 'pull',
    date: new Date().toISOString(),
    host: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version },
    image: { layers, files: img.files, rawBytes: img.rawBytes, compressedBytes: compressed },
    reps,
    ms: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, { median: r1(v.median), min: r1(v.min), max: r1(v.max), n: v.n }])),
    ratios: {
      berthCliVsPeer: ratio('berth', 'peer'),
      berthLibVsPeer: ratio('lib', 'peer'),
      pullVsSkopeoCopy: ratio('libPull', 'peerCopy'),
      renderVsUmociUnpack: ratio('libRender', 'peerUnpack'),
      rerenderVsRender: ratio('rerender', 'libRender'),
    },
  };
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, `${JSON.stringify(result, null, 2)}\n`);
  const line = (name, k) => `${name.padEnd(44)} ${String(r1(s[k].median)).padStart(9)} ms  (min ${r1(s[k].min)}, max ${r1(s[k].max)})`;
  process.stdout.write(
    [
      `pull of ${layers} layers, ${img.files} files, ${(img.rawBytes / 1e6).toFixed(1)} MB raw / ${(compressed / 1e6).toFixed(1)} MB gzip, from docker-registry on 127.0.0.1; median of ${reps}`,
      line('berth image pull --render (CLI, process)', 'berth'),
      line('berth library: pull + render', 'lib'),
      line('  pull (registry → verified store)', 'libPull'),
      line('  render (store → rootfs)', 'libRender'),
      line('skopeo copy + umoci unpack', 'peer'),
      line('  skopeo copy docker:// → oci:', 'peerCopy'),
      line('  umoci unpack', 'peerUnpack'),
      line('re-render of a rendered image (cached tree)', 'rerender'),
      `ratios (berth / peer): CLI ${result.ratios.berthCliVsPeer}, library ${result.ratios.berthLibVsPeer}; pull vs skopeo copy ${result.ratios.pullVsSkopeoCopy}; render vs umoci unpack ${result.ratios.renderVsUmociUnpack}; re-render / render ${result.ratios.rerenderVsRender}`,
      `results: ${outFile}`,
      '',
    ].join('\n'),
  );
}

main()
  .then(cleanup)
  .catch(async (err) => {
    say(`bench/pull failed: ${err.stack ?? err}`);
    await cleanup();
    process.exit(1);
  });
