#!/usr/bin/env node
/**
 * The daemon (`berth reconcile`, running all along), image cached, next to the bare steps:
 *
 * 1. reaction: spec files written to a staging dir, then renamed into the spec dir (1 file,
 *    and 20 files renamed at once) → every app running; bare: netns + CNI + overlay +
 *    `crun run` of the same pods, sequential, as in pod-start.
 * 2. one container change: a pod of two apps, one app's env changed (rename of the new file)
 *    → the changed app running again; whether the other app kept its PID; bare: stop + start
 *    of that one container (kill, wait, delete, umount, overlay, config.json, run).
 * 3. idle: 100 pods, CPU (% of one core, /proc/PID/stat) and RSS (VmRSS) of the daemon over
 *    a window; then one file changed: which pods saw work (log lines, runtime and CNI calls).
 *
 * "Running" is observed outside berth: every app prints `started` first thing, and the time
 * is the timestamp conmon gives that line in the app's CRI log (the process had exec'd and
 * written). Also recorded: when the daemon's own GET /status on `<run>/berth.sock` first shows
 * the pods Running (what a client of the socket sees; that document is refreshed on a 2 s tick).
 *
 *   npm run build && node bench/daemon.mjs [--parts reaction,change,idle] [--sizes 1,20]
 *        [--reps 5,3] [--change-reps 5] [--idle-pods 100] [--idle-seconds 60]
 *        [--log-level info] [--cpu-prof DIR] [--out bench/results/daemon.json] [--keep]
 *
 * `--cpu-prof DIR`: the idle window is measured on a second daemon started under
 * `node --cpu-prof` once the pods run (it adopts them); its profile goes to DIR when it stops.
 *
 * Needs root. Host objects carry BENCH_NAME (default berth-bench; BENCH_SUBNET default
 * 10.214.0.0/16, so that two benches can run side by side): bridge <name>0, sandbox
 * /tmp/<name>-*, bare netns and containers <name>-bare-<i>[-<app>], cgroups /<name>/…; the
 * pods' own objects are named by berth (berth-<pod id>) and checked by pod id. Everything is
 * removed on success, failure and SIGINT.
 */
/* global process */
import { mkdtemp, mkdir, writeFile, readFile, readdir, rm, rename, open, stat, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { machineInfo, option, say, snapshotDist, sleep, networkYaml, restoreIpForward, versions } from './lib/common.mjs';
import { run, must, median, r1 } from './lib/proc.mjs';
import {
  BareRun,
  BRIDGE,
  BENCH_NAME,
  CNI_DIR,
  crunNeedsWrapper,
  writeCrunWrapper,
  networkList,
  specTemplate,
  removeBridge,
  removeCgroupParents,
} from './lib/bare.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BUILT_CLI = join(REPO, 'dist/bundle/berth.mjs');
let CLI = BUILT_CLI;
const SUBNET = process.env.BENCH_SUBNET || '10.214.0.0/16';
const NETWORK = BENCH_NAME;
// `started` first, so that conmon's timestamp of that line says when the app ran; $0 (the
// last argv word) names the app, so that its host PID can be found in /proc.
const APP_SCRIPT = 'echo started; trap "exit 0" TERM; while true; do sleep 1 & wait $!; done';
const CLK_TCK = 100;

// ---------------------------------------------------------------- options
const parts = option('--parts', 'BENCH_PARTS', 'reaction,change,idle').split(',');
const sizes = option('--sizes', 'BENCH_SIZES', '1,20').split(',').map(Number);
const repsList = option('--reps', 'BENCH_REPS', '5,3').split(',').map(Number);
const repsFor = (k) => repsList[Math.min(k, repsList.length - 1)];
const changeReps = Number(option('--change-reps', 'BENCH_CHANGE_REPS', '5'));
const idlePods = Number(option('--idle-pods', 'BENCH_IDLE_PODS', '100'));
const idleSeconds = Number(option('--idle-seconds', 'BENCH_IDLE_SECONDS', '60'));
const logLevel = option('--log-level', 'BENCH_LOG_LEVEL', 'info');
const cpuProf = option('--cpu-prof', 'BENCH_CPU_PROF', '');
const outFile = resolve(REPO, option('--out', 'BENCH_OUT', 'bench/results/daemon.json'));
const keep = process.argv.includes('--keep');

/** wall clock in ms with sub-ms precision (the CRI timestamps are wall clock too) */
const wall = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------- sandbox
let sandbox;
let specDir;
let stagingDir;
let berthArgs;
let layout;
let daemon; // { child, pid, logPath, socket }
let bareActive;
const berthPodIds = new Set();

async function waitFor(what, fn, timeoutMs, everyMs = 20) {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (performance.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

function getSock(path) {
  return new Promise((resolve2) => {
    const req = request({ socketPath: daemon.socket, path, method: 'GET', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve2({ status: res.statusCode, body }));
    });
    req.on('error', () => resolve2({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function writeNetwork() {
  await writeFile(
    join(specDir, '00-network.yaml'),
    networkYaml({ name: NETWORK, bridge: BRIDGE, subnet: SUBNET, ipamDir: join(sandbox, 'ipam'), hairpin: true }),
  );
}

/** A pod of the given apps; `env` per app name (`{ b: { V: '1' } }`). */
function podYaml(name, image, apps = ['app'], env = {}) {
  const cs = apps.map((a) => {
    const e = Object.entries(env[a] ?? {});
    const envYaml = e.length ? `\n      env: [${e.map(([k, v]) => `{name: ${k}, value: "${v}"}`).join(', ')}]` : '';
    return `    - name: ${a}
      image: ${image}
      command: [sh, -c, ${JSON.stringify(APP_SCRIPT)}, ${name}-${a}]${envYaml}`;
  });
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
${cs.join('\n')}
`;
}

/** Write every file to the staging dir, then rename them all into the spec dir; returns the wall time just before the first rename. */
async function publish(files) {
  for (const [name, text] of files) await writeFile(join(stagingDir, name), text);
  const t0 = wall();
  for (const [name] of files) await rename(join(stagingDir, name), join(specDir, name));
  return t0;
}

// ---------------------------------------------------------------- observation
/** CRI timestamp (RFC 3339 with ns) → wall ms with sub-ms precision. */
function criMs(ts) {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$/.exec(ts);
  if (!m) return NaN;
  return Date.parse(`${m[1]}${m[3]}`) + (m[2] ? Number(`0${m[2]}`) * 1000 : 0);
}

/** Times of every `started` line of pod `name`'s app `app` (all executions, every uid), ascending. */
async function startedTimes(name, app) {
  const out = [];
  let dirs = [];
  try {
    dirs = (await readdir(layout.logDir)).filter((d) => d.startsWith(`default_${name}_`));
  } catch {
    return out;
  }
  for (const d of dirs) {
    let files = [];
    try {
      files = (await readdir(join(layout.logDir, d, app))).filter((f) => f.endsWith('.log'));
    } catch {
      continue;
    }
    for (const f of files) {
      const text = await readFile(join(layout.logDir, d, app, f), 'utf8').catch(() => '');
      for (const line of text.split('\n')) {
        const m = /^(\S+) stdout F started$/.exec(line);
        if (m) out.push(criMs(m[1]));
      }
    }
  }
  return out.sort((a, b) => a - b);
}

/** Wait until every (pod, app) has a `started` line after `since`; returns the latest of the first such lines. */
async function waitStarted(pairs, since, timeoutMs) {
  const seen = new Map();
  await waitFor(
    `${pairs.length} apps to print started`,
    async () => {
      for (const [name, app] of pairs) {
        const k = `${name}/${app}`;
        if (seen.has(k)) continue;
        const t = (await startedTimes(name, app)).find((x) => x >= since);
        if (t !== undefined) seen.set(k, t);
      }
      return seen.size === pairs.length;
    },
    timeoutMs,
    20,
  );
  return Math.max(...seen.values());
}

/** First time GET /status shows every named pod Running with every app running (polled every 50 ms). */
async function waitStatusRunning(names, timeoutMs) {
  return waitFor(
    `/status to show ${names.length} pods Running`,
    async () => {
      const r = await getSock('/status');
      if (r.status !== 200) return false;
      const pods = JSON.parse(r.body).pods ?? [];
      for (const p of pods) if (p.uid) berthPodIds.add(p.uid.replace(/-/g, '').slice(0, 12));
      const ok = names.every((n) => pods.some((p) => p.name === n && p.status === 'Running' && p.apps.every((a) => a.state === 'running')));
      return ok ? wall() : false;
    },
    timeoutMs,
    50,
  );
}

/**
 * Host PIDs of processes whose last argv word is `token` (the apps' $0), without the shell's
 * own forks (`sleep 1 &` is a copy of the shell until it execs): those whose parent matches too.
 */
async function pidsOf(token) {
  const found = new Map();
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    const argv = cmd.split('\0').filter(Boolean);
    if (argv[0] !== 'sh' || argv[argv.length - 1] !== token) continue;
    const st = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    found.set(Number(e), Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]));
  }
  return [...found].filter(([, ppid]) => !found.has(ppid)).map(([pid]) => pid);
}

/** Every berth pod dir is gone and the bridge with it (the daemon's teardown finished). */
async function waitNoPods(timeoutMs) {
  const t0 = wall();
  await waitFor(
    'the daemon to remove every pod',
    async () => {
      const dirs = await readdir(join(layout.stateDir, 'pods')).catch(() => []);
      return dirs.length === 0 && !existsSync(`/sys/class/net/${BRIDGE}`);
    },
    timeoutMs,
    25,
  );
  return wall() - t0;
}

async function removePodFiles() {
  for (const f of await readdir(specDir)) if (f.startsWith('pod-')) await rm(join(specDir, f), { force: true });
}

// ---------------------------------------------------------------- the daemon
async function startDaemonProc(tag, { env = process.env, extraNode = [], extraArgs = [] } = {}) {
  const logPath = join(sandbox, 'logs', `daemon-${tag}.ndjson`);
  const fh = await open(logPath, 'w');
  const child = spawn(
    process.execPath,
    [...extraNode, CLI, 'reconcile', '--log-level', logLevel, '--log-format', 'json', ...extraArgs, ...berthArgs],
    { stdio: ['ignore', fh.fd, fh.fd], env },
  );
  await fh.close();
  daemon = { child, pid: child.pid, logPath, socket: join(layout.runDir, 'berth.sock'), exited: false };
  child.on('exit', () => (daemon && daemon.child === child ? (daemon.exited = true) : undefined));
  const t0 = wall();
  await waitFor(
    'the daemon to answer /readyz',
    async () => {
      if (daemon.exited) throw new Error(`daemon exited: ${(await readFile(logPath, 'utf8')).slice(-2000)}`);
      return (await getSock('/readyz')).status === 200;
    },
    30_000,
    25,
  );
  return wall() - t0;
}

async function stopDaemonProc() {
  if (!daemon || daemon.exited) return;
  const d = daemon;
  const gone = new Promise((r) => d.child.once('exit', r));
  process.kill(d.pid, 'SIGTERM');
  await Promise.race([gone, sleep(30_000)]);
  if (!d.exited) {
    say(`daemon ${d.pid} did not stop on SIGTERM within 30 s: SIGKILL`);
    process.kill(d.pid, 'SIGKILL');
    await gone;
  }
}

/** NDJSON lines of the daemon's log from byte offset `from` (to `to`). */
async function logLines(path, from = 0, to = Infinity) {
  const buf = await readFile(path);
  const out = [];
  for (const line of buf.subarray(from, Math.min(to, buf.length)).toString('utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      /* partial */
    }
  }
  return out;
}
const sizeOf = async (p) => (await stat(p).catch(() => ({ size: 0 }))).size;

/** utime+stime of pid, and of its reaped children (cutime+cstime), in ms; RSS in kB. */
async function procUsage(pid) {
  const st = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  const tick = 1000 / CLK_TCK;
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return {
    selfMs: (Number(f[11]) + Number(f[12])) * tick,
    childrenMs: (Number(f[13]) + Number(f[14])) * tick,
    rssKb: kb('VmRSS'),
    hwmKb: kb('VmHWM'),
    threads: Number(f[17]),
  };
}

/** Live children of pid that are Node processes (their CPU counts as the daemon's). */
async function nodeChildren(pid) {
  const out = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const st = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[1]) !== pid) continue;
    const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
    if (/node/.test(comm)) out.push(Number(e));
  }
  return out;
}

// ---------------------------------------------------------------- bare
let bareCtx;
async function bareRun(n, apps, args) {
  const b = new BareRun({
    root: join(sandbox, 'bare'),
    lower: bareCtx.lower,
    runtime: bareCtx.rt,
    list: bareCtx.list,
    args,
    template: bareCtx.template,
    n,
    apps,
  });
  bareActive = b;
  return b;
}
async function bareDone(b) {
  await b.teardown();
  bareActive = undefined;
  await rm(join(sandbox, 'bare'), { recursive: true, force: true });
  await rm(join(sandbox, 'bare-ipam'), { recursive: true, force: true });
}

// ---------------------------------------------------------------- parts
async function partReaction(image, result) {
  const out = (result.reaction = {});
  for (let k = 0; k < sizes.length; k++) {
    const n = sizes[k];
    const reps = repsFor(k);
    const S = (out[n] = { n, reps, berthRunning: [], berthStatus: [], berthTeardown: [], bare: [], bareTeardown: [] });
    for (let rep = 0; rep < reps; rep++) {
      const names = Array.from({ length: n }, (_, i) => `${BENCH_NAME}-d${n}-r${rep}-p${String(i).padStart(2, '0')}`);
      const t0 = await publish(names.map((nm) => [`pod-${nm}.yaml`, podYaml(nm, image)]));
      const limit = 120_000 + n * 6000; // generous: a busy machine
      const statusP = waitStatusRunning(names, limit).catch((e) => e);
      const tRun = await waitStarted(
        names.map((nm) => [nm, 'app']),
        t0,
        limit,
      );
      const tStatus = await statusP;
      if (tStatus instanceof Error) throw tStatus;
      for (const nm of names) if ((await pidsOf(`${nm}-app`)).length !== 1) throw new Error(`${nm}: not exactly one app process`);
      S.berthRunning.push(tRun - t0);
      S.berthStatus.push(tStatus - t0);
      await removePodFiles();
      S.berthTeardown.push(await waitNoPods(120_000 + n * 6000));

      const b = await bareRun(n, [null], (i) => ['sh', '-c', APP_SCRIPT, `bare-${i}`]);
      const bareMs = await b.start();
      await b.verify();
      S.bare.push(bareMs);
      const tt = performance.now();
      await bareDone(b);
      S.bareTeardown.push(performance.now() - tt);
      say(
        `reaction N=${n} rep ${rep + 1}/${reps}: berth running ${(tRun - t0).toFixed(0)} ms (in /status ${(tStatus - t0).toFixed(0)}), bare ${bareMs.toFixed(0)} ms`,
      );
    }
    S.summary = {
      berthRunningMs: r1(median(S.berthRunning)),
      berthStatusMs: r1(median(S.berthStatus)),
      bareMs: r1(median(S.bare)),
      ratio: r1(median(S.berthRunning) / median(S.bare)),
      berthTeardownMs: r1(median(S.berthTeardown)),
      bareTeardownMs: r1(median(S.bareTeardown)),
    };
  }
}

async function partChange(image, result) {
  const out = (result.change = { reps: changeReps, berth: [], bare: [], otherKept: [], berthRunning: [] });
  for (let rep = 0; rep < changeReps; rep++) {
    const name = `${BENCH_NAME}-chg-r${rep}`;
    const file = `pod-${name}.yaml`;
    const t0 = await publish([[file, podYaml(name, image, ['a', 'b'], { b: { V: '0' } })]]);
    await waitStarted(
      [
        [name, 'a'],
        [name, 'b'],
      ],
      t0,
      120_000,
    );
    await waitStatusRunning([name], 120_000);
    const [pidA] = await pidsOf(`${name}-a`);
    const [pidB] = await pidsOf(`${name}-b`);
    const t1 = await publish([[file, podYaml(name, image, ['a', 'b'], { b: { V: '1' } })]]);
    const tB = await waitStarted([[name, 'b']], t1, 120_000);
    // the old b gone, one new b; a as it was, or restarted too (whole pod replaced)
    await waitFor('the old app b to be gone', async () => !(await pidsOf(`${name}-b`)).includes(pidB), 30_000);
    await waitStatusRunning([name], 120_000);
    const aNow = await pidsOf(`${name}-a`);
    const kept = aNow.length === 1 && aNow[0] === pidA;
    const aRestarted = (await startedTimes(name, 'a')).some((t) => t >= t1);
    out.berth.push(tB - t1);
    out.otherKept.push(kept);
    await removePodFiles();
    await waitNoPods(120_000);

    const b = await bareRun(1, ['a', 'b'], (i, app) => ['sh', '-c', APP_SCRIPT, `bare-${i}-${app}`]);
    await b.start();
    await b.verify();
    const bareA = b.pidOf(0, 'a');
    const x = await b.restartApp(0, 'b', ['V=1']);
    await b.verify();
    if (b.pidOf(0, 'a') !== bareA) throw new Error('bare: app a changed');
    out.bare.push(x.ms);
    (out.bareSteps ??= []).push({ stopMs: x.stopMs, startMs: x.startMs });
    await bareDone(b);
    say(
      `change rep ${rep + 1}/${changeReps}: berth b running again ${(tB - t1).toFixed(0)} ms, app a ${kept ? 'kept its PID' : `PID ${pidA} → ${aNow.join(',') || 'none'}${aRestarted ? ' (restarted)' : ''}`}; bare stop+start ${x.ms.toFixed(0)} ms`,
    );
  }
  out.summary = {
    berthMs: r1(median(out.berth)),
    bareMs: r1(median(out.bare)),
    ratio: r1(median(out.berth) / median(out.bare)),
    otherAppKeptPid: `${out.otherKept.filter(Boolean).length}/${out.otherKept.length}`,
    bareStopMs: r1(median(out.bareSteps.map((s) => s.stopMs))),
    bareStartMs: r1(median(out.bareSteps.map((s) => s.startMs))),
  };
}

/** Wrappers that log each runtime and CNI plugin call (one line each) and exec the real binary. */
async function countingWrappers() {
  const bin = join(sandbox, 'count-bin');
  const cni = join(sandbox, 'count-cni');
  await mkdir(bin, { recursive: true });
  await mkdir(cni, { recursive: true });
  const crunLog = join(sandbox, 'logs', 'crun-calls.log');
  const cniLog = join(sandbox, 'logs', 'cni-calls.log');
  await writeFile(join(bin, 'crun'), `#!/bin/sh\necho "$*" >> ${crunLog}\nexec /usr/bin/crun "$@"\n`);
  await chmod(join(bin, 'crun'), 0o755);
  for (const p of await readdir(CNI_DIR)) {
    await writeFile(
      join(cni, p),
      `#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME ${p}" >> ${cniLog}\nexec ${join(CNI_DIR, p)} "$@"\n`,
    );
    await chmod(join(cni, p), 0o755);
  }
  return { bin, cni, crunLog, cniLog };
}

async function partIdle(image, result) {
  const out = (result.idle = { pods: idlePods, seconds: idleSeconds });
  await stopDaemonProc();
  const w = await countingWrappers();
  const daemonOpts = { env: { ...process.env, PATH: `${w.bin}:${process.env.PATH}` }, extraArgs: ['--cni-plugin-dir', w.cni] };
  await startDaemonProc('idle', daemonOpts);
  const names = Array.from({ length: idlePods }, (_, i) => `${BENCH_NAME}-idle-p${String(i).padStart(3, '0')}`);
  const t0 = await publish(names.map((nm) => [`pod-${nm}.yaml`, podYaml(nm, image)]));
  const tRun = await waitStarted(
    names.map((nm) => [nm, 'app']),
    t0,
    120_000 + idlePods * 6000,
  ); // generous: a busy machine
  await waitStatusRunning(names, 120_000);
  out.allRunningMs = r1(tRun - t0);
  say(`idle: ${idlePods} pods running ${((tRun - t0) / 1000).toFixed(1)} s after the rename; settling 15 s`);
  if (cpuProf) {
    // --cpu-prof DIR: the idle window is a new daemon's under `node --cpu-prof`, which adopts the
    // pods (apps keep running across an agent restart) and writes its profile when stopped
    await stopDaemonProc();
    await startDaemonProc('idle-prof', { ...daemonOpts, extraNode: ['--cpu-prof', '--cpu-prof-dir', resolve(cpuProf)] });
    out.profiled = true;
  }
  await sleep(15_000);

  // --- the idle window
  const nodeKids = await nodeChildren(daemon.pid);
  const u0 = await procUsage(daemon.pid);
  const k0 = await Promise.all(nodeKids.map((p) => procUsage(p).catch(() => undefined)));
  const off0 = { log: await sizeOf(daemon.logPath), crun: await sizeOf(w.crunLog), cni: await sizeOf(w.cniLog) };
  const w0 = performance.now();
  const rss = [];
  while (performance.now() - w0 < idleSeconds * 1000) {
    await sleep(Math.min(5000, idleSeconds * 1000 - (performance.now() - w0)));
    rss.push((await procUsage(daemon.pid)).rssKb);
  }
  const elapsed = performance.now() - w0;
  const u1 = await procUsage(daemon.pid);
  const k1 = await Promise.all(nodeKids.map((p) => procUsage(p).catch(() => undefined)));
  const off1 = { log: await sizeOf(daemon.logPath), crun: await sizeOf(w.crunLog), cni: await sizeOf(w.cniLog) };
  let kidsMs = 0;
  for (let i = 0; i < nodeKids.length; i++) if (k0[i] && k1[i]) kidsMs += k1[i].selfMs - k0[i].selfMs;
  const selfPct = ((u1.selfMs - u0.selfMs + kidsMs) / elapsed) * 100;
  const childPct = ((u1.childrenMs - u0.childrenMs) / elapsed) * 100;
  const crunCalls = (await readFile(w.crunLog, 'utf8').catch(() => '')).slice(off0.crun, off1.crun).split('\n').filter(Boolean);
  const cniCalls = (await readFile(w.cniLog, 'utf8').catch(() => '')).slice(off0.cni, off1.cni).split('\n').filter(Boolean);
  const lines = await logLines(daemon.logPath, off0.log, off1.log);
  const msgs = {};
  for (const l of lines) msgs[l.msg] = (msgs[l.msg] ?? 0) + 1;
  Object.assign(out, {
    windowMs: r1(elapsed),
    cpuPctOneCore: r1(selfPct),
    cpuPctWithReapedChildren: r1(selfPct + childPct),
    reapedChildrenMs: r1(u1.childrenMs - u0.childrenMs),
    nodeChildren: nodeKids.length,
    rssMb: r1(median(rss) / 1024),
    rssMaxMb: r1(Math.max(...rss) / 1024),
    hwmMb: r1(u1.hwmKb / 1024),
    threads: u1.threads,
    runtimeCalls: crunCalls.length,
    runtimeCallKinds: countBy(crunCalls.map((c) => c.split(' ').find((x) => !x.startsWith('-') && !x.startsWith('/')) ?? c)),
    cniCalls: cniCalls.length,
    cniCallKinds: countBy(
      cniCalls.map((c) => {
        const f = c.split(' ');
        return `${f[0]} ${f[f.length - 1]}`;
      }),
    ),
    logLines: lines.length,
    logMessages: msgs,
  });
  if (cpuProf) {
    await stopDaemonProc();
    await startDaemonProc('idle-after-prof', daemonOpts);
    await waitStatusRunning(names, 120_000);
    await sleep(15_000); // the adoption's work is over before the one-file change below
    say(`cpu profile of the idle daemon in ${resolve(cpuProf)}`);
  }
  say(
    `idle ${idleSeconds} s: cpu ${out.cpuPctOneCore}% of one core (${out.cpuPctWithReapedChildren}% with the processes it ran), rss ${out.rssMb} MB, ${crunCalls.length} runtime calls, ${cniCalls.length} CNI calls, ${lines.length} log lines`,
  );

  // --- one file changed: which pods see work
  const victim = names[Math.floor(idlePods / 2)];
  const recs = await podRecords();
  const uidToName = new Map(recs.map((r) => [r.uid, r.pod?.metadata?.name]));
  const offA = { log: await sizeOf(daemon.logPath), crun: await sizeOf(w.crunLog), cni: await sizeOf(w.cniLog) };
  const tc = await publish([[`pod-${victim}.yaml`, podYaml(victim, image, ['app'], { app: { V: '1' } })]]);
  const tv = await waitStarted([[victim, 'app']], tc, 120_000);
  await sleep(3000); // the rest of its work (old execution's removal, clean-up) has time to show
  const offB = { log: await sizeOf(daemon.logPath), crun: await sizeOf(w.crunLog), cni: await sizeOf(w.cniLog) };
  for (const r of await podRecords()) uidToName.set(r.uid, r.pod?.metadata?.name);
  const touched = {};
  const add = (nm, what) => ((touched[nm ?? '?'] ??= { log: 0, runtime: 0, cni: 0 })[what] += 1);
  for (const l of await logLines(daemon.logPath, offA.log, offB.log))
    if (l.pod || l.podName) add(l.podName?.split('/').pop() ?? uidToName.get(l.pod), 'log');
  const idToName = (s) => {
    for (const [uid, nm] of uidToName) if (s.includes(uid.replace(/-/g, '').slice(0, 12))) return nm;
    return undefined;
  };
  for (const c of (await readFile(w.crunLog, 'utf8')).slice(offA.crun, offB.crun).split('\n').filter(Boolean))
    add(idToName(c) ?? `(no pod: ${c.slice(0, 60)})`, 'runtime');
  for (const c of (await readFile(w.cniLog, 'utf8')).slice(offA.cni, offB.cni).split('\n').filter(Boolean))
    add(idToName(c) ?? `(no pod: ${c.slice(0, 60)})`, 'cni');
  out.oneFileChange = { pod: victim, runningAgainMs: r1(tv - tc), podsTouched: Object.keys(touched).length, touched };
  say(`one file changed (${victim}): running again after ${(tv - tc).toFixed(0)} ms; pods with work: ${Object.keys(touched).join(', ')}`);

  // --- teardown of all, timed
  await removePodFiles();
  out.teardownMs = r1(await waitNoPods(120_000 + idlePods * 6000));
  await stopDaemonProc();
}

function countBy(xs) {
  const o = {};
  for (const x of xs) o[x] = (o[x] ?? 0) + 1;
  return o;
}

async function podRecords() {
  const out = [];
  for (const d of await readdir(join(layout.stateDir, 'pods')).catch(() => [])) {
    const r = JSON.parse(await readFile(join(layout.stateDir, 'pods', d, 'pod.json'), 'utf8').catch(() => 'null'));
    if (r) out.push(r);
  }
  for (const r of out) berthPodIds.add(r.uid.replace(/-/g, '').slice(0, 12));
  return out;
}

// ---------------------------------------------------------------- cleanup
let ipForwardBefore;
let ipForwardNote = 'unchanged';
async function restoreIpForwardOnce() {
  ipForwardNote = await restoreIpForward(ipForwardBefore);
}

let cleaningUp;
let podsLeft = 0;
async function cleanup() {
  cleaningUp ??= (async () => {
    const problems = [];
    if (bareActive) problems.push(...(await bareActive.cleanup().catch((e) => [e.message])));
    if (sandbox && specDir && existsSync(specDir)) {
      const left = (await podRecords().catch(() => [])).length;
      await removePodFiles().catch(() => undefined);
      if (daemon && !daemon.exited) {
        await waitNoPods(120_000 + left * 6000).catch((e) => problems.push(`daemon teardown: ${e.message}`));
        await stopDaemonProc().catch((e) => problems.push(e.message));
      }
      // whatever is left (the daemon died, or did not finish): reconcile --once with no pod files, twice at most
      for (let attempt = 0; attempt < 2; attempt++) {
        const n = (await readdir(join(layout.stateDir, 'pods')).catch(() => [])).length;
        if (n === 0) break;
        const r = await run('node', [CLI, 'reconcile', '--once', '--timeout', `${120 + n * 6}s`, ...berthArgs], {
          stdout: 'ignore',
          waitClose: false,
        });
        if (r.code !== 0) problems.push(`berth teardown exited ${r.code}: ${r.stderr.slice(-1000)}`);
      }
      podsLeft = (await readdir(join(layout.stateDir, 'pods')).catch(() => [])).length;
      if (podsLeft)
        problems.push(
          `${podsLeft} pods left in ${layout.stateDir}: sandbox kept for \`node ${CLI} reconcile --once ${berthArgs.join(' ')}\``,
        );
    }
    if (!podsLeft) {
      await removeBridge().catch((e) => problems.push(e.message));
      await removeCgroupParents().catch((e) => problems.push(e.message));
      await restoreIpForwardOnce().catch((e) => problems.push(e.message));
    }
    if (sandbox && !podsLeft) {
      const mounts = (await readFile('/proc/self/mounts', 'utf8'))
        .split('\n')
        .map((l) => l.split(' ')[1])
        .filter((m) => m?.startsWith(sandbox));
      for (const m of mounts.reverse()) await run('umount', [m]);
      const still = (await readFile('/proc/self/mounts', 'utf8')).split('\n').filter((l) => l.split(' ')[1]?.startsWith(sandbox));
      if (still.length) problems.push(`still mounted: ${still.join(', ')}`);
      else if (!keep) await rm(sandbox, { recursive: true, force: true });
    }
    return problems;
  })();
  return cleaningUp;
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    say(`\n${sig}: cleaning up…`);
    cleanup()
      .then((p) => p.length && say(`cleanup problems:\n  ${p.join('\n  ')}`))
      .finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- main
async function main() {
  if (process.getuid?.() !== 0) throw new Error('daemon bench needs root (namespaces, mounts, containers)');
  if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} missing: run npm run build first`);
  if (existsSync(`/sys/class/net/${BRIDGE}`))
    throw new Error(`${BRIDGE} exists already: another bench running, or a leak (ip link del ${BRIDGE})`);
  ipForwardBefore = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
  sandbox = await mkdtemp(join(tmpdir(), `${BENCH_NAME}-`));
  specDir = join(sandbox, 'specs');
  stagingDir = join(sandbox, 'staging');
  for (const d of [specDir, stagingDir, join(sandbox, 'logs')]) await mkdir(d, { recursive: true });
  layout = {
    stateDir: join(sandbox, 'state'),
    runDir: join(sandbox, 'run'),
    logDir: join(sandbox, 'log'),
    configDir: join(sandbox, 'config'),
  };
  berthArgs = [
    '--spec-dir',
    specDir,
    '--state-dir',
    layout.stateDir,
    '--run-dir',
    layout.runDir,
    '--log-dir',
    layout.logDir,
    '--config-dir',
    layout.configDir,
  ];
  say(`sandbox ${sandbox}`);
  // a snapshot of dist/ (others may rebuild it meanwhile)
  const snapshot = await snapshotDist(REPO, join(sandbox, 'berth'));
  const distBuiltAt = snapshot.distBuiltAt;
  CLI = snapshot.cli;

  const result = {
    bench: 'daemon',
    date: new Date().toISOString(),
    machine: machineInfo(),
    versions: { ...(await versions(REPO, [])), distBuiltAt },
    config: {
      parts,
      sizes,
      reps: sizes.map((_, k) => repsFor(k)),
      changeReps,
      idlePods,
      idleSeconds,
      logLevel,
      observation:
        'app running = conmon timestamp of the app\'s first output line ("started"); also the first GET /status on <run>/berth.sock showing the pods Running',
      app: APP_SCRIPT,
    },
    loadavgBefore: loadavg().map((x) => r1(x)),
  };

  await must('bash', [join(REPO, 'scripts/build-busybox-image.sh'), join(sandbox, 'image'), 'latest']);
  const image = `oci:${join(sandbox, 'image')}:latest`;
  await writeNetwork();
  result.daemonReadyMs = r1(await startDaemonProc('main'));

  // warm-up (pull + render, plugin and runtime binaries in the page cache), not timed
  say('warm-up: one pod through the daemon, then the bare path once');
  const tw = await publish([[`pod-${BENCH_NAME}-warm.yaml`, podYaml(`${BENCH_NAME}-warm`, image)]]);
  await waitStarted([[`${BENCH_NAME}-warm`, 'app']], tw, 120_000);
  await waitStatusRunning([`${BENCH_NAME}-warm`], 30_000);
  await removePodFiles();
  await waitNoPods(120_000);
  const rendered = join(layout.stateDir, 'rendered');
  const hex = (await readdir(rendered)).find((d) => /^[0-9a-f]{64}$/.test(d) || d.startsWith('sha256'));
  if (!hex) throw new Error(`no rendered image under ${rendered}`);
  const wrapperNeeded = await crunNeedsWrapper();
  await mkdir(join(sandbox, 'bin'), { recursive: true });
  bareCtx = {
    lower: join(rendered, hex, 'rootfs'),
    template: await specTemplate(join(sandbox, 'spec-template')),
    list: networkList({ name: NETWORK, subnet: SUBNET, dataDir: join(sandbox, 'bare-ipam') }),
    rt: {
      name: wrapperNeeded ? 'crun (hybrid-cgroup wrapper)' : 'crun',
      argv: wrapperNeeded ? [await writeCrunWrapper(join(sandbox, 'bin', 'crun'))] : ['crun'],
    },
  };
  result.config.bareRuntime = bareCtx.rt.name;
  const wb = await bareRun(1, [null], ['sh', '-c', APP_SCRIPT, 'bare-warm']);
  await wb.start();
  await bareDone(wb);

  if (parts.includes('reaction')) await partReaction(image, result);
  if (parts.includes('change')) await partChange(image, result);
  if (parts.includes('idle')) await partIdle(image, result);
  await stopDaemonProc();
  result.loadavgAfter = loadavg().map((x) => r1(x));
  result.ipForward = { before: ipForwardBefore };
  return result;
}

function printSummary(result) {
  const w = (s) => process.stdout.write(`${s}\n`);
  if (result.reaction) {
    w('daemon reaction: spec file(s) renamed into the spec dir → every app running (conmon timestamp of its first line); medians, ms');
    w('  N  reps  berth running  in /status  bare crun  berth/bare  berth teardown  bare teardown');
    for (const S of Object.values(result.reaction)) {
      const s = S.summary;
      w(
        `${String(S.n).padStart(3)}  ${String(S.reps).padStart(4)}  ${String(s.berthRunningMs).padStart(13)}  ${String(s.berthStatusMs).padStart(10)}  ${String(s.bareMs).padStart(9)}  ${`${s.ratio}x`.padStart(10)}  ${String(s.berthTeardownMs).padStart(14)}  ${String(s.bareTeardownMs).padStart(13)}`,
      );
    }
  }
  if (result.change) {
    const s = result.change.summary;
    w(
      `\none container change (pod of 2 apps, env of b changed; ${result.change.reps} reps, medians): berth → b running again ${s.berthMs} ms; bare stop + start of b ${s.bareMs} ms (stop ${s.bareStopMs}, start ${s.bareStartMs}); ratio ${s.ratio}x; other app kept its PID in ${s.otherAppKeptPid} runs`,
    );
  }
  if (result.idle) {
    const i = result.idle;
    w(`\nidle daemon, ${i.pods} pods (all running ${i.allRunningMs} ms after the rename), window ${(i.windowMs / 1000).toFixed(0)} s:`);
    w(
      `  CPU ${i.cpuPctOneCore}% of one core (daemon${i.nodeChildren ? ' + Node children' : ''}); ${i.cpuPctWithReapedChildren}% with the processes it ran and reaped (${i.runtimeCalls} runtime calls, ${i.cniCalls} CNI plugin calls)`,
    );
    w(`  RSS ${i.rssMb} MB (max ${i.rssMaxMb}, high-water ${i.hwmMb}); ${i.logLines} log lines`);
    const o = i.oneFileChange;
    w(
      `  one file changed (${o.pod}): running again after ${o.runningAgainMs} ms; pods with any log line, runtime or CNI call: ${o.podsTouched} (${Object.entries(
        o.touched,
      )
        .map(([k, v]) => `${k}: ${v.log} log, ${v.runtime} runtime, ${v.cni} cni`)
        .join('; ')})`,
    );
    w(`  teardown of ${i.pods} pods: ${i.teardownMs} ms`);
  }
}

let exitCode = 0;
const tStart = performance.now();
try {
  const result = await main();
  result.totalSeconds = Math.round((performance.now() - tStart) / 1000);
  printSummary(result);
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(
    outFile,
    `${JSON.stringify(result, (k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 100) / 100 : v), 2)}\n`,
  );
  say(`\nresults: ${outFile} (${result.totalSeconds} s)`);
} catch (err) {
  exitCode = 1;
  say(`daemon bench failed: ${err.stack ?? err}`);
} finally {
  const problems = await cleanup();
  if (problems.length) {
    exitCode = 1;
    say(`cleanup problems:\n  ${problems.join('\n  ')}`);
  }
  const leaks = (await run('bash', [join(REPO, '../shared/tools/berth-leaks'), '--prefix', 'berth'])).stdout
    .split('\n')
    .filter((l) => [...berthPodIds].some((id) => l.includes(id)) || l.includes(BENCH_NAME));
  if (leaks.length) {
    exitCode = 1;
    say(`leaks:\n  ${leaks.join('\n  ')}`);
  }
  if (keep && sandbox) say(`kept ${sandbox}`);
  say(`ip_forward: ${ipForwardNote}`);
}
process.exit(exitCode);
