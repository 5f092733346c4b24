#!/usr/bin/env node
/* global process, console */
/**
 * CNI ADD + DEL through berth's runtime (`dist/cni/index.js`: createCni, real ExecCni) next to
 * invoking the same plugin binaries directly from the same Node process with the same stdin and
 * environment (built by berth's own buildPluginConfig/buildCniEnv, prevResult chained from the
 * plugins' outputs), alternating, in the same run. Prints the medians and berth's overhead per
 * call (whole list) and per plugin invocation; writes bench/results/cni.json.
 *
 *   npm run build && node bench/cni.mjs [--reps 20]
 *
 * As root. Host objects: netns berth-tcn5-bench, bridge berth-tcn5bb (10.198.200.0/24,
 * no gateway, no masquerade); all removed at the end, also on failure.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, now, stats, r1 } from './lib/proc.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..');
const PLUGINS = ['/opt/cni/bin', '/usr/lib/cni'];
const NS = 'berth-tcn5-bench';
const BRIDGE = 'berth-tcn5bb';
const repsArg = process.argv.indexOf('--reps');
const REPS = repsArg > 0 ? Number(process.argv[repsArg + 1]) : 20;

if (process.getuid?.() !== 0) {
  console.error('bench/cni.mjs: needs root (network namespaces, bridges, iptables)');
  process.exit(2);
}
const cniMod = await import(join(REPO, 'dist/cni/index.js')).catch(() => {
  console.error('bench/cni.mjs: run `npm run build` first (dist/cni/index.js)');
  process.exit(2);
});
const { createCni, ExecCni, buildPluginConfig, buildCniEnv, parseNetworkConfigList, parseResult, convertResult } = cniMod;

const sh = (cmd, args) => run(cmd, args).then((r) => r.stdout);
async function chains() {
  const out = new Set();
  for (const t of ['filter', 'nat', 'mangle'])
    for (const l of (await sh('iptables', ['-t', t, '-S'])).split('\n')) if (l.startsWith('-N ')) out.add(`${t} ${l.slice(3)}`);
  return out;
}
async function removeNewChains(before) {
  const fresh = [...(await chains())].filter((c) => !before.has(c));
  for (const c of fresh) {
    const [t, name] = c.split(' ');
    for (const l of (await sh('iptables', ['-t', t, '-S'])).split('\n')) {
      if (l.startsWith('-A ') && l.includes(`-j ${name}`)) await run('sh', ['-c', `iptables -t ${t} ${l.replace(/^-A /, '-D ')}`]);
    }
  }
  for (const c of fresh) await run('iptables', ['-t', c.split(' ')[0], '-F', c.split(' ')[1]]);
  for (const c of fresh) await run('iptables', ['-t', c.split(' ')[0], '-X', c.split(' ')[1]]);
}

const tmp = await mkdtemp(join(tmpdir(), 'berth-tcn5-bench-'));
const chainsBefore = await chains();
const cleanup = async () => {
  await run('ip', ['netns', 'del', NS]);
  await run('ip', ['link', 'del', BRIDGE]);
  await removeNewChains(chainsBefore);
  await rm(tmp, { recursive: true, force: true });
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

const lists = {
  'bridge+host-local': parseNetworkConfigList(
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'berth-tcn5-bench',
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          ipam: { type: 'host-local', dataDir: join(tmp, 'ipam'), ranges: [[{ subnet: '10.198.200.0/24' }]] },
        },
      ],
    }),
  ),
  'bridge+host-local+portmap': parseNetworkConfigList(
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'berth-tcn5-benchpm',
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          ipam: { type: 'host-local', dataDir: join(tmp, 'ipam'), ranges: [[{ subnet: '10.198.201.0/24' }]] },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: false },
      ],
    }),
  ),
  loopback: parseNetworkConfigList(JSON.stringify({ cniVersion: '1.0.0', name: 'berth-tcn5-benchlo', plugins: [{ type: 'loopback' }] })),
};

/** The same calls berth makes, by hand: find, spawn with stdin + env, chain prevResult. */
async function direct(list, rt, verb, cache) {
  const exec = new ExecCni();
  const env = { ...process.env, ...buildCniEnv(verb, rt, PLUGINS) };
  if (verb === 'ADD') {
    let prev;
    for (const p of list.plugins) {
      const path = await exec.findInPath(p.type, PLUGINS);
      const r = await run(path, [], { input: JSON.stringify(buildPluginConfig(list, p, prev, rt.capabilityArgs)), env });
      if (r.code !== 0) throw new Error(`direct ${verb} ${p.type}: ${r.stdout}${r.stderr}`);
      prev = convertResult(parseResult(r.stdout, list.cniVersion), list.cniVersion);
    }
    cache.result = prev;
    return;
  }
  for (let i = list.plugins.length - 1; i >= 0; i--) {
    const p = list.plugins[i];
    const path = await exec.findInPath(p.type, PLUGINS);
    const r = await run(path, [], { input: JSON.stringify(buildPluginConfig(list, p, cache.result, rt.capabilityArgs)), env });
    if (r.code !== 0) throw new Error(`direct ${verb} ${p.type}: ${r.stdout}${r.stderr}`);
  }
}

const results = {};
try {
  await run('ip', ['netns', 'del', NS]);
  await run('ip', ['link', 'del', BRIDGE]);
  const made = await run('ip', ['netns', 'add', NS]);
  if (made.code !== 0) throw new Error(`ip netns add: ${made.stderr}`);
  await mkdir(join(tmp, 'ipam'), { recursive: true });
  const cni = createCni({ cacheDir: join(tmp, 'cache'), pluginPaths: PLUGINS, exec: new ExecCni(), pinBridges: true });
  for (const [name, list] of Object.entries(lists)) {
    const rt = {
      containerId: 'berth-tcn5-bench1',
      netns: `/run/netns/${NS}`,
      ifName: name === 'loopback' ? 'lo' : 'eth0',
      args: [
        ['K8S_POD_NAMESPACE', 'default'],
        ['K8S_POD_NAME', 'bench'],
        ['K8S_POD_INFRA_CONTAINER_ID', 'berth-tcn5-bench1'],
      ],
      capabilityArgs: { portMappings: [{ hostPort: 39771, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }] },
    };
    const t = { berthAdd: [], berthDel: [], directAdd: [], directDel: [] };
    // one warm-up of each (page cache, bridge creation)
    await cni.addNetworkList(list, rt);
    await cni.delNetworkList(list, rt);
    const c0 = {};
    await direct(list, rt, 'ADD', c0);
    await direct(list, rt, 'DEL', c0);
    for (let i = 0; i < REPS; i++) {
      let t0 = now();
      await cni.addNetworkList(list, rt);
      t.berthAdd.push(now() - t0);
      t0 = now();
      await cni.delNetworkList(list, rt);
      t.berthDel.push(now() - t0);
      const c = {};
      t0 = now();
      await direct(list, rt, 'ADD', c);
      t.directAdd.push(now() - t0);
      t0 = now();
      await direct(list, rt, 'DEL', c);
      t.directDel.push(now() - t0);
    }
    const s = Object.fromEntries(Object.entries(t).map(([k, xs]) => [k, stats(xs)]));
    const n = list.plugins.length;
    results[name] = {
      plugins: n,
      reps: REPS,
      ms: s,
      overheadMs: {
        add: r1(s.berthAdd.median - s.directAdd.median),
        del: r1(s.berthDel.median - s.directDel.median),
        addPerPlugin: r1((s.berthAdd.median - s.directAdd.median) / n),
        delPerPlugin: r1((s.berthDel.median - s.directDel.median) / n),
      },
      ratio: {
        add: Math.round((s.berthAdd.median / s.directAdd.median) * 100) / 100,
        del: Math.round((s.berthDel.median / s.directDel.median) * 100) / 100,
      },
    };
    process.stderr.write(`${name}: done\n`);
  }
} finally {
  await cleanup();
}

const rows = [
  ['list', 'plugins', 'berth ADD', 'direct ADD', 'overhead ADD', 'berth DEL', 'direct DEL', 'overhead DEL', 'per plugin (ADD/DEL)'],
];
for (const [name, r] of Object.entries(results)) {
  rows.push([
    name,
    String(r.plugins),
    `${r1(r.ms.berthAdd.median)} ms`,
    `${r1(r.ms.directAdd.median)} ms`,
    `${r.overheadMs.add} ms`,
    `${r1(r.ms.berthDel.median)} ms`,
    `${r1(r.ms.directDel.median)} ms`,
    `${r.overheadMs.del} ms`,
    `${r.overheadMs.addPerPlugin} / ${r.overheadMs.delPerPlugin} ms`,
  ]);
}
const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log(
  rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(w[i] + 2))
        .join('')
        .trimEnd(),
    )
    .join('\n'),
);
console.log(`medians of ${REPS} alternating runs; overhead = berth − direct (same stdin and environment, same process)`);
await mkdir(join(HERE, 'results'), { recursive: true });
await writeFile(
  join(HERE, 'results', 'cni.json'),
  `${JSON.stringify({ at: new Date().toISOString(), host: process.env.HOSTNAME ?? null, results }, null, 2)}\n`,
);
