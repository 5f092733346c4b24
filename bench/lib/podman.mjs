/**
 * podman as the peer of a benchmark, configured only through temporary files
 * (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF; HOST-NOTES §7): storage, run, tmp, static,
 * volume, events and network-config dirs under the bench sandbox, cgroupfs, the file event
 * logger, crun through the same hybrid-cgroup wrapper berth uses, ulimits this VM allows,
 * netavark. Nothing under /etc is written.
 *
 * podman runs in a throwaway "host" netns (`berth-bench-phost`, entered with nsenter): its
 * default bridge network (`podman0`, 10.88.0.0/16), the NETAVARK iptables chains and the
 * ip_forward flip stay in there and go with it. podman's per-pod netns (`/run/netns/netns-*`)
 * are removed by `kube down`; any left are removed by cleanup(). podman also makes
 * /run/containers and /var/lib/containers (blob-info cache, netavark's ipam db) whatever its
 * configuration says; cleanup() removes them when they did not exist before.
 */
/* global process */
import { mkdir, writeFile, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run, must } from './proc.mjs';

export const PODMAN_HOST_NS = `${process.env.BENCH_NAME || 'berth-bench'}-phost`;
export const PODMAN_IMAGE = 'localhost/berth-bench-busybox:latest';
const GLOBAL_DIRS = ['/run/containers', '/var/lib/containers', '/run/libpod', '/etc/containers/networks'];

export class PodmanPeer {
  /** @param {{ root: string, runtimePath: string | undefined }} o runtimePath: an OCI runtime wrapper (else crun) */
  constructor({ root, runtimePath }) {
    this.root = root;
    this.runtimePath = runtimePath;
    this.env = { ...process.env, CONTAINERS_CONF: join(root, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(root, 'storage.conf') };
    this.globalBefore = new Set(GLOBAL_DIRS.filter((d) => existsSync(d)));
    this.netnsBefore = undefined;
    this.madeNs = false;
  }

  async version() {
    return (await run('podman', ['--version'], { env: this.env })).stdout.trim();
  }

  async setup(imageLayout) {
    const r = this.root;
    for (const d of ['graph', 'run', 'tmp', 'static', 'volumes', 'networks']) await mkdir(join(r, d), { recursive: true });
    const runtime = this.runtimePath ? `runtime = "berthbench"\n` : `runtime = "crun"\n`;
    const runtimes = this.runtimePath ? `[engine.runtimes]\nberthbench = ["${this.runtimePath}"]\n` : '';
    await writeFile(
      join(r, 'containers.conf'),
      `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "${r}/events.log"
helper_binaries_dir = ["/usr/libexec/podman", "/usr/lib/podman"]
${runtime}tmp_dir = "${r}/tmp"
static_dir = "${r}/static"
volume_path = "${r}/volumes"
${runtimes}[network]
network_backend = "netavark"
network_config_dir = "${r}/networks"
`,
    );
    await writeFile(join(r, 'storage.conf'), `[storage]\ndriver = "overlay"\ngraphroot = "${r}/graph"\nrunroot = "${r}/run"\n`);
    this.netnsBefore = new Set(await readdir('/run/netns').catch(() => []));
    if (existsSync(`/run/netns/${PODMAN_HOST_NS}`))
      throw new Error(`netns ${PODMAN_HOST_NS} exists already: another bench running, or a leak`);
    await must('ip', ['netns', 'add', PODMAN_HOST_NS]);
    this.madeNs = true;
    await must('ip', ['-n', PODMAN_HOST_NS, 'link', 'set', 'lo', 'up']);
    // the same image berth uses, from the same OCI layout, into podman's own store
    const id = (await this.must(['pull', '-q', `oci:${imageLayout}:latest`])).stdout.trim().split('\n').pop();
    await this.must(['tag', id, PODMAN_IMAGE]);
  }

  /** `podman ARGS` in the throwaway host netns. */
  podman(args, opts = {}) {
    return run('nsenter', [`--net=/run/netns/${PODMAN_HOST_NS}`, 'podman', ...args], { env: this.env, ...opts });
  }

  async must(args) {
    const r = await this.podman(args);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
    return r;
  }

  /** Names of the pods podman shows as Running with every container running. */
  async runningPods() {
    const r = await this.must(['pod', 'ps', '--format', 'json']);
    const pods = JSON.parse(r.stdout || '[]');
    return pods.filter((p) => p.Status === 'Running' && (p.Containers ?? []).every((c) => c.Status === 'running')).map((p) => p.Name);
  }

  async podCount() {
    return JSON.parse((await this.must(['pod', 'ps', '--format', 'json'])).stdout || '[]').length;
  }

  async cleanup() {
    const problems = [];
    if (this.madeNs) {
      const rmAll = async (args) => {
        const r = await this.podman(args);
        if (r.code !== 0) problems.push(`podman ${args.join(' ')}: ${r.stderr.trim().slice(0, 300)}`);
      };
      await rmAll(['pod', 'rm', '-a', '-f', '-t', '0']);
      await rmAll(['rm', '-a', '-f', '-t', '0']);
      await rmAll(['rmi', '-a', '-f']);
      for (const ns of await readdir('/run/netns').catch(() => [])) {
        if (ns === PODMAN_HOST_NS || this.netnsBefore?.has(ns) || !ns.startsWith('netns-')) continue;
        problems.push(`podman left netns ${ns} (removed)`);
        await run('ip', ['netns', 'del', ns]);
      }
      const r = await run('ip', ['netns', 'del', PODMAN_HOST_NS]);
      if (r.code !== 0) problems.push(`ip netns del ${PODMAN_HOST_NS}: ${r.stderr.trim()}`);
      this.madeNs = false;
    }
    for (const d of GLOBAL_DIRS) if (!this.globalBefore.has(d) && existsSync(d)) await rm(d, { recursive: true, force: true });
    return problems;
  }
}
