#!/usr/bin/env node
/* global process */
/**
 * Run every benchmark in bench/ one after the other (startup, pod-start, daemon, cni, pull, aci-render, bundle-defaults). Arguments after
 * `--` go to each benchmark, e.g. `node bench/run.mjs -- --reps 3,2`. Exit status: non-zero
 * when any benchmark failed.
 *   npm run build && node bench/run.mjs
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const BENCHES = ['startup.mjs', 'pod-start.mjs', 'daemon.mjs', 'cni.mjs', 'pull.mjs', 'aci-render.mjs', 'bundle-defaults.mjs'];
const sep = process.argv.indexOf('--');
const extra = sep >= 0 ? process.argv.slice(sep + 1) : [];
// Ctrl-C reaches the benchmark too (same process group); let it clean up before we exit
process.on('SIGINT', () => undefined);
let failed = 0;
for (const b of BENCHES) {
  process.stderr.write(`== ${b}\n`);
  const r = spawnSync(process.execPath, [join(HERE, b), ...extra], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`== ${b} failed (${r.status ?? r.signal})\n`);
  }
}
process.exit(failed ? 1 : 0);
