#!/usr/bin/env node
/**
 * Pod start, image cached: berth's `reconcile --once` (process start to exit, which is when
 * every app runs) for N pods, next to the bare steps it wraps (netns + CNI ADD + overlay +
 * `crun run`/`runc run`) timed in the same run, on the same host and image tree.
 *
 *   npm run build && node bench/pod-start.mjs [--sizes 1,20] [--reps 5,3]
 *        [--bare-runtimes crun,runc] [--berth-runtime crun] [--concurrency 4]
 *        [--log-level debug] [--out bench/results/pod-start.json] [--keep]
 *
 * Environment equivalents: BENCH_SIZES, BENCH_REPS, BENCH_BARE_RUNTIMES, BENCH_BERTH_RUNTIME,
 * BENCH_CONCURRENCY, BENCH_LOG_LEVEL, BENCH_OUT. Needs root. Every host object carries the
 * `berth-bench` prefix (bridge berth-bench0, sandbox /tmp/berth-bench-*, bare netns and
 * containers berth-bench-bare-<i>, cgroups /berth-bench/…) — except the objects berth itself
 * names (netns and containers `berth-<pod id>`), which its own teardown removes and which this
 * script checks for by pod id. Everything is removed on success, failure and SIGINT.
 */
/* global process, setTimeout */
import { mkdir, writeFile, readFile, readdir, rm, open } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { machineInfo, option, say, snapshotDist, networkYaml, restoreIpForward, versions } from './lib/common.mjs';
import { run, must, median, stats, r1 } from './lib/proc.mjs';
import {
  BareRun,
  BRIDGE,
  BENCH_NAME,
  crunNeedsWrapper,
  writeCrunWrapper,
  networkList,
  specTemplate,
  removeBridge,
  removeCgroupParents,
} from './lib/bare.mjs';
import { timeline, mergeTimelines } from './lib/timeline.mjs';
import { PodmanPeer, PODMAN_IMAGE, PODMAN_HOST_NS } from './lib/podman.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BUILT_CLI = join(REPO, 'dist/bundle/berth.mjs');
// The run uses a snapshot of dist/ taken at its start (others may rebuild dist/ meanwhile).
let CLI = BUILT_CLI;
const SUBNET = process.env.BENCH_SUBNET || '10.214.0.0/16';
const NETWORK = BENCH_NAME;
const APP_SCRIPT = 'trap "exit 0" TERM; while true; do sleep 1 & wait $!; done';

// ---------------------------------------------------------------- options
const sizes = option('--sizes', 'BENCH_SIZES', '1,20').split(',').map(Number);
const repsList = option('--reps', 'BENCH_REPS', '5,3').split(',').map(Number);
const repsFor = (k) => repsList[Math.min(k, repsList.length - 1)];
const bareRuntimes = option('--bare-runtimes', 'BENCH_BARE_RUNTIMES', 'crun,runc').split(',').filter(Boolean);
const berthRuntime = option('--berth-runtime', 'BENCH_BERTH_RUNTIME', 'crun');
const concurrency = option('--concurrency', 'BENCH_CONCURRENCY', '');
const logLevel = option('--log-level', 'BENCH_LOG_LEVEL', 'debug');
const outFile = resolve(REPO, option('--out', 'BENCH_OUT', 'bench/results/pod-start.json'));
const keep = process.argv.includes('--keep');
// the peer: podman kube play / kube down of the same pods (none: berth and the bare steps only)
const peers = option('--peers', 'BENCH_PEERS', 'podman')
  .split(',')
  .filter((x) => x && x !== 'none');
// both YAMLs say it: an image in the store is used as it is (podman's default for kube play)
const pullPolicy = option('--pull-policy', 'BENCH_PULL_POLICY', 'IfNotPresent');
// N > 1: one file per pod, and/or all pods in one multi-document file
const layouts = option('--layouts', 'BENCH_LAYOUTS', 'files,multi').split(',').filter(Boolean);

// ---------------------------------------------------------------- sandbox and cleanup
let sandbox;
let berthArgs;
let bareActive; // the BareRun in progress, for cleanup
let berthChild; // the reconcile process in progress (ours: killed by pid on SIGINT)
const berthPodIds = new Set(); // short ids of every pod berth made, for the leak check
let specDir;
let podman; // the PodmanPeer, for cleanup

async function berthCli(args, opts = {}) {
  return run('node', [CLI, ...args, ...berthArgs], opts);
}

async function writeNetwork() {
  await writeFile(
    join(specDir, '00-network.yaml'),
    networkYaml({ name: NETWORK, bridge: BRIDGE, subnet: SUBNET, ipamDir: join(sandbox, 'ipam'), hairpin: true }),
  );
}

function podYaml(name, image) {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: app
      image: ${image}
${pullPolicy ? `      imagePullPolicy: ${pullPolicy}\n` : ''}      command: [sh, -c, ${JSON.stringify(APP_SCRIPT)}]
`;
}

/** The pod files of one run: `files` one per pod, `multi` one multi-document file. [{file, text}] */
function podFiles(names, image, layout, prefix) {
  if (layout === 'multi') return [{ file: `pod-${prefix}-all.yaml`, text: names.map((n) => podYaml(n, image)).join('---\n') }];
  return names.map((n) => ({ file: `pod-${n}.yaml`, text: podYaml(n, image) }));
}

async function removePodSpecs() {
  for (const f of await readdir(specDir)) if (f.startsWith('pod-')) await rm(join(specDir, f), { force: true });
}

/** Remove every pod spec and converge: berth tears its pods (and the unused bridge) down. */
async function berthTeardown() {
  await removePodSpecs();
  const spawnMs = Date.now();
  const logPath = join(sandbox, 'logs', `teardown-${spawnMs}.ndjson`);
  const fh = await open(logPath, 'w');
  try {
    const r = await run('node', [CLI, 'reconcile', '--once', '--timeout', '120s', '--log-level', logLevel, ...berthArgs], {
      stdout: fh.fd,
      stderr: 'pipe',
      waitClose: false,
      onSpawn: (c) => (berthChild = c),
    });
    berthChild = undefined;
    return { ...r, spawnMs, exitMs: Date.now(), logPath };
  } finally {
    await fh.close();
  }
}

/**
 * The bridge plugin (isGateway) turns net.ipv4.ip_forward on. Put it back when it was off
 * before and no other bridge is left that may rely on it (other engineers' tests may run).
 */
let ipForwardBefore;
let ipForwardNote = 'unchanged';
async function restoreIpForwardOnce() {
  ipForwardNote = await restoreIpForward(ipForwardBefore);
}

let cleaningUp;
async function cleanup() {
  cleaningUp ??= (async () => {
    const problems = [];
    if (berthChild && berthChild.exitCode === null) {
      try {
        process.kill(berthChild.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    if (bareActive) problems.push(...(await bareActive.cleanup().catch((e) => [e.message])));
    if (podman) problems.push(...(await podman.cleanup().catch((e) => [e.message])));
    if (sandbox && specDir && existsSync(specDir)) {
      const r = await berthTeardown().catch((e) => ({ code: -1, stderr: e.message }));
      if (r.code !== 0) problems.push(`berth teardown exited ${r.code}: ${r.stderr}`);
    }
    await removeBridge().catch((e) => problems.push(e.message));
    await removeCgroupParents().catch((e) => problems.push(e.message));
    await restoreIpForwardOnce().catch((e) => problems.push(e.message));
    if (sandbox) {
      // never rm -rf through a mount: anything still mounted under the sandbox is a leak to report
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
      .then((p) => {
        if (p.length) say(`cleanup problems:\n  ${p.join('\n  ')}`);
      })
      .finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- measurements
async function berthStart(n, rep, image, layout) {
  const names = [];
  for (let i = 0; i < n; i++) names.push(`berth-bench-n${n}${layout === 'multi' ? 'm' : ''}-r${rep}-p${String(i).padStart(2, '0')}`);
  for (const f of podFiles(names, image, layout, `berth-bench-n${n}-r${rep}`)) await writeFile(join(specDir, f.file), f.text);
  const extra = concurrency ? ['--concurrency', concurrency] : [];
  const logPath = join(sandbox, 'logs', `start-n${n}-r${rep}.ndjson`);
  const fh = await open(logPath, 'w');
  let r;
  const spawnMs = Date.now();
  try {
    r = await run(
      'node',
      [CLI, 'reconcile', '--once', '--timeout', '120s', '--runtime', berthRuntime, '--log-level', logLevel, ...extra, ...berthArgs],
      {
        stdout: fh.fd,
        stderr: 'pipe',
        waitClose: false,
        onSpawn: (c) => (berthChild = c),
      },
    );
  } finally {
    berthChild = undefined;
    await fh.close();
  }
  const exitMs = Date.now();
  const text = await readFile(logPath, 'utf8');
  if (r.code !== 0) throw new Error(`berth reconcile --once (N=${n}) exited ${r.code}: ${r.stderr}\n${text.slice(-3000)}`);
  const st = await berthCli(['status', '-o', 'json']);
  const pods = JSON.parse(st.stdout).pods;
  for (const p of pods) if (p.uid) berthPodIds.add(p.uid.replace(/-/g, '').slice(0, 12));
  const running = pods.filter((p) => names.includes(p.name) && p.status === 'Running' && p.apps.every((a) => a.state === 'running'));
  if (running.length !== n)
    throw new Error(
      `berth: ${running.length}/${n} pods Running after reconcile --once: ${JSON.stringify(pods.map((p) => [p.name, p.status, p.reason]))}`,
    );
  const tl = timeline(text, spawnMs, exitMs);
  return { ms: r.ms, timeline: tl };
}

/**
 * podman: the same pods (image from podman's store), `podman kube play` of each file in turn
 * (one process per file, as a user would run them), timed from the first spawn to the last
 * exit; checked: every exit 0 and `podman pod ps` shows the N pods Running. Returns the files.
 */
async function podmanStart(n, rep, layout) {
  const names = [];
  for (let i = 0; i < n; i++) names.push(`berth-bench-pm-n${n}${layout === 'multi' ? 'm' : ''}-r${rep}-p${String(i).padStart(2, '0')}`);
  const dir = join(sandbox, 'podman-specs');
  await mkdir(dir, { recursive: true });
  const files = [];
  for (const f of podFiles(names, PODMAN_IMAGE, layout, `berth-bench-pm-n${n}-r${rep}`)) {
    files.push(join(dir, f.file));
    await writeFile(join(dir, f.file), f.text);
  }
  const t0 = performance.now();
  for (const f of files) {
    const r = await podman.podman(['kube', 'play', f]);
    if (r.code !== 0) throw new Error(`podman kube play ${f} exited ${r.code}: ${r.stderr}`);
  }
  const ms = performance.now() - t0;
  const running = (await podman.runningPods()).filter((p) => names.includes(p));
  if (running.length !== n) throw new Error(`podman: ${running.length}/${n} pods Running after kube play`);
  return { ms, files };
}

/** `podman kube down` of the same files in turn; checked: exit 0 and no pod left. */
async function podmanStop(files) {
  const t0 = performance.now();
  for (const f of files) {
    const r = await podman.podman(['kube', 'down', f]);
    if (r.code !== 0) throw new Error(`podman kube down ${f} exited ${r.code}: ${r.stderr}`);
  }
  const ms = performance.now() - t0;
  const left = await podman.podCount();
  if (left) throw new Error(`podman kube down left ${left} pods`);
  for (const f of files) await rm(f, { force: true });
  return { ms };
}

async function berthStop(n) {
  const r = await berthTeardown();
  if (r.code !== 0) throw new Error(`berth teardown (N=${n}) exited ${r.code}: ${r.stderr}`);
  const st = await berthCli(['status', '-o', 'json']);
  const left = JSON.parse(st.stdout).pods;
  if (left.length) throw new Error(`berth teardown left pods: ${left.map((p) => p.name).join(', ')}`);
  const text = await readFile(r.logPath, 'utf8');
  return { ms: r.ms, timeline: timeline(text, r.spawnMs, r.exitMs) };
}

async function bareStartStop(n, rt, ctx) {
  const b = new BareRun({
    root: join(sandbox, 'bare', rt.name),
    lower: ctx.lower,
    runtime: rt,
    list: ctx.list,
    args: ['sh', '-c', APP_SCRIPT],
    template: ctx.template,
    n,
  });
  bareActive = b;
  const startMs = await b.start();
  await b.verify();
  const steps = {};
  for (const p of b.pods) for (const [k, v] of Object.entries(p.times)) (steps[k] ??= []).push(v);
  const stopMs = await b.teardown();
  bareActive = undefined;
  await rm(join(sandbox, 'bare', rt.name), { recursive: true, force: true });
  await rm(join(sandbox, 'bare-ipam'), { recursive: true, force: true });
  return { startMs, stopMs, steps };
}

/** What a Node process costs before berth does anything. */
async function cliFloor(reps) {
  const out = { 'node -e 0': [], 'berth --version': [] };
  for (let i = 0; i < reps; i++) {
    out['node -e 0'].push((await must('node', ['-e', '0'])).ms);
    out['berth --version'].push((await must('node', [CLI, '--version'])).ms);
  }
  return out;
}

async function otherActivity() {
  const ns = (await run('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith('berth') && !l.startsWith('berth-bench'));
  const procs = (await run('ps', ['-eo', 'args='])).stdout.split('\n').filter((l) => /vitest|conmon/.test(l));
  return { loadavg: loadavg().map((x) => Math.round(x * 100) / 100), foreignBerthNetns: ns.length, vitestOrConmonProcesses: procs.length };
}

// ---------------------------------------------------------------- main
async function main() {
  if (process.getuid?.() !== 0) throw new Error('pod-start needs root (namespaces, mounts, containers)');
  if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} missing: run npm run build first`);
  if (existsSync(`/sys/class/net/${BRIDGE}`))
    throw new Error(`${BRIDGE} exists already: another bench running, or a leak (ip link del ${BRIDGE})`);
  ipForwardBefore = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();

  // lower case: podman names an image pulled from `oci:PATH` after PATH, and names are lower case
  sandbox = join(tmpdir(), `${BENCH_NAME}-${randomBytes(4).toString('hex')}`);
  await mkdir(sandbox, { mode: 0o700 });
  specDir = join(sandbox, 'specs');
  await mkdir(specDir, { recursive: true });
  await mkdir(join(sandbox, 'logs'), { recursive: true });
  berthArgs = [
    '--spec-dir',
    specDir,
    '--state-dir',
    join(sandbox, 'state'),
    '--run-dir',
    join(sandbox, 'run'),
    '--log-dir',
    join(sandbox, 'log'),
    '--config-dir',
    join(sandbox, 'config'),
  ];
  say(`sandbox ${sandbox}`);
  const snapshot = await snapshotDist(REPO, join(sandbox, 'berth'));
  const distBuiltAt = snapshot.distBuiltAt;
  CLI = snapshot.cli;

  const result = {
    bench: 'pod-start',
    date: new Date().toISOString(),
    machine: machineInfo(),
    versions: { ...(await versions(REPO, ['crun', 'runc', 'conmon', 'containernetworking-plugins', 'iproute2', 'iptables'])), distBuiltAt },
    config: {
      sizes,
      reps: sizes.map((_, k) => repsFor(k)),
      berthRuntime,
      bareRuntimes,
      concurrency: concurrency || 'berth default (4)',
      logLevel,
      network: 'bridge (isGateway, ipMasq, hairpinMode) + host-local + portmap, no hostPorts; loopback',
      app: APP_SCRIPT,
    },
    activityBefore: await otherActivity(),
  };

  // image, once
  await must('bash', [join(REPO, 'scripts/build-busybox-image.sh'), join(sandbox, 'image'), 'latest']);
  const image = `oci:${join(sandbox, 'image')}:latest`;
  await writeNetwork();

  // warm the image cache (pull + render), not timed
  say('warm-up: 1 pod through berth (pull + render), then teardown');
  await writeFile(join(specDir, 'pod-berth-bench-warm.yaml'), podYaml('berth-bench-warm', image));
  const warm = await berthCli(['reconcile', '--once', '--timeout', '120s', '--runtime', berthRuntime], {
    stdout: 'ignore',
    waitClose: false,
  });
  if (warm.code !== 0) throw new Error(`warm-up reconcile exited ${warm.code}: ${warm.stderr}`);
  for (const p of JSON.parse((await berthCli(['status', '-o', 'json'])).stdout).pods)
    if (p.uid) berthPodIds.add(p.uid.replace(/-/g, '').slice(0, 12));
  await berthStop(1);
  const rendered = join(sandbox, 'state', 'rendered');
  const hex = (await readdir(rendered)).find((d) => /^[0-9a-f]{64}$/.test(d) || d.startsWith('sha256'));
  if (!hex) throw new Error(`no rendered image under ${rendered}`);
  const lower = join(rendered, hex, 'rootfs');

  // bare context: same image tree, same network shape, runtimes
  const wrapperNeeded = await crunNeedsWrapper();
  await mkdir(join(sandbox, 'bin'), { recursive: true });
  const rtDefs = {
    crun: {
      name: wrapperNeeded ? 'crun (hybrid-cgroup wrapper)' : 'crun',
      argv: wrapperNeeded ? [await writeCrunWrapper(join(sandbox, 'bin', 'crun'))] : ['crun'],
    },
    runc: { name: 'runc', argv: ['runc'] },
  };
  const ctx = {
    lower,
    template: await specTemplate(join(sandbox, 'spec-template')),
    list: networkList({ name: NETWORK, subnet: SUBNET, dataDir: join(sandbox, 'bare-ipam') }),
  };
  result.config.crunWrapper = wrapperNeeded;
  // warm the bare path too (plugin binaries, runtime binaries in page cache), not timed
  for (const name of bareRuntimes) await bareStartStop(1, rtDefs[name], ctx);
  if (peers.includes('podman')) {
    podman = new PodmanPeer({ root: join(sandbox, 'podman'), runtimePath: wrapperNeeded ? rtDefs.crun.argv[0] : undefined });
    await podman.setup(join(sandbox, 'image'));
    result.versions.podman = await podman.version();
    result.config.podman = {
      hostNetns: `${PODMAN_HOST_NS} (nsenter --net)`,
      network: 'podman default bridge (netavark)',
      runtime: wrapperNeeded ? 'crun via the same hybrid-cgroup wrapper' : 'crun',
      image: PODMAN_IMAGE,
    };
    say('warm-up: 1 pod through podman (builds its pause image), not timed');
    await podmanStop((await podmanStart(1, 'warm', 'files')).files);
  }

  result.cliFloor = await cliFloor(5);
  result.importCost = [];
  for (let i = 0; i < 3; i++)
    result.importCost.push(
      JSON.parse((await must('node', [join(REPO, 'bench/lib/import-cost.mjs'), dirname(dirname(dirname(CLI)))])).stdout),
    );
  result.sizes = {};
  const runs = sizes.flatMap((n, k) => (n === 1 ? ['files'] : layouts).map((layout) => ({ n, k, layout })));
  for (const { n, k, layout } of runs) {
    const reps = repsFor(k);
    const key = layout === 'files' ? String(n) : `${n}-${layout}`;
    const S = (result.sizes[key] = {
      n,
      layout,
      reps,
      berth: { start: [], teardown: [], timelines: [], teardownTimelines: [] },
      bare: {},
      peers: {},
    });
    // the bare steps do not depend on how the pods are spread over files: once per size
    const bareHere = layout === (n === 1 ? 'files' : layouts[0]) ? bareRuntimes : [];
    for (const name of bareHere) S.bare[name] = { runtime: rtDefs[name].name, start: [], teardown: [], steps: {} };
    if (podman) S.peers.podman = { start: [], teardown: [] };
    for (let rep = 0; rep < reps; rep++) {
      // interleaved, so slow drifts of the machine hit every side alike; who goes first alternates
      const berthSide = async () => {
        const b = await berthStart(n, rep, image, layout);
        S.berth.start.push(b.ms);
        S.berth.timelines.push(b.timeline);
        const t = await berthStop(n);
        S.berth.teardown.push(t.ms);
        S.berth.teardownTimelines.push(t.timeline);
        return `berth ${b.ms.toFixed(0)} ms (teardown ${t.ms.toFixed(0)})`;
      };
      const podmanSide = async () => {
        if (!podman) return '';
        const u = await podmanStart(n, rep, layout);
        const d = await podmanStop(u.files);
        S.peers.podman.start.push(u.ms);
        S.peers.podman.teardown.push(d.ms);
        return `, podman ${u.ms.toFixed(0)} (down ${d.ms.toFixed(0)})`;
      };
      let line = `N=${n} ${layout} rep ${rep + 1}/${reps}: `;
      if (rep % 2 === 0) line += (await berthSide()) + (await podmanSide());
      else {
        const pm = await podmanSide();
        line += (await berthSide()) + pm;
      }
      for (const name of bareHere) {
        const x = await bareStartStop(n, rtDefs[name], ctx);
        S.bare[name].start.push(x.startMs);
        S.bare[name].teardown.push(x.stopMs);
        for (const [s, v] of Object.entries(x.steps)) (S.bare[name].steps[s] ??= []).push(...v);
        line += `, bare ${name} ${x.startMs.toFixed(0)} (teardown ${x.stopMs.toFixed(0)})`;
      }
      say(line);
    }
  }
  result.activityAfter = await otherActivity();
  result.ipForward = { before: ipForwardBefore, after: (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim() };
  return result;
}

function summarize(result) {
  const rows = [];
  const summary = {};
  const peerRows = [];
  for (const [key, S] of Object.entries(result.sizes)) {
    const bs = stats(S.berth.start);
    const bt = stats(S.berth.teardown);
    const s = (summary[key] = {
      berth: { startMedianMs: r1(bs.median), teardownMedianMs: r1(bt.median) },
      bare: {},
      breakdown: mergeTimelines(S.berth.timelines),
      teardownBreakdown: mergeTimelines(S.berth.teardownTimelines),
    });
    for (const [name, B] of Object.entries(S.bare)) {
      const st = stats(B.start);
      const tt = stats(B.teardown);
      const steps = {};
      for (const [k, v] of Object.entries(B.steps)) steps[k] = r1(median(v));
      s.bare[name] = {
        runtime: B.runtime,
        startMedianMs: r1(st.median),
        teardownMedianMs: r1(tt.median),
        ratioStart: r1(bs.median / st.median),
        ratioTeardown: r1(bt.median / tt.median),
        stepMediansPerPodMs: steps,
      };
      rows.push([
        S.n,
        S.reps,
        r1(bs.median),
        B.runtime,
        r1(st.median),
        `${(bs.median / st.median).toFixed(1)}x`,
        r1(bt.median),
        r1(tt.median),
        `${(bt.median / tt.median).toFixed(1)}x`,
      ]);
    }
    const P = S.peers?.podman;
    if (P && P.start.length) {
      const ps = stats(P.start);
      const pt = stats(P.teardown);
      const goal = S.n === 1 ? 0.5 : 0.2;
      s.podman = {
        startMedianMs: r1(ps.median),
        teardownMedianMs: r1(pt.median),
        ratioStart: Math.round((bs.median / ps.median) * 100) / 100,
        ratioTeardown: Math.round((bt.median / pt.median) * 100) / 100,
        goal,
      };
      const what = S.n === 1 ? '1 pod' : `${S.n} pods, ${S.layout === 'multi' ? 'one multi-document file' : 'one file each'}`;
      peerRows.push([`${what} up`, S.reps, r1(ps.median), r1(bs.median), `${s.podman.ratioStart.toFixed(2)}x`, `<= ${goal}x`]);
      peerRows.push([`${what} down`, S.reps, r1(pt.median), r1(bt.median), `${s.podman.ratioTeardown.toFixed(2)}x`, `<= ${goal}x`]);
    }
  }
  return { rows, peerRows, summary };
}

function printTable(
  rows,
  head = ['N', 'reps', 'berth ms', 'bare runtime', 'bare ms', 'berth/bare', 'berth teardown ms', 'bare teardown ms', 'teardown ratio'],
) {
  const all = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  for (const [j, r] of all.entries()) {
    process.stdout.write(`${r.map((c, i) => c.padStart(w[i])).join('  ')}\n`);
    if (j === 0) process.stdout.write(`${w.map((x) => '-'.repeat(x)).join('  ')}\n`);
  }
}

function printBreakdown(summary, result) {
  const cf = result.cliFloor;
  process.stdout.write(
    `\nNode floor (median ms): node -e 0 ${r1(median(cf['node -e 0']))}, node dist/bundle/berth.mjs --version ${r1(median(cf['berth --version']))}, imports of deps + dist/ in one process ${r1(median(result.importCost.map((x) => x.totalMs)))}\n`,
  );
  for (const [n, s] of Object.entries(summary)) {
    if (!s.breakdown.wall) continue;
    process.stdout.write(`\nberth N=${n}, wall segments (median ms, from the NDJSON timestamps):\n`);
    for (const [k, v] of Object.entries(s.breakdown.wall)) process.stdout.write(`  ${k.padEnd(36)} ${r1(v)}\n`);
    process.stdout.write(`berth N=${n}, per-pod phases (median ms per pod; sum over pods per run):\n`);
    const ph = Object.entries(s.breakdown.phases).sort((a, b) => b[1].sumPerRun - a[1].sumPerRun);
    for (const [k, v] of ph.slice(0, 14))
      process.stdout.write(`  ${k.padEnd(52)} ${String(r1(v.medianPerPod)).padStart(7)}  ${String(r1(v.sumPerRun)).padStart(8)}\n`);
    for (const [k, v] of Object.entries(s.breakdown.work ?? {}))
      process.stdout.write(`  ${k.padEnd(52)} ${String(r1(v.medianPerPod)).padStart(7)}  (inside the limiter)\n`);
  }
}

let exitCode = 0;
const t0 = performance.now();
try {
  const result = await main();
  const { rows, peerRows, summary } = summarize(result);
  result.summary = summary;
  result.totalSeconds = Math.round((performance.now() - t0) / 1000);
  if (peerRows.length) {
    printTable(peerRows, ['', 'reps', 'podman kube play/down ms', 'berth reconcile --once ms', 'berth/podman', 'goal']);
    process.stdout.write('\n');
  }
  printTable(rows);
  printBreakdown(summary, result);
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(
    outFile,
    `${JSON.stringify(result, (k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 100) / 100 : v), 2)}\n`,
  );
  say(`\nresults: ${outFile}`);
} catch (err) {
  exitCode = 1;
  say(`pod-start failed: ${err.stack ?? err}`);
} finally {
  const problems = await cleanup();
  if (problems.length) {
    exitCode = 1;
    say(`cleanup problems:\n  ${problems.join('\n  ')}`);
  }
  // berth's own objects are named berth-<pod id>: check them by id
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
