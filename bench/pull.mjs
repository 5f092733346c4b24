#!/usr/bin/env node
/**
 * Pull from a registry into the store and to a rendered rootfs: berth next to
 * `skopeo copy docker://… oci:…` + `umoci unpack` of the same image, in the same run.
 *
 *   npm run build && node bench/pull.mjs [--reps 3] [--layers 4] [--files 2500] [--out bench/results/pull.json] [--keep]
 *   npm run build && node bench/pull.mjs --pull-only [--reps 5]   (issue 11 item 4: the pull alone)
 *   [--port N] (BENCH_PULL_PORT): the registry's port on 127.0.0.1 instead of a free one
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
 * --pull-only: no render and no umoci; per repetition, in alternating order, `berth image pull`
 * (CLI), the library's pull, and `skopeo copy docker://REF oci:DIR:tag`, each into an empty
 * destination; the registry's access log counts the blob GETs of each library pull (each blob
 * must be downloaded once). JSON in bench/results/pull-only.json unless --out is given.
 * Results: a table and ratios on stdout, JSON in bench/results/pull.json. Needs root (umoci
 * unpack as root, like berth's render). Everything is under /tmp/berth-bench-pull-*.
 */
/* global process, fetch, setTimeout, Buffer */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { openSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { option, say } from './lib/common.mjs';
import { must, median, r1, stats } from './lib/proc.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(REPO, 'dist/bundle/berth.mjs');

const reps = Number(String(option('--reps', 'BENCH_PULL_REPS', '3')).split(',')[0]); // run.mjs may pass pod-start's list
const layers = Number(option('--layers', 'BENCH_PULL_LAYERS', '4'));
const filesPerLayer = Number(option('--files', 'BENCH_PULL_FILES', '2500'));
const pullOnly = process.argv.includes('--pull-only');
const outFile = resolve(REPO, option('--out', 'BENCH_PULL_OUT', pullOnly ? 'bench/results/pull-only.json' : 'bench/results/pull.json'));
const keep = process.argv.includes('--keep');
const fixedPort = Number(option('--port', 'BENCH_PULL_PORT', '0')); // 0: a free port

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

  const port = fixedPort || (await freePort());
  const host = `127.0.0.1:${port}`;
  const accessLog = join(sandbox, 'registry.log');
  const logCfg = pullOnly ? 'log: {level: error, accesslog: {disabled: false}}' : 'log: {level: error, accesslog: {disabled: true}}';
  await writeFile(
    join(sandbox, 'registry.yml'),
    `version: 0.1\n${logCfg}\nstorage: {filesystem: {rootdirectory: ${join(sandbox, 'registry')}}}\nhttp: {addr: ${host}}\n`,
  );
  const logFd = openSync(accessLog, 'a');
  registry = spawn('docker-registry', ['serve', join(sandbox, 'registry.yml')], { stdio: ['ignore', logFd, logFd] });
  await waitUp(`http://${host}/v2/`);
  const ref = `${host}/berth-bench/pull:v1`;
  await must('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${img.layout}:v1`, `docker://${ref}`]);
  const configDir = join(sandbox, 'config');
  await mkdir(configDir, { recursive: true });
  await writeFile(join(configDir, 'registries.conf'), `[[registry]]\nlocation = "${host}"\ninsecure = true\n`);

  const lib = await import(join(REPO, 'dist/image/index.js'));
  if (pullOnly) return pullOnlyRuns(lib, ref, configDir, accessLog, img);
  const rows = { berth: [], lib: [], libPull: [], libRender: [], peer: [], peerCopy: [], peerUnpack: [], rerender: [] };
  let compressed = 0;
  for (let i = 0; i < reps + 1; i++) {
    const warm = i === 0;
    const d = join(sandbox, `rep${i}`);
    await mkdir(d, { recursive: true });
    // berth CLI
    let t0 = performance.now();
    await must(process.execPath, [
      CLI,
      'image',
      'pull',
      '--render',
      '-q',
      ref,
      '--state-dir',
      join(d, 'state-cli'),
      '--config-dir',
      configDir,
    ]);
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
    say(
      `rep ${warm ? 'warm-up' : i}: berth cli ${r1(tCli)} ms | lib pull ${r1(tPull)} + render ${r1(tRender)} ms | skopeo ${r1(tCopy)} + umoci ${r1(tUnpack)} ms | re-render ${r1(tRe)} ms`,
    );
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

/** Blob GETs answered 200 in the access log after `offset` bytes, by digest. */
async function blobGets(accessLog, offset) {
  const text = (await readFile(accessLog, 'utf8')).slice(offset);
  const counts = new Map();
  for (const m of text.matchAll(/"GET \/v2\/[^ ]+\/blobs\/(sha256:[a-f0-9]{64}) HTTP\/[0-9.]+" 200/g))
    counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
  return counts;
}

async function pullOnlyRuns(lib, ref, configDir, accessLog, img) {
  const rows = { cli: [], lib: [], skopeo: [] };
  const load = [loadavg()[0]];
  let compressed = 0;
  let blobs = 0;
  let repeated = 0;
  for (let i = 0; i < reps + 1; i++) {
    const warm = i === 0;
    const d = join(sandbox, `rep${i}`);
    await mkdir(d, { recursive: true });
    const runs = {
      cli: async () =>
        must(process.execPath, [CLI, 'image', 'pull', '-q', ref, '--state-dir', join(d, 'state-cli'), '--config-dir', configDir]),
      lib: async () => {
        const before = (await readFile(accessLog)).length;
        const svc = lib.createImageService({ stateDir: join(d, 'state-lib'), configDir });
        const t0 = performance.now();
        const pulled = await svc.pull(ref);
        const t = ms(t0);
        await new Promise((r) => setTimeout(r, 200)); // the access log line of the last blob
        const gets = await blobGets(accessLog, before);
        compressed = pulled.layers.reduce((a, l) => a + l.size, 0);
        blobs = gets.size;
        repeated = Math.max(repeated, ...[...gets.values()].map((n) => n - 1));
        return t;
      },
      skopeo: async () =>
        must('skopeo', ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(d, 'peer-oci')}:v1`]),
    };
    // alternate who goes first: the page cache and the registry warm up for whoever comes second
    const order = i % 2 ? ['skopeo', 'lib', 'cli'] : ['cli', 'lib', 'skopeo'];
    const took = {};
    for (const k of order) {
      const t0 = performance.now();
      const r = await runs[k]();
      took[k] = k === 'lib' ? r : ms(t0);
    }
    load.push(loadavg()[0]);
    say(
      `rep ${warm ? 'warm-up' : i} (${order.join(', ')}): berth cli ${r1(took.cli)} ms | lib pull ${r1(took.lib)} ms (${blobs} blobs, ${repeated} fetched twice) | skopeo copy ${r1(took.skopeo)} ms`,
    );
    if (!warm) for (const k of Object.keys(rows)) rows[k].push(took[k]);
    await rm(d, { recursive: true, force: true });
  }
  const s = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, stats(v)]));
  const ratio = (a, b) => Math.round((median(rows[a]) / median(rows[b])) * 1000) / 1000;
  const result = {
    bench: 'pull-only',
    date: new Date().toISOString(),
    host: {
      cpus: cpus().length,
      memGiB: Math.round(totalmem() / 2 ** 30),
      kernel: release(),
      node: process.version,
      loadavg1: { min: Math.min(...load), max: Math.max(...load) },
    },
    image: {
      layers,
      files: img.files,
      rawBytes: img.rawBytes,
      compressedBytes: compressed,
      blobsFetchedByLib: blobs,
      blobsFetchedMoreThanOnce: repeated,
    },
    reps,
    ms: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, { median: r1(v.median), min: r1(v.min), max: r1(v.max), n: v.n }])),
    ratios: { cliVsSkopeoCopy: ratio('cli', 'skopeo'), libVsSkopeoCopy: ratio('lib', 'skopeo') },
  };
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, `${JSON.stringify(result, null, 2)}\n`);
  const line = (name, k) => `${name.padEnd(44)} ${String(r1(s[k].median)).padStart(9)} ms  (min ${r1(s[k].min)}, max ${r1(s[k].max)})`;
  process.stdout.write(
    [
      `pull only: ${layers} layers, ${img.files} files, ${(compressed / 1e6).toFixed(1)} MB gzip, from docker-registry on 127.0.0.1; median of ${reps}, load average ${Math.min(...load).toFixed(2)}–${Math.max(...load).toFixed(2)}`,
      line('berth image pull (CLI, process)', 'cli'),
      line('berth library pull (registry → verified store)', 'lib'),
      line('skopeo copy docker:// → oci:', 'skopeo'),
      `ratios: CLI / skopeo ${result.ratios.cliVsSkopeoCopy}, library / skopeo ${result.ratios.libVsSkopeoCopy}; ${blobs} blobs per library pull, ${repeated ? `${repeated} fetched more than once` : 'each fetched once'}`,
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
