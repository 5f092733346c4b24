#!/usr/bin/env node
/* global process, console */
/**
 * What loading berth costs before it does anything: import each runtime dependency, then
 * each layer of dist/, one after the other in one fresh process, and print the time each
 * import adds (shared modules count where first loaded). JSON on stdout.
 *   node bench/lib/import-cost.mjs [BERTH_TREE]
 */
import { performance } from 'node:perf_hooks';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// the berth tree to load: argv[2] (a snapshot with dist/ and node_modules), default this repo
const REPO = process.argv[2] ?? resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const deps = ['commander', 'execa', 'pino', 'xstate', 'zod', 'yaml', 'ip-num', 'chokidar', 'tar-stream'];
const layers = [
  'common/index.js',
  'api/index.js',
  'image/index.js',
  'cni/index.js',
  'runtime/index.js',
  'state-machines/pod.machine.js',
  'reconciler/index.js',
  'cli/wire.js',
].map((l) => pathToFileURL(join(REPO, 'dist', l)).href);
const out = { processUptimeAtStartMs: Math.round(process.uptime() * 1000), imports: {} };
const t0 = performance.now();
for (const m of [...deps, ...layers]) {
  const t = performance.now();
  try {
    await import(m);
    out.imports[m.replace(/^file:.*\/dist\//, 'dist/')] = Math.round((performance.now() - t) * 10) / 10;
  } catch (err) {
    out.imports[m] = `error: ${err.message}`;
  }
}
out.totalMs = Math.round((performance.now() - t0) * 10) / 10;
console.log(JSON.stringify(out));
