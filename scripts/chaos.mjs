#!/usr/bin/env node
/**
 * Chaos run for the host agent (issue 14 "How it will be checked", issue 13 item 7):
 * SIGKILL the `berth reconcile` daemon at random moments during converge, teardown and
 * change of N pods, then ten clean restarts, then a simulated reboot, then teardown; after
 * each phase check the host against the spec (pods Running, app PIDs unchanged unless the spec
 * changed, restart counts, one conmon per app, netns with eth0 and an address of the subnet,
 * IPAM reservations, masquerade rules, no CNI cache temp files, no leaks).
 *
 *   node scripts/chaos.mjs [--pods N] [--kills K] [--settle-every M] [--seed S] [--keep]
 *
 * Kills come 0.2–3 s after the action of their round; every M kills the daemon is left to
 * converge fully once (not a kill), so that later kills also hit running apps (adoption),
 * not only pods half set up.
 *
 * Everything lives in its own temp dir (/tmp/berth-chaos-XXXX) with its own bridge
 * (berthch0), subnet 10.233.0.0/24 and host-local dataDir. It kills only the daemons it
 * started and the conmons/apps of its own sandbox, by PID. Exit status: 0 when every check
 * held, 1 otherwise, 2 on a usage error.
 */
/* global process, console, setTimeout, clearTimeout */
import { closeSync, existsSync, openSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { networkYaml } from '../bench/lib/common.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(REPO, 'dist/bundle/berth.mjs');
const LEAKS = resolve(REPO, '../shared/tools/berth-leaks');
const IMAGE_SRC = '/opt/berth/images/busybox';
const BRIDGE = 'berthch0';
const NET = 'berthchaos';
const SUBNET_PREFIX = '10.233.0.';
const APP = "trap 'exit 0' TERM; sleep 765432 & wait";

// ---------------------------------------------------------------------------------------
// options

function parseOptions(argv) {
  const o = { pods: 20, kills: 100, settleEvery: 10, seed: Date.now() % 1_000_000, keep: false, convergeTimeoutMs: 180_000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) usage(`${a} needs a whole number`);
      return v;
    };
    if (a === '--pods') o.pods = num();
    else if (a === '--kills') o.kills = num();
    else if (a === '--seed') o.seed = num();
    else if (a === '--settle-every') o.settleEvery = num();
    else if (a === '--keep') o.keep = true;
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  if (o.pods < 1 || o.pods > 200) usage('--pods must be 1..200');
  return o;
}

function usage(msg) {
  if (msg) console.error(`chaos: ${msg}`);
  console.error('usage: node scripts/chaos.mjs [--pods N (20)] [--kills K (100)] [--settle-every M (10; 0: never)] [--seed S] [--keep]');
  process.exit(msg ? 2 : 0);
}

const opts = parseOptions(process.argv.slice(2));

// a small seeded PRNG so a run can be repeated with --seed
let rngState = opts.seed || 1;
function rand() {
  rngState = (rngState * 1103515245 + 12345) % 2147483648;
  return rngState / 2147483648;
}
const randInt = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => new Date().toISOString().slice(11, 19);
const say = (...a) => console.log(`[${now()}]`, ...a);

// ---------------------------------------------------------------------------------------
// sandbox

const X = await mkdtemp(join(tmpdir(), 'berth-chaos-'));
const SPECS = join(X, 'specs');
const STATE = join(X, 'state');
const RUN = join(X, 'run');
const IPAM = join(X, 'ipam');
const XD = ['--spec-dir', SPECS, '--state-dir', STATE, '--run-dir', RUN, '--log-dir', join(X, 'log'), '--config-dir', join(X, 'config')];
const DAEMON_LOG = join(X, 'daemon.log');
const IMAGE = `oci:${join(X, 'image')}:latest`;
const podNames = Array.from({ length: opts.pods }, (_, i) => `ch-${String(i).padStart(3, '0')}`);

/** every pod short id (netns / container id) this run ever saw: what leaks are filtered by */
const seenIds = new Set();
/** the daemons this script started: pid -> execa promise */
const daemons = new Map();

const results = []; // {phase, check, ok, detail}
const stats = {
  kills: 0,
  killsConverge: 0,
  killsTeardown: 0,
  killsChange: 0,
  cleanRestarts: 0,
  pidChangesLegit: 0,
  pidChangesAgent: 0,
  agentRestartDetails: [],
  duplicateConmonSightings: [],
  envChanges: 0,
  podsRemovedAndRestored: 0,
  appsRunningAtKill: [],
  settles: 0,
  settlesConverged: 0,
  tmpSeenAtKill: 0,
  statusMismatches: [],
};

function record(phase, check, ok, detail = '') {
  results.push({ phase, check, ok, detail });
  say(`${ok ? 'ok  ' : 'FAIL'} ${phase}: ${check}${detail ? ` — ${detail}` : ''}`);
}

const netYaml = () => networkYaml({ name: NET, bridge: BRIDGE, subnet: `${SUBNET_PREFIX}0/24`, ipamDir: IPAM, portmap: false });

const gen = new Map(podNames.map((n) => [n, 0]));
/** per pod: env changes written, and removals (file removed and put back) */
const envChanges = new Map(podNames.map((n) => [n, 0]));
const removals = new Map(podNames.map((n) => [n, 0]));
const podYaml = (name) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: main
      image: ${IMAGE}
      command: [sh, -c, ${JSON.stringify(APP)}]
      env: [{name: CHAOS_GEN, value: "${gen.get(name)}"}]
`;

/** write a file atomically (a rename), as an editor or a git checkout would */
async function writeSpec(file, text) {
  const tmp = join(SPECS, `.${file}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, join(SPECS, file));
}

// ---------------------------------------------------------------------------------------
// daemon

function startDaemon() {
  const fd = openSync(DAEMON_LOG, 'a');
  const p = execa('node', [CLI, 'reconcile', ...XD], { reject: false, stdin: 'ignore', stdout: fd, stderr: fd, cleanup: true });
  closeSync(fd);
  daemons.set(p.pid, p);
  return p.pid;
}

async function stopDaemon(pid, signal) {
  const p = daemons.get(pid);
  if (!p) return;
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
  const timer = setTimeout(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }, 60_000);
  await p;
  clearTimeout(timer);
  daemons.delete(pid);
}

// ---------------------------------------------------------------------------------------
// observing the host

async function berth(args, timeout = 60_000) {
  const r = await execa('node', [CLI, ...args, ...XD], { reject: false, timeout });
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function status() {
  const r = await berth(['status', '-o', 'json']);
  if (r.code !== 0) throw new Error(`status exited ${r.code}: ${r.stderr.slice(0, 500)}`);
  return JSON.parse(r.stdout);
}

/**
 * The sandbox's monitors and apps as `ps` shows them: one entry per conmon whose command line
 * names this sandbox's run dir, with its container name, pod (from its log path) and app PID
 * (the conmon's child).
 */
async function scanProcesses() {
  const out = (await execa('ps', ['-eo', 'pid=,ppid=,args='], { reject: false })).stdout;
  const procs = out
    .split('\n')
    .map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
    .filter(Boolean)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }));
  const conmons = [];
  for (const p of procs) {
    if (!p.args.startsWith('conmon ') || !p.args.includes(`${RUN}/`)) continue;
    const ctr = p.args.match(/ -c (\S+)/)?.[1];
    const log = p.args.match(/-l k8s-file:(\S+)/)?.[1] ?? '';
    const podDir = log.split('/').at(-3) ?? ''; // <ns>_<name>_<uid>
    const [, pod, uid] = podDir.match(/^[^_]+_(.+)_([0-9a-f-]{36})$/) ?? [];
    const child = procs.find((c) => c.ppid === p.pid);
    conmons.push({ pid: p.pid, ctr, pod, uid, appPid: child?.pid ?? null });
  }
  return conmons;
}

/** per pod name: last app PID seen, and whether the spec changed since (a restart is expected) */
const pidTrack = new Map(podNames.map((n) => [n, { pid: null, touched: false, history: [] }]));

function touch(name) {
  pidTrack.get(name).touched = true;
}

/** sample the host: duplicate conmons and app PID changes nobody asked for */
async function sample(phase) {
  const conmons = await scanProcesses();
  const byCtr = new Map();
  for (const c of conmons) {
    if (c.uid) seenIds.add(c.uid.replace(/-/g, '').slice(0, 12));
    byCtr.set(c.ctr, [...(byCtr.get(c.ctr) ?? []), c]);
  }
  for (const [ctr, list] of byCtr) {
    if (list.length > 1)
      stats.duplicateConmonSightings.push(`${phase}: ${ctr} has ${list.length} conmons (${list.map((c) => c.pid).join(',')})`);
  }
  const byPod = new Map();
  for (const c of conmons) if (c.pod && c.appPid) byPod.set(c.pod, [...(byPod.get(c.pod) ?? []), c]);
  for (const [pod, list] of byPod) {
    const t = pidTrack.get(pod);
    if (!t || list.length !== 1) continue;
    const pid = list[0].appPid;
    if (t.pid !== null && pid !== t.pid) {
      if (t.touched) stats.pidChangesLegit++;
      else {
        stats.pidChangesAgent++;
        stats.agentRestartDetails.push(`${phase}: ${pod} app PID ${t.pid} -> ${pid}`);
      }
    }
    if (pid !== t.pid) {
      t.history.push(pid);
      t.touched = false;
    }
    t.pid = pid;
  }
  return conmons;
}

async function netnsAddr(ns) {
  const r = await execa('ip', ['-n', ns, '-o', '-4', 'addr', 'show', 'dev', 'eth0'], { reject: false });
  return r.exitCode === 0 ? (r.stdout.match(/inet (\S+)/)?.[1] ?? null) : null;
}

async function reservations() {
  const dir = join(IPAM, NET);
  const names = (await readdir(dir).catch(() => [])).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n));
  return Promise.all(names.map(async (n) => ({ ip: n, owner: (await readFile(join(dir, n), 'utf8').catch(() => '')).split(/\s/)[0] })));
}

async function natRules() {
  const out = (await execa('iptables-save', ['-t', 'nat'], { reject: false })).stdout;
  return out.split('\n').filter((l) => l.includes(`name: \\"${NET}\\"`));
}

const cacheTemps = async () => (await readdir(join(STATE, 'cni', 'results')).catch(() => [])).filter((f) => f.endsWith('.tmp'));

/**
 * Right after a kill (no agent running, nothing changes): sample the host, and compare what
 * `status` says with it — every app status calls running must be the conmon's live child, and
 * every live app must show as running with its PID (issue 14 item 4: status is observed).
 */
async function observeAtKill(phase) {
  const conmons = await sample(phase);
  stats.appsRunningAtKill.push(conmons.filter((c) => c.appPid).length);
  if ((await cacheTemps()).length) stats.tmpSeenAtKill++;
  let st;
  try {
    st = await status();
  } catch (err) {
    stats.statusMismatches.push(`${phase}: status failed: ${String(err).slice(0, 200)}`);
    return;
  }
  for (const p of st.pods) {
    if (!podNames.includes(p.name)) continue;
    const host = conmons.filter((c) => c.pod === p.name && c.uid === p.uid && c.appPid);
    for (const a of p.apps) {
      const live = host.find((c) => c.ctr?.endsWith(`-${a.name}`));
      if (a.state === 'running' && (!live || live.appPid !== a.pid))
        stats.statusMismatches.push(`${phase}: ${p.name}/${a.name} status running pid ${a.pid}, host ${live?.appPid ?? 'none'}`);
      if (a.state !== 'running' && live)
        stats.statusMismatches.push(`${phase}: ${p.name}/${a.name} status ${a.state} (pod ${p.status}), host runs pid ${live.appPid}`);
    }
  }
}

/** all pods Running with their app running, twice in a row with the same PIDs */
async function waitConverged(phase, { timeoutMs = opts.convergeTimeoutMs, expectPods = opts.pods, quiet = false } = {}) {
  const end = Date.now() + timeoutMs;
  let last = '';
  let lastState = '';
  while (Date.now() < end) {
    try {
      const st = await status();
      const pods = st.pods.filter((p) => podNames.includes(p.name));
      const ok =
        pods.length === expectPods && pods.every((p) => p.status === 'Running' && p.apps.every((a) => a.state === 'running' && a.pid));
      const key = pods.map((p) => `${p.name}:${p.apps.map((a) => a.pid).join(',')}`).join(' ');
      if (ok && key === last) return true;
      last = ok ? key : '';
      lastState = pods
        .filter((p) => p.status !== 'Running')
        .map((p) => `${p.name}=${p.status}${p.reason ? `(${p.reason})` : ''}`)
        .join(' ');
    } catch (err) {
      lastState = String(err).slice(0, 200);
    }
    await sleep(1500);
  }
  if (!quiet) record(phase, 'converged', false, `not converged after ${timeoutMs / 1000}s: ${lastState}`);
  else say(`${phase}: not converged after ${timeoutMs / 1000}s: ${lastState}`);
  return false;
}

/**
 * The host against the spec. `restartAllowance(pod)` is how many app restarts the pod may show:
 * 0 (the apps never exit by themselves; an env change restarts the app by the agent's choice,
 * which is no app exit), 1 after the simulated reboot (the reboot killed every app).
 */
async function checkAll(phase, restartAllowance) {
  const st = await status();
  const pods = st.pods.filter((p) => podNames.includes(p.name));
  const conmons = await sample(phase);
  for (const p of pods) if (p.uid) seenIds.add(p.uid.replace(/-/g, '').slice(0, 12));

  const notRunning = podNames.filter((n) => {
    const p = pods.find((q) => q.name === n);
    return !p || p.status !== 'Running' || p.ready !== '1/1';
  });
  record(
    phase,
    `every pod Running (${pods.length}/${opts.pods} listed)`,
    notRunning.length === 0 && pods.length === opts.pods,
    notRunning.length
      ? `not Running: ${notRunning.map((n) => `${n}=${pods.find((q) => q.name === n)?.status ?? 'absent'}`).join(' ')}`
      : '',
  );

  // status equals the host: the PID status shows is the conmon's child
  const pidMismatch = [];
  for (const p of pods) {
    const c = conmons.filter((q) => q.pod === p.name);
    const a = p.apps[0];
    if (c.length === 1 && a && a.pid !== c[0].appPid) pidMismatch.push(`${p.name}: status ${a.pid}, host ${c[0].appPid}`);
  }
  record(phase, 'status PIDs equal the host', pidMismatch.length === 0, pidMismatch.join('; '));

  // exactly one conmon per app, none for anything else
  const perCtr = new Map();
  for (const c of conmons) perCtr.set(c.ctr, (perCtr.get(c.ctr) ?? 0) + 1);
  const wantCtrs = pods.filter((p) => p.uid).map((p) => `berth-${p.uid.replace(/-/g, '').slice(0, 12)}-main`);
  const badConmon = [];
  for (const w of wantCtrs) if (perCtr.get(w) !== 1) badConmon.push(`${w}: ${perCtr.get(w) ?? 0}`);
  for (const [c, n] of perCtr) if (!wantCtrs.includes(c)) badConmon.push(`stray ${c}: ${n}`);
  record(phase, `exactly one conmon per app (${conmons.length} conmons)`, badConmon.length === 0, badConmon.join('; '));

  // restart counts
  const badRestarts = [];
  let counted = 0;
  for (const p of pods) {
    for (const a of p.apps) {
      counted += a.restartCount;
      if (a.restartCount > restartAllowance(p.name))
        badRestarts.push(
          `${p.name}/${a.name}: ${a.restartCount} (allowed ${restartAllowance(p.name)}; env changed ${envChanges.get(p.name)}x, removed+restored ${removals.get(p.name)}x)`,
        );
    }
  }
  record(phase, `restart counts equal real app exits (counted ${counted})`, badRestarts.length === 0, badRestarts.join('; '));

  record(
    phase,
    `no app PID changed by the agent (total so far ${stats.pidChangesAgent})`,
    stats.pidChangesAgent === 0,
    stats.agentRestartDetails.slice(-5).join('; '),
  );
  record(
    phase,
    'no duplicate conmon seen at any sample',
    stats.duplicateConmonSightings.length === 0,
    stats.duplicateConmonSightings.slice(-5).join('; '),
  );

  // networks
  const badNet = [];
  for (const p of pods) {
    const ns = p.netns?.split('/').pop();
    const addr = ns ? await netnsAddr(ns) : null;
    const shown = p.networks?.[0]?.ips?.[0] ?? null;
    if (!addr || !addr.startsWith(SUBNET_PREFIX)) badNet.push(`${p.name}: eth0 ${addr ?? 'missing'} in ${ns}`);
    else if (shown !== addr) badNet.push(`${p.name}: status ${shown}, eth0 ${addr}`);
  }
  record(phase, 'each pod netns has eth0 with an address of the subnet (as status shows)', badNet.length === 0, badNet.join('; '));

  const res = await reservations();
  const owners = pods.map((p) => p.netns?.split('/').pop()).sort();
  const resOwners = res.map((r) => r.owner).sort();
  record(
    phase,
    `IPAM reservations == pods (${res.length}/${opts.pods})`,
    res.length === opts.pods && JSON.stringify(owners) === JSON.stringify(resOwners),
    res.length === opts.pods ? '' : `owners ${resOwners.join(',')}`,
  );

  const rules = await natRules();
  const post = rules.filter((l) => l.startsWith('-A POSTROUTING'));
  const masq = rules.filter((l) => l.includes('-j MASQUERADE'));
  const badRules = [];
  for (const ns of owners) {
    const n = masq.filter((l) => l.includes(`id: \\"${ns}\\"`)).length;
    const m = post.filter((l) => l.includes(`id: \\"${ns}\\"`)).length;
    if (n !== 1 || m !== 1) badRules.push(`${ns}: ${n} MASQUERADE, ${m} POSTROUTING`);
  }
  const stray = masq.filter((l) => !owners.some((ns) => l.includes(`id: \\"${ns}\\"`)));
  if (stray.length) badRules.push(`${stray.length} masquerade rules of no pod`);
  record(
    phase,
    `one masquerade rule per pod (${masq.length} MASQUERADE, ${post.length} POSTROUTING)`,
    badRules.length === 0,
    badRules.slice(0, 6).join('; '),
  );

  // a live writer renames its temp file within milliseconds; the agent removes those of
  // interrupted writes once they are 10 s old, at its next pass: give it 30 s
  let tmps = await cacheTemps();
  for (let end = Date.now() + 30_000; tmps.length && Date.now() < end; await sleep(2000)) tmps = await cacheTemps();
  record(phase, 'no *.tmp in <state>/cni/results (30 s after converge)', tmps.length === 0, tmps.join(' '));
}

// ---------------------------------------------------------------------------------------
// phases

async function chaosPhase() {
  await writeSpec('00-net.yaml', netYaml());
  let pid = startDaemon();
  for (const n of podNames) await writeSpec(`${n}.yaml`, podYaml(n));
  for (let round = 0; round < opts.kills; round++) {
    const kind = ['converge', 'converge', 'teardown', 'change'][round % 4];
    let removed = [];
    if (kind === 'teardown') {
      const k = randInt(1, Math.min(3, opts.pods));
      removed = [...podNames].sort(() => rand() - 0.5).slice(0, k);
      for (const n of removed) {
        touch(n);
        removals.set(n, removals.get(n) + 1);
        await rm(join(SPECS, `${n}.yaml`), { force: true });
      }
      stats.podsRemovedAndRestored += removed.length;
    } else if (kind === 'change') {
      const n = podNames[randInt(0, opts.pods - 1)];
      gen.set(n, gen.get(n) + 1);
      envChanges.set(n, envChanges.get(n) + 1);
      touch(n);
      await writeSpec(`${n}.yaml`, podYaml(n));
      stats.envChanges++;
    }
    await sleep(randInt(200, 3000));
    await stopDaemon(pid, 'SIGKILL');
    stats.kills++;
    stats[`kills${kind[0].toUpperCase()}${kind.slice(1)}`]++;
    await observeAtKill(`kill ${round + 1} (${kind})`);
    for (const n of removed) await writeSpec(`${n}.yaml`, podYaml(n));
    if ((round + 1) % 10 === 0) say(`${round + 1}/${opts.kills} kills`);
    pid = startDaemon();
    if (opts.settleEvery && (round + 1) % opts.settleEvery === 0 && round + 1 < opts.kills) {
      stats.settles++;
      if (await waitConverged(`settle after kill ${round + 1}`, { quiet: true, timeoutMs: 90_000 })) stats.settlesConverged++;
      await sample(`settle after kill ${round + 1}`);
    }
  }
  record(
    'kills',
    `status equal to the host right after each kill (${stats.statusMismatches.length} mismatches)`,
    stats.statusMismatches.length === 0,
    stats.statusMismatches.slice(0, 5).join('; '),
  );
  const ok = await waitConverged('after kills');
  await sleep(3000);
  if (ok) await checkAll('after kills', () => 0);
  return pid;
}

async function cleanRestartsPhase(pid) {
  for (let i = 0; i < 10; i++) {
    await stopDaemon(pid, 'SIGTERM');
    await sample(`clean stop ${i + 1}`);
    pid = startDaemon();
    stats.cleanRestarts++;
    await sleep(2000);
    if (!(await waitConverged(`clean restart ${i + 1}`))) break;
    await sample(`clean restart ${i + 1}`);
  }
  await sleep(3000);
  await checkAll('after 10 clean restarts', () => 0);
  return pid;
}

async function pidFiles() {
  const pids = [];
  for (const c of await readdir(join(RUN, 'containers')).catch(() => [])) {
    for (const f of ['conmon.pid', 'ctr.pid']) {
      const pid = Number((await readFile(join(RUN, 'containers', c, f), 'utf8').catch(() => '')).trim());
      if (pid > 1) pids.push(pid);
    }
  }
  return pids;
}

async function alive(pid) {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** SIGKILL the sandbox's conmons and apps, by PID (pid files and the ps scan of this run dir) */
async function killSandboxProcesses() {
  const pids = new Set(await pidFiles());
  for (const c of await scanProcesses()) {
    pids.add(c.pid);
    if (c.appPid) pids.add(c.appPid);
  }
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (let end = Date.now() + 10_000; Date.now() < end; await sleep(100)) {
    const left = await Promise.all([...pids].map(alive));
    if (!left.some(Boolean)) break;
  }
  return pids.size;
}

async function rebootPhase(pid) {
  await stopDaemon(pid, 'SIGKILL');
  const st = await status();
  const killed = await killSandboxProcesses();
  let deleted = 0;
  for (const p of st.pods) {
    const ns = p.netns?.split('/').pop();
    if (ns?.startsWith('berth-') && (await execa('ip', ['netns', 'delete', ns], { reject: false })).exitCode === 0) deleted++;
  }
  await rm(RUN, { recursive: true, force: true });
  say(`reboot: killed ${killed} processes, deleted ${deleted} netns, removed ${RUN}`);
  // every app is new after a reboot: start the PID baseline afresh
  for (const t of pidTrack.values()) t.touched = true;
  pid = startDaemon();
  if (await waitConverged('after reboot')) {
    await sleep(3000);
    await checkAll('after reboot', () => 1);
  }
  return pid;
}

async function teardownPhase(pid) {
  for (const f of await readdir(SPECS)) await rm(join(SPECS, f), { force: true });
  const end = Date.now() + 120_000;
  let left = -1;
  while (Date.now() < end) {
    const st = await status().catch(() => null);
    const conmons = await scanProcesses();
    left = (st?.pods.length ?? 1) + conmons.length;
    if (left === 0) break;
    await sleep(1500);
  }
  record('teardown', 'daemon tore every pod down', left === 0, left ? `${left} pods/conmons left after 120s` : '');
  await stopDaemon(pid, 'SIGTERM');
  const leaks = await leaksOfSandbox();
  record('teardown', `berth-leaks for the sandbox empty (${leaks.length})`, leaks.length === 0, leaks.slice(0, 10).join(' | '));
  return leaks;
}

async function leaksOfSandbox() {
  if (!existsSync(LEAKS)) return ['berth-leaks tool missing'];
  const r = await execa('bash', [LEAKS, '--state-dir', STATE], { reject: false });
  const ids = [...seenIds, BRIDGE, NET, X];
  return r.stdout.split('\n').filter((l) => l.startsWith('cnicache') || ids.some((id) => l.includes(id)));
}

// ---------------------------------------------------------------------------------------
// cleanup: whatever a failed run left, by PID and by the sandbox's own names

function shellWords(s) {
  const out = [];
  let cur = '';
  let inQ = false;
  let any = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (inQ) {
      if (ch === '\\' && i + 1 < s.length) cur += s[++i];
      else if (ch === '"') inQ = false;
      else cur += ch;
    } else if (ch === '"') {
      inQ = true;
      any = true;
    } else if (ch === ' ') {
      if (cur || any) out.push(cur);
      cur = '';
      any = false;
    } else cur += ch;
  }
  if (cur || any) out.push(cur);
  return out;
}

async function cleanup() {
  for (const pid of [...daemons.keys()]) await stopDaemon(pid, 'SIGKILL');
  // let berth itself tear down what is left, then remove the rest by hand
  if (existsSync(SPECS) && (await readdir(SPECS)).length > 0) {
    for (const f of await readdir(SPECS)) await rm(join(SPECS, f), { force: true });
    await berth(['reconcile', '--once', '--timeout', '60s'], 120_000).catch(() => undefined);
  }
  await killSandboxProcesses();
  for (const id of seenIds) await execa('ip', ['netns', 'delete', `berth-${id}`], { reject: false });
  const rules = await natRules();
  const chains = new Set();
  for (const l of rules) {
    const w = shellWords(l);
    if (w[0] !== '-A') continue;
    if (w[1] === 'POSTROUTING') {
      const j = w.indexOf('-j');
      if (j > 0 && w[j + 1]?.startsWith('CNI-')) chains.add(w[j + 1]);
      await execa('iptables', ['-w', '-t', 'nat', '-D', ...w.slice(1)], { reject: false });
    } else if (w[1].startsWith('CNI-')) chains.add(w[1]);
  }
  for (const c of chains) {
    await execa('iptables', ['-w', '-t', 'nat', '-F', c], { reject: false });
    await execa('iptables', ['-w', '-t', 'nat', '-X', c], { reject: false });
  }
  for (const rt of ['crun', 'runc']) {
    const list = (await execa(rt, ['list', '-q'], { reject: false })).stdout.split('\n');
    for (const c of list)
      if ([...seenIds].some((id) => c.startsWith(`berth-${id}`))) await execa(rt, ['delete', '-f', c], { reject: false });
  }
  const mounts = (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m?.startsWith(X));
  for (const m of mounts.reverse()) await execa('umount', ['-l', m], { reject: false });
  await execa('ip', ['link', 'del', BRIDGE], { reject: false });
}

// ---------------------------------------------------------------------------------------

function summary() {
  const rows = [
    ['pods', opts.pods],
    ['seed', opts.seed],
    ['kills done', `${stats.kills} (converge ${stats.killsConverge}, teardown ${stats.killsTeardown}, change ${stats.killsChange})`],
    ['env changes / pods removed+restored', `${stats.envChanges} / ${stats.podsRemovedAndRestored}`],
    ['settles (daemon left to converge) / converged', `${stats.settles} / ${stats.settlesConverged}`],
    ['clean restarts', stats.cleanRestarts],
    ['app PID changes: spec-caused / agent-caused', `${stats.pidChangesLegit} / ${stats.pidChangesAgent}`],
    ['duplicate conmon sightings', stats.duplicateConmonSightings.length],
    [
      'apps running at kill time: min / mean / max',
      stats.appsRunningAtKill.length
        ? `${Math.min(...stats.appsRunningAtKill)} / ${(stats.appsRunningAtKill.reduce((a, b) => a + b, 0) / stats.appsRunningAtKill.length).toFixed(1)} / ${Math.max(...stats.appsRunningAtKill)}`
        : '-',
    ],
    ['kills that left a CNI cache *.tmp', stats.tmpSeenAtKill],
    ['status != host right after a kill', stats.statusMismatches.length],
  ];
  console.log('\n== chaos summary ==');
  for (const [k, v] of rows) console.log(`${k.padEnd(46)} ${v}`);
  console.log('');
  for (const r of results)
    console.log(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.phase.padEnd(24)} ${r.check}${r.ok || !r.detail ? '' : `\n        ${r.detail}`}`);
  for (const d of stats.agentRestartDetails) console.log(`agent restart: ${d}`);
  for (const d of stats.duplicateConmonSightings) console.log(`duplicate: ${d}`);
  for (const d of stats.statusMismatches) console.log(`status mismatch: ${d}`);
  const failed = results.filter((r) => !r.ok).length;
  console.log(
    `\n${failed === 0 ? 'PASS' : `FAIL (${failed} checks)`}; daemon log ${opts.keep ? DAEMON_LOG : '(removed; --keep keeps it)'}`,
  );
  return failed;
}

let failed = 1;
const t0 = Date.now();
try {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build`);
  say(`sandbox ${X}, ${opts.pods} pods, ${opts.kills} kills, seed ${opts.seed}`);
  await mkdir(SPECS, { recursive: true });
  await cp(IMAGE_SRC, join(X, 'image'), { recursive: true });
  const p1 = await chaosPhase();
  const p2 = await cleanRestartsPhase(p1);
  const p3 = await rebootPhase(p2);
  await teardownPhase(p3);
} catch (err) {
  record('run', 'no exception', false, err?.stack ?? String(err));
} finally {
  try {
    await cleanup();
  } catch (err) {
    record('cleanup', 'cleanup', false, String(err));
  }
  failed = summary();
  console.log(`elapsed ${Math.round((Date.now() - t0) / 1000)}s`);
  if (!opts.keep) await rm(X, { recursive: true, force: true }).catch(() => undefined);
}
process.exit(failed === 0 ? 0 : 1);
