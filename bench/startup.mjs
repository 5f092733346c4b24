#!/usr/bin/env node
/* global process, console */
/**
 * Start-up (issue 11 item 5): `berth --version`, `berth status` on an empty installation and
 * `berth help` against `node -e 0`, whole processes, alternating, medians; prints each ratio
 * to `node -e 0` (goal: --version and status within 2×). Build first (`npm run build`).
 *   node bench/startup.mjs [--reps N]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BERTH = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bundle', 'berth.mjs');
const repsAt = process.argv.indexOf('--reps');
const REPS = repsAt > 0 ? Number(process.argv[repsAt + 1]) : 30;
const dir = mkdtempSync(join(tmpdir(), 'berth-bench-startup-'));
const paths = [
  '--state-dir',
  join(dir, 'state'),
  '--run-dir',
  join(dir, 'run'),
  '--spec-dir',
  join(dir, 'specs'),
  '--log-dir',
  join(dir, 'log'),
];
const cases = {
  'node -e 0': ['-e', '0'],
  'berth --version': [BERTH, '--version'],
  'berth status': [BERTH, 'status', ...paths],
  'berth help': [BERTH, 'help'],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
try {
  for (let i = 0; i < REPS + 2; i++) {
    for (const [name, args] of Object.entries(cases)) {
      const t = process.hrtime.bigint();
      const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (r.status !== 0) throw new Error(`${name} exited ${r.status}: ${r.stderr}`);
      if (i >= 2) times[name].push(ms); // two warm-up rounds (page cache)
    }
  }
  const base = median(times['node -e 0']);
  const rows = Object.entries(times).map(([name, t]) => ({
    name,
    medianMs: Math.round(median(t)),
    ratio: Math.round((median(t) / base) * 100) / 100,
  }));
  for (const r of rows) console.log(`${r.name.padEnd(16)} ${String(r.medianMs).padStart(5)} ms  ${r.ratio.toFixed(2)}× node -e 0`);
  console.log(JSON.stringify({ bench: 'startup', reps: REPS, loadavg: (await import('node:os')).loadavg()[0], rows }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
