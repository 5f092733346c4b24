/** Shared set-up for the runtime integration tests: a busybox rootfs and launches. */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Pod } from '../../../src/api/pod.js';
import { ConmonRuntime, resolveOciRuntime, type AppLaunch } from '../../../src/runtime/index.js';

export const PREFIX = 'berth-trt';

const APPLETS = [
  'sh',
  'echo',
  'sleep',
  'cat',
  'ls',
  'id',
  'hostname',
  'readlink',
  'test',
  'true',
  'false',
  'touch',
  'stat',
  'mkdir',
  'ps',
  'env',
  'pwd',
  '[',
];

/** A minimal rootfs: static busybox, its applets, and a user database with root and nobody. */
export async function buildBusyboxRootfs(dir: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'etc'), { recursive: true });
  await mkdir(join(dir, 'tmp'), { recursive: true, mode: 0o1777 });
  await copyFile('/bin/busybox', join(dir, 'bin/busybox'));
  for (const a of APPLETS) await symlink('busybox', join(dir, 'bin', a));
  await writeFile(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await writeFile(join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  await writeFile(join(dir, 'etc/berth-trt-lower'), 'lower\n');
}

export interface LaunchOptions {
  tmp: string;
  lower: string;
  id: string;
  command: string[];
  execution?: number;
  netnsPath?: string;
  stopSignal?: string;
}

export function makeLaunch(o: LaunchOptions): AppLaunch {
  const execution = o.execution ?? 0;
  const pod = Pod.parse({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'trt', namespace: 'default', uid: `uid-${o.id}` },
    spec: { containers: [{ name: 'app', image: 'localhost/busybox:latest', command: o.command }] },
  });
  return {
    containerId: o.id,
    podUid: `uid-${o.id}`,
    namespace: 'default',
    podName: 'trt',
    appName: 'app',
    execution,
    bundleDir: join(o.tmp, 'bundles', o.id),
    rootfsLower: o.lower,
    image: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], WorkingDir: '/', ...(o.stopSignal ? { StopSignal: o.stopSignal } : {}) },
    container: pod.spec.containers[0]!,
    pod,
    ...(o.netnsPath ? { netnsPath: o.netnsPath } : {}),
    hostname: 'trt',
    logPath: join(o.tmp, 'logs', o.id, `${execution}.log`),
  };
}

/** A temp dir with a busybox lower tree and a ConmonRuntime (crun) whose cgroup parent is `prefix`. */
export interface RuntimeSandbox {
  tmp: string;
  lower: string;
  rt: ConmonRuntime;
}

export async function openRuntimeSandbox(prefix: string): Promise<RuntimeSandbox> {
  const tmp = await mkdtemp(`/tmp/${prefix}-`);
  const lower = join(tmp, 'lower');
  await buildBusyboxRootfs(lower);
  const runDir = join(tmp, 'run');
  const rt = new ConmonRuntime({ runDir, ociRuntime: await resolveOciRuntime({ name: 'crun', runDir }), cgroupParent: prefix });
  return { tmp, lower, rt };
}

/** Remove every container of the sandbox, its cgroup parent and its dir; returns how many monitors naming `prefix` are left. */
export async function closeRuntimeSandbox(sb: RuntimeSandbox | undefined, prefix: string): Promise<number> {
  if (sb) {
    for (const id of await sb.rt.list(prefix)) await sb.rt.remove(id).catch(() => undefined);
    await sb.rt.pruneCgroupParent();
    await rm(sb.tmp, { recursive: true, force: true });
  }
  return Number(
    spawnSync('sh', ['-c', `ps -eo args= | grep -c '[c]onmon.*${prefix}'`])
      .stdout.toString()
      .trim(),
  );
}
