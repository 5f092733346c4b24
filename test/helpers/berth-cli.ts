/**
 * Drive the built `berth` CLI against temporary state, run, log and spec directories, and
 * find what a test left on the host. Every e2e test uses one of these sandboxes.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(REPO, 'dist/bundle/berth.mjs');
export const isRoot = process.getuid?.() === 0;

export interface Sandbox {
  root: string;
  specDir: string;
  args: string[];
  run(args: string[], opts?: { timeoutMs?: number }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  spawn(args: string[]): ResultPromise;
  status(): Promise<StatusJson>;
  writeSpec(name: string, text: string): Promise<void>;
  removeSpec(name: string): Promise<void>;
  /** remove every spec and converge: the sandbox's pods are torn down */
  teardown(): Promise<number>;
  dispose(): Promise<void>;
}

export interface StatusJson {
  pods: Array<{
    namespace: string;
    name: string;
    uid: string | null;
    status: string;
    ready: string;
    restarts: number;
    reason: string | null;
    message: string | null;
    netns: string | null;
    ips: string[];
    networks: Array<{ name: string; interface: string; ips: string[] }>;
    apps: Array<{
      name: string;
      state: string;
      pid: number | null;
      restartCount: number;
      exitCode: number | null;
      imageDigest: string | null;
    }>;
  }>;
}

export async function createSandbox(prefix: string): Promise<Sandbox> {
  const root = await mkdtemp(join(tmpdir(), `${prefix}-`));
  const specDir = join(root, 'specs');
  await mkdir(specDir, { recursive: true });
  const args = [
    '--spec-dir',
    specDir,
    '--state-dir',
    join(root, 'state'),
    '--run-dir',
    join(root, 'run'),
    '--log-dir',
    join(root, 'log'),
    '--config-dir',
    join(root, 'config'),
  ];
  const sb: Sandbox = {
    root,
    specDir,
    args,
    async run(a, opts) {
      const r = await execa('node', [CLI, ...a, ...args], { reject: false, timeout: opts?.timeoutMs ?? 120_000 });
      return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
    spawn(a) {
      return execa('node', [CLI, ...a, ...args], { reject: false });
    },
    async status() {
      const r = await sb.run(['status', '-o', 'json']);
      if (r.exitCode !== 0) throw new Error(`status failed: ${r.stderr}`);
      return JSON.parse(r.stdout) as StatusJson;
    },
    async writeSpec(name, text) {
      const tmp = join(specDir, `.${name}.tmp`);
      await writeFile(tmp, text);
      await execa('mv', [tmp, join(specDir, name)]);
    },
    async removeSpec(name) {
      await rm(join(specDir, name), { force: true });
    },
    async teardown() {
      await rm(specDir, { recursive: true, force: true });
      await mkdir(specDir, { recursive: true });
      return (await sb.run(['reconcile', '--once', '--timeout', '60s'])).exitCode;
    },
    async dispose() {
      await sb.teardown().catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
  return sb;
}

/**
 * Host objects left that belong to the given identifiers (pod short ids, bridge names,
 * sandbox root): `../shared/tools/berth-leaks` filtered to this test, so that pods of
 * other installations on the same machine do not count.
 */
export async function leaksOf(ids: string[]): Promise<string[]> {
  const tool = resolve(REPO, '../shared/tools/berth-leaks');
  const lines: string[] = [];
  if (existsSync(tool)) {
    const r = await execa('bash', [tool], { reject: false });
    lines.push(...r.stdout.split('\n'));
  } else {
    const ns = await execa('ip', ['netns', 'list'], { reject: false });
    lines.push(...ns.stdout.split('\n').map((l) => `netns ${l}`));
    const links = await execa('ip', ['-o', 'link', 'show'], { reject: false });
    lines.push(...links.stdout.split('\n').map((l) => `link ${l}`));
    const mounts = await execa('cat', ['/proc/self/mounts'], { reject: false });
    lines.push(...mounts.stdout.split('\n').map((l) => `mount ${l}`));
    const ps = await execa('ps', ['-eo', 'pid=,args='], { reject: false });
    lines.push(
      ...ps.stdout
        .split('\n')
        .filter((l) => /conmon|crun|runc/.test(l))
        .map((l) => `process ${l}`),
    );
    const ipt = await execa('iptables-save', [], { reject: false });
    lines.push(...ipt.stdout.split('\n').map((l) => `iptables ${l}`));
  }
  return lines.filter((l) => ids.some((id) => id && l.includes(id)));
}

export const shortId = (uid: string) => uid.replace(/-/g, '').slice(0, 12);

/** An app that runs until it is stopped and exits at once on TERM. */
export const LOOP = 'trap "exit 0" TERM; while true; do sleep 1 & wait $!; done';

/**
 * End a test file's sandbox: tear its pods down with berth itself, list what they left on the
 * host (by the given identifiers), then remove the sandbox. The caller asserts on both.
 */
export async function closeSandbox(sb: Sandbox, ids: Iterable<string>): Promise<{ code: number; leaks: string[] }> {
  const code = await sb.teardown();
  const leaks = await leaksOf([...ids, sb.root]);
  await sb.dispose();
  return { code, leaks };
}

/** A reproducible busybox OCI layout built once per test file. */
export async function buildBusyboxImage(dir: string): Promise<string> {
  await execa('bash', [join(REPO, 'scripts/build-busybox-image.sh'), dir, 'latest']);
  return `oci:${dir}:latest`;
}

export function networkYaml(name: string, bridge: string, subnet: string, dataDir: string, isDefault = true): string {
  return `apiVersion: berth.dev/v1
kind: Network
metadata: {name: ${name}}
spec:
  default: ${isDefault}
  cniVersion: "1.0.0"
  plugins:
    - type: bridge
      bridge: ${bridge}
      isGateway: true
      ipMasq: true
      ipam: {type: host-local, dataDir: ${dataDir}, ranges: [[{subnet: ${subnet}}]], routes: [{dst: 0.0.0.0/0}]}
    - {type: portmap, capabilities: {portMappings: true}}
`;
}

export function podYaml(name: string, image: string, apps: Array<{ name: string; script: string }>, extra = ''): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 2
${extra}  containers:
${apps
  .map(
    (a) => `    - name: ${a.name}
      image: ${image}
      command: [sh, -c, ${JSON.stringify(a.script)}]
`,
  )
  .join('')}`;
}
