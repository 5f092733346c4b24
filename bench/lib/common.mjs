/* global process, setTimeout */
/**
 * What every benchmark (and scripts/chaos.mjs) sets up the same way: options from flags or the
 * environment, stderr progress, the bench Network YAML, ip_forward put back as it was, and the
 * versions of what was measured.
 */
import { cp, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { cpus, hostname, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { run } from './proc.mjs';

/** `--flag value`, else the environment variable, else the default. */
export function option(flag, env, dflt) {
  const i = process.argv.indexOf(flag);
  if (i > 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1];
  return process.env[env] ?? dflt;
}

export const say = (...a) => process.stderr.write(`${a.join(' ')}\n`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The default Network of a run: one bridge with masquerade and host-local IPAM, portmap unless `portmap: false`. */
export function networkYaml({ name, bridge, subnet, ipamDir, hairpin = false, portmap = true }) {
  return `apiVersion: berth.dev/v1
kind: Network
metadata: {name: ${name}}
spec:
  default: true
  cniVersion: "1.0.0"
  plugins:
    - type: bridge
      bridge: ${bridge}
      isGateway: true
      ipMasq: true
${hairpin ? '      hairpinMode: true\n' : ''}      ipam: {type: host-local, dataDir: ${ipamDir}, ranges: [[{subnet: ${subnet}}]], routes: [{dst: 0.0.0.0/0}]}
${portmap ? '    - {type: portmap, capabilities: {portMappings: true}}\n' : ''}`;
}

/**
 * ip_forward as it was before the run: the bridge plugin turns it on; put it back to 0 only when
 * it was 0 and no other bridge (someone else's) may need it. Returns what was done, for the report.
 */
export async function restoreIpForward(before) {
  if (before !== '0') return 'unchanged';
  if ((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim() === '0') return 'unchanged';
  const bridges = (await run('ip', ['-o', 'link', 'show', 'type', 'bridge'])).stdout.trim();
  if (bridges)
    return `left at 1: other bridges exist (${bridges
      .split('\n')
      .map((l) => l.split(': ')[1])
      .join(', ')})`;
  await writeFile('/proc/sys/net/ipv4/ip_forward', '0\n');
  return 'restored to 0';
}

/** Versions of node, the runtimes, the monitor, the Debian packages given, and berth's commit. */
export async function versions(repo, packages = []) {
  const first = async (cmd, args) => (await run(cmd, args).catch(() => ({ stdout: '' }))).stdout.split('\n')[0].trim();
  const pkgs = packages.length
    ? (await run('dpkg-query', ['-W', '-f', '${Package} ${Version}\\n', ...packages]).catch(() => ({ stdout: '' }))).stdout
        .trim()
        .split('\n')
    : [];
  const head = (await run('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'])).stdout.trim();
  const dirty = (await run('git', ['-C', repo, 'status', '--porcelain', '--', 'src'])).stdout.trim().length > 0;
  return {
    node: process.version,
    crun: await first('crun', ['--version']),
    runc: await first('runc', ['--version']),
    conmon: await first('conmon', ['--version']),
    ...(pkgs.length ? { packages: pkgs } : {}),
    berth: `${head}${dirty ? ' (src/ modified in the working tree)' : ''}`,
  };
}

/**
 * A copy of the repository's dist/ (others may rebuild it while a run goes on) under dir, with
 * package.json and node_modules beside it: the CLI to run and when dist/ was built.
 */
export async function snapshotDist(repo, dir) {
  await mkdir(dir);
  const distBuiltAt = (await stat(join(repo, 'dist/bundle/berth.mjs'))).mtime.toISOString();
  await cp(join(repo, 'dist'), join(dir, 'dist'), { recursive: true });
  await cp(join(repo, 'package.json'), join(dir, 'package.json'));
  await symlink(join(repo, 'node_modules'), join(dir, 'node_modules'));
  return { cli: join(dir, 'dist/bundle/berth.mjs'), distBuiltAt };
}

/** The machine a result was measured on. */
export function machineInfo() {
  return {
    hostname: hostname(),
    kernel: release(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memGiB: Math.round(totalmem() / 2 ** 30),
  };
}
