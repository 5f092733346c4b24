/**
 * Small process helpers for the benchmarks: spawn with stdin/out collected, a timer, and
 * statistics. Plain Node, no dependencies, so the benches run without a TypeScript build.
 */
/* global process, setTimeout */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/**
 * Run a command to completion. `stdout`/`stderr` are collected unless given as 'ignore' or a
 * file descriptor. Resolves on 'exit' (not 'close'): a detached container or monitor that
 * inherits a pipe must not make the caller wait for it.
 */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const stdio = [opts.input !== undefined ? 'pipe' : 'ignore', opts.stdout ?? 'pipe', opts.stderr ?? 'pipe'];
    const child = spawn(cmd, args, { stdio, env: opts.env ?? process.env, cwd: opts.cwd });
    if (opts.onSpawn) opts.onSpawn(child);
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr?.setEncoding('utf8').on('data', (d) => (err += d));
    child.on('error', reject);
    if (opts.input !== undefined) child.stdin.end(opts.input);
    // 'exit' can come before the last 'data' of our own pipes; wait for them only when the
    // child is the only writer (close), with a short fallback when something else holds them.
    child.on('exit', (code, signal) => {
      const ms = performance.now() - t0;
      const done = () => resolve({ code: code ?? (signal ? 128 : -1), signal, stdout: out, stderr: err, ms, pid: child.pid });
      if (opts.waitClose === false || (!child.stdout && !child.stderr)) return done();
      let settled = false;
      const fin = () => {
        if (!settled) {
          settled = true;
          done();
        }
      };
      child.on('close', fin);
      setTimeout(fin, 200).unref();
    });
  });
}

/** run(), throwing with stderr on a non-zero exit (unless allowFail). */
export async function must(cmd, args, opts = {}) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
  }
  return r;
}

export const now = () => performance.now();

export function median(xs) {
  const a = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (a.length === 0) return NaN;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

export function stats(xs) {
  const a = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  return { n: a.length, median: median(a), min: a[0] ?? NaN, max: a[a.length - 1] ?? NaN };
}

export const r1 = (x) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : null);
