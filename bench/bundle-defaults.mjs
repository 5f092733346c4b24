#!/usr/bin/env node
/**
 * The security-relevant defaults of the OCI config.json berth generates for a plain pod (one
 * container, no securityContext), next to podman's and containerd's, as a markdown table on
 * stdout (and JSON in bench/results/bundle-defaults.json).
 *
 *   npm run build && node bench/bundle-defaults.mjs [--out FILE]
 *
 * - berth: `buildOciSpec` from dist/ (the module the agent runs) with the host facts its
 *   runtime reads (`ConmonRuntime.hostFacts()`: cgroup mode, rlimits, bounding set, devices,
 *   oom floor), for a BestEffort pod `sleep 1000` on a pod network namespace.
 * - podman: `podman create` + `podman init` (which writes config.json) of the same command in
 *   a throwaway configuration (CONTAINERS_CONF / CONTAINERS_STORAGE_CONF under a temp dir,
 *   HOST-NOTES §7: cgroupfs, runc, file events, ulimits the host allows, `--network none`),
 *   then config.json read from its storage. The image is the busybox example image
 *   (scripts/build-busybox-image.sh), pulled from an OCI layout: nothing leaves the machine.
 * - containerd: `ctr oci spec`, containerd's default spec, printed without a daemon. The CRI
 *   plugin starts from it and adds the seccomp profile when a pod asks for RuntimeDefault.
 *
 * Needs root, podman (+ netavark, aardvark-dns) and ctr (`apt-get install podman netavark
 * aardvark-dns containerd`); a missing peer is reported as a column of "n/a". Every podman
 * object (container, image, storage) lives in the temp dir and is removed, as are the
 * global paths podman and its image library create on first use, when this run made them.
 */
/* global process, console */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './lib/proc.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outIdx = process.argv.indexOf('--out');
const OUT = resolve(REPO, outIdx > 0 ? process.argv[outIdx + 1] : 'bench/results/bundle-defaults.json');
const COMMAND = ['sleep', '1000'];
/** created by podman / containers-image on first use, even with a private configuration */
const GLOBAL_PATHS = ['/var/lib/containers', '/run/containers', '/run/libpod', '/etc/containers/networks', '/etc/cni/net.d/cni.lock'];

async function have(cmd) {
  return (await run('sh', ['-c', `command -v ${cmd}`])).code === 0;
}

// ------------------------------------------------------------------ berth
async function berthSpec(tmp) {
  if (!existsSync(join(REPO, 'dist/runtime/index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const rt = await import(join(REPO, 'dist/runtime/index.js'));
  const { Pod } = await import(join(REPO, 'dist/spec/pod.js'));
  const runDir = join(tmp, 'berth-run');
  const oci = await rt.resolveOciRuntime({ name: 'crun', runDir });
  const conmon = new rt.ConmonRuntime({ runDir, ociRuntime: oci });
  const { bundle } = await conmon.hostFacts();
  const pod = Pod.parse({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'plain', namespace: 'default', uid: '00000000-0000-0000-0000-000000000001' },
    spec: { containers: [{ name: 'app', image: 'localhost/busybox:latest', command: COMMAND }] },
  });
  const launch = {
    containerId: 'berth-000000000000-app',
    podUid: pod.metadata.uid,
    namespace: 'default',
    podName: 'plain',
    appName: 'app',
    execution: 0,
    bundleDir: join(tmp, 'bundle'),
    rootfsLower: join(tmp, 'rootfs'),
    image: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], WorkingDir: '/' },
    container: pod.spec.containers[0],
    pod,
    netnsPath: '/run/netns/berth-000000000000',
    hostname: 'plain',
    logPath: join(tmp, 'app.log'),
  };
  return rt.buildOciSpec(launch, { ...bundle, userDb: { passwd: [], group: [] } });
}

// ------------------------------------------------------------------ podman
async function podmanSpec(tmp) {
  if (!(await have('podman'))) return { missing: 'podman is not installed (apt-get install podman netavark aardvark-dns)' };
  // lower case only: podman names an image pulled from oci:<path> after the path
  const w = join(tmp, `podman-${randomBytes(4).toString('hex')}`);
  for (const d of ['graph', 'run', 'tmp', 'static', 'vol', 'net']) await mkdir(join(w, d), { recursive: true });
  const hard = await hostHardLimits();
  const nofile = Math.min(1_048_576, hard.nofile);
  const nproc = Math.min(32_768, hard.nproc);
  await writeFile(
    join(w, 'containers.conf'),
    [
      '[containers]',
      `default_ulimits=["nofile=${nofile}:${nofile}","nproc=${nproc}:${nproc}"]`,
      '[engine]',
      'cgroup_manager="cgroupfs"',
      'events_logger="file"',
      `events_logfile_path="${w}/events.log"`,
      'runtime="runc"',
      `tmp_dir="${w}/tmp"`,
      `static_dir="${w}/static"`,
      `volume_path="${w}/vol"`,
      '[network]',
      'network_backend="netavark"',
      `network_config_dir="${w}/net"`,
      '',
    ].join('\n'),
  );
  await writeFile(join(w, 'storage.conf'), `[storage]\ndriver="overlay"\ngraphroot="${w}/graph"\nrunroot="${w}/run"\n`);
  const env = { ...process.env, CONTAINERS_CONF: join(w, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(w, 'storage.conf') };
  const podman = async (args) => {
    const r = await run('podman', args, { env });
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')}: ${r.stderr.trim()}`);
    return r.stdout.trim();
  };
  const layout = join(w, 'img');
  const b = await run('bash', [join(REPO, 'scripts/build-busybox-image.sh'), layout, 'latest']);
  if (b.code !== 0) throw new Error(`build-busybox-image.sh: ${b.stderr}`);
  const name = `berth-bench-defaults-${randomBytes(4).toString('hex')}`;
  let image;
  try {
    image = (await podman(['pull', '-q', `oci:${layout}:latest`])).split('\n').pop();
    const id = await podman(['create', '-q', '--name', name, '--network', 'none', image, ...COMMAND]);
    await podman(['init', name]);
    const version = (await podman(['--version'])).replace(/^podman version /, '');
    return { version, spec: JSON.parse(await readFile(join(w, 'graph/overlay-containers', id, 'userdata/config.json'), 'utf8')) };
  } finally {
    await run('podman', ['rm', '-f', '-t', '0', name], { env });
    if (image) await run('podman', ['rmi', '-f', image], { env });
    // the overlay driver's mounts go with the container; never rm -r across a live mount
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m) => m?.startsWith(`${w}/`));
    for (const m of mounts.reverse()) await run('umount', ['-l', m]);
    await rm(w, { recursive: true, force: true });
  }
}

async function hostHardLimits() {
  const text = await readFile('/proc/self/limits', 'utf8');
  const hard = (label) => {
    const m = new RegExp(`^${label}\\s+\\S+\\s+(\\S+)`, 'm').exec(text);
    return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
  };
  return { nofile: hard('Max open files'), nproc: hard('Max processes') };
}

// ------------------------------------------------------------------ containerd
async function containerdSpec() {
  if (!(await have('ctr'))) return { missing: 'ctr is not installed (apt-get install containerd)' };
  const r = await run('ctr', ['oci', 'spec']);
  if (r.code !== 0) throw new Error(`ctr oci spec: ${r.stderr}`);
  const v = await run('ctr', ['--version']);
  return { version: v.stdout.trim().split(' ').pop(), spec: JSON.parse(r.stdout) };
}

// ------------------------------------------------------------------ rows
function allowedSyscalls(seccomp) {
  const names = new Set();
  for (const r of seccomp?.syscalls ?? [])
    if (r.action === 'SCMP_ACT_ALLOW' && !r.args?.length) for (const n of r.names ?? []) names.add(n);
  return names.size;
}

function mountOpts(spec, dest) {
  const m = (spec.mounts ?? []).find((x) => x.destination === dest);
  return m ? `${m.type} ${m.options?.join(',') ?? ''}` : '—';
}

/** A list cell: the count, then what it has that berth lacks (+) and what berth has that it lacks (−). */
function listCell(list, berthList, isBerth) {
  if (!list) return '—';
  if (isBerth) return `${list.length}: ${list.join(', ')}`;
  const plus = list.filter((x) => !berthList.includes(x));
  const minus = berthList.filter((x) => !list.includes(x));
  const diff = [plus.length ? `+${plus.join(', +')}` : '', minus.length ? `−${minus.join(', −')}` : ''].filter(Boolean).join('; ');
  return `${list.length}${diff ? ` (${diff})` : ' (same as berth)'}`;
}

const ROWS = [
  ['capabilities', (s, b, isB) => listCell(s.process?.capabilities?.bounding, b.process.capabilities.bounding, isB)],
  [
    'seccomp default action',
    (s) => (s.linux?.seccomp ? `${s.linux.seccomp.defaultAction} (errno ${s.linux.seccomp.defaultErrnoRet ?? 'EPERM'})` : 'none'),
  ],
  ['seccomp allowed syscalls (unconditional)', (s) => (s.linux?.seccomp ? String(allowedSyscalls(s.linux.seccomp)) : 'none')],
  ['seccomp architectures', (s) => s.linux?.seccomp?.architectures?.join(', ') ?? '—'],
  ['noNewPrivileges', (s) => String(s.process?.noNewPrivileges ?? false)],
  ['maskedPaths', (s, b, isB) => listCell(s.linux?.maskedPaths, b.linux.maskedPaths ?? [], isB)],
  ['readonlyPaths', (s, b, isB) => listCell(s.linux?.readonlyPaths, b.linux.readonlyPaths ?? [], isB)],
  ['namespaces', (s) => (s.linux?.namespaces ?? []).map((n) => n.type).join(', ')],
  ['pids limit', (s) => String(s.linux?.resources?.pids?.limit ?? 'none')],
  ['oomScoreAdj', (s) => String(s.process?.oomScoreAdj ?? 'unset (inherits)')],
  ['/proc mount', (s) => mountOpts(s, '/proc')],
  ['/sys mount', (s) => mountOpts(s, '/sys')],
  ['/sys/fs/cgroup mount', (s) => mountOpts(s, '/sys/fs/cgroup')],
  ['rlimits', (s) => (s.process?.rlimits ?? []).map((r) => `${r.type.replace('RLIMIT_', '')}=${r.soft}:${r.hard}`).join(', ') || 'none'],
  ['devices (linux.devices)', (s) => String(s.linux?.devices?.length ?? 0)],
  [
    'device cgroup rules',
    (s) =>
      (s.linux?.resources?.devices ?? [])
        .map((d) => `${d.allow ? 'allow' : 'deny'} ${d.type ?? 'a'} ${d.major ?? '*'}:${d.minor ?? '*'} ${d.access}`)
        .join('; ') || 'none',
  ],
  ['root read-only', (s) => String(s.root?.readonly ?? false)],
];

// ------------------------------------------------------------------ main
async function main() {
  if (process.getuid?.() !== 0) throw new Error('needs root (podman create/init, host facts)');
  const before = new Map(GLOBAL_PATHS.map((p) => [p, existsSync(p)]));
  const tmp = join('/tmp', `berth-bench-defaults-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp, { recursive: true });
  try {
    const berth = await berthSpec(tmp);
    const podman = await podmanSpec(tmp);
    const containerd = await containerdSpec();
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8'));
    const cols = [
      { name: `berth ${pkg.version}`, spec: berth },
      { name: podman.spec ? `podman ${podman.version}` : 'podman', spec: podman.spec, missing: podman.missing },
      {
        name: containerd.spec ? `containerd ${containerd.version} (\`ctr oci spec\`)` : 'containerd',
        spec: containerd.spec,
        missing: containerd.missing,
      },
    ];
    const lines = [`| setting | ${cols.map((c) => c.name).join(' | ')} |`, `| --- | ${cols.map(() => '---').join(' | ')} |`];
    const table = {};
    for (const [label, cell] of ROWS) {
      const cells = cols.map((c, i) => (c.spec ? cell(c.spec, berth, i === 0) : 'n/a'));
      table[label] = Object.fromEntries(cols.map((c, i) => [c.name, cells[i]]));
      lines.push(`| ${label} | ${cells.map((x) => x.replace(/\|/g, '\\|')).join(' | ')} |`);
    }
    console.log(lines.join('\n'));
    console.log('');
    console.log('Lists of podman and containerd show their count, then entries berth lacks (+) and berth has that they lack (−).');
    console.log(
      "`ctr oci spec` is containerd's base spec: the CRI plugin adds `linux.seccomp` (contrib/seccomp, the same rules as Moby's and berth's default) when a pod sets RuntimeDefault, and the kubelet sets oomScoreAdj by QoS class.",
    );
    for (const c of cols) if (c.missing) console.log(`${c.name}: ${c.missing}`);
    await mkdir(dirname(OUT), { recursive: true });
    await writeFile(OUT, `${JSON.stringify({ date: new Date().toISOString(), table }, null, 2)}\n`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
    for (const [p, existed] of before) if (!existed && existsSync(p)) await rm(p, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
