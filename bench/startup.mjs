#!/usr/bin/env node
/* global process, console */
/**
 * Start-up (issue 11 items 1 and 5): `berth --version`, `berth status` on an empty
 * installation, `berth help` and `berth reconcile --once` on an empty spec directory against
 * `node -e 0`, whole processes, alternating, medians; prints each ratio to `node -e 0` (goal:
 * --version and status within 2×). With `--compare OTHER/berth.mjs` the same command lines of
 * another build run in the same rounds (before/after), each with the ratio to this build's.
 * Also the mean CPU time (user + system) per run, which a loaded machine inflates less than
 * the wall clock (Linux: the children's times in /proc/self/stat). Build first (`npm run build`).
 *   node bench/startup.mjs [--reps N] [--compare PATH]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { option } from './lib/common.mjs';

const BERTH = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bundle', 'berth.mjs');
const REPS = Number(option('--reps', 'BENCH_REPS', '30'));
const COMPARE = option('--compare', 'BENCH_COMPARE', undefined);
const dir = mkdtempSync(join(tmpdir(), 'berth-bench-startup-'));
mkdirSync(join(dir, 'specs'));
// every path of the installation in the temporary directory (reconcile --once writes its state there)
const paths = ['config', 'state', 'run', 'log', 'netns', 'cni-conf'].flatMap((d) => [`--${d}-dir`, join(dir, d)]);
const lines = {
  '--version': ['--version'],
  status: ['status', ...paths],
  help: ['help'],
  'reconcile --once': [...paths, 'reconcile', '--once', '--spec-dir', join(dir, 'specs'), '--log-format', 'json'],
};
const cases = { 'node -e 0': ['-e', '0'] };
for (const [name, args] of Object.entries(lines)) cases[`berth ${name}`] = [BERTH, ...args];
if (COMPARE) for (const [name, args] of Object.entries(lines)) cases[`other ${name}`] = [resolve(COMPARE), ...args];
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const cpu = Object.fromEntries(Object.keys(cases).map((k) => [k, 0]));
/** CPU ms of the waited-for children so far (cutime + cstime, in clock ticks of 10 ms); undefined off Linux. */
const childrenCpuMs = () => {
  try {
    const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(f[13]) + Number(f[14])) * 10;
  } catch {
    return undefined;
  }
};
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const round2 = (x) => Math.round(x * 100) / 100;
try {
  const load = [loadavg()[0]];
  for (let i = 0; i < REPS + 2; i++) {
    for (const [name, args] of Object.entries(cases)) {
      const c = childrenCpuMs();
      const t = process.hrtime.bigint();
      const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (r.status !== 0) throw new Error(`${name} exited ${r.status}: ${r.stderr}`);
      if (i < 2) continue; // two warm-up rounds (page cache)
      times[name].push(ms);
      if (c !== undefined) cpu[name] += childrenCpuMs() - c;
    }
  }
  load.push(loadavg()[0]);
  const base = median(times['node -e 0']);
  const rows = Object.entries(times).map(([name, t]) => {
    const row = { name, medianMs: Math.round(median(t)), ratio: round2(median(t) / base), cpuMs: Math.round(cpu[name] / REPS) };
    const mine = name.replace(/^other/, 'berth');
    if (mine !== name) {
      row.vsThisBuild = round2(median(t) / median(times[mine]));
      row.cpuVsThisBuild = round2(cpu[name] / cpu[mine]);
    }
    return row;
  });
  for (const r of rows)
    console.log(
      `${r.name.padEnd(24)} ${String(r.medianMs).padStart(5)} ms  ${r.ratio.toFixed(2)}× node -e 0  cpu ${String(r.cpuMs).padStart(4)} ms` +
        (r.vsThisBuild ? `  ${r.vsThisBuild.toFixed(2)}× this build (cpu ${r.cpuVsThisBuild.toFixed(2)}×)` : ''),
    );
  console.log(JSON.stringify({ bench: 'startup', reps: REPS, loadavg: load, ...(COMPARE ? { compare: COMPARE } : {}), rows }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
