/** The OciRuntime contract against crun and runc (CliOciRuntime through resolveOciRuntime), as root. */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { resolveOciRuntime, type OciRuntime } from '../../../src/runtime/index.js';
import { ociRuntimeContract } from '../../contract/oci-runtime.js';
import { buildBusyboxRootfs } from '../runtime/helpers.js';

const isRoot = process.getuid?.() === 0;
const PREFIX = 'berth-house-oci';

/** A minimal OCI config: busybox rootfs read-only, own namespaces, no terminal. */
function config(rootfs: string, args: string[]) {
  return {
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args, env: ['PATH=/bin'], cwd: '/', noNewPrivileges: true },
    root: { path: rootfs, readonly: true },
    hostname: 'contract',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    ],
    linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }] },
  };
}

describe.skipIf(!isRoot)('OciRuntime contract on the host', () => {
  let tmp = '';
  let rootfs = '';
  beforeAll(async () => {
    tmp = await mkdtemp(`/tmp/${PREFIX}-`);
    rootfs = join(tmp, 'rootfs');
    await buildBusyboxRootfs(rootfs);
    for (const d of ['dev', 'proc']) await mkdir(join(rootfs, d), { recursive: true });
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  for (const name of ['crun', 'runc'] as const) {
    ociRuntimeContract(name, async () => {
      const runtime: OciRuntime = await resolveOciRuntime({ name, runDir: join(tmp, `run-${name}`) });
      const made = new Set<string>();
      const bundle = async (id: string, args: string[]) => {
        const dir = join(tmp, 'bundles', id);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'config.json'), JSON.stringify(config(rootfs, args)));
        made.add(id);
        return dir;
      };
      return {
        runtime,
        id: (what) => `${PREFIX}-${name}-${what}`,
        create: async (id) => {
          const dir = await bundle(id, ['sleep', '1000']);
          // as conmon does: create detaches, the container's init waits for start
          // (no pipes: the container's process would hold them open)
          const r = spawnSync(
            runtime.binaryPath,
            [...runtime.globalArgs, '--log', join(dir, 'create.log'), 'create', '--bundle', dir, id],
            { stdio: 'ignore', timeout: 30_000 },
          );
          if (r.status !== 0)
            throw new Error(`${name} create ${id}: exit ${r.status}: ${await readFile(join(dir, 'create.log'), 'utf8').catch(() => '')}`);
        },
        processFile: async (id, code) => {
          const file = join(tmp, 'bundles', id, `exec-${code}.json`);
          await writeFile(file, JSON.stringify({ ...config(rootfs, ['sh', '-c', `exit ${code}`]).process }));
          return file;
        },
        oneShotBundle: (id, code) => bundle(id, ['sh', '-c', `exit ${code}`]),
        cleanup: async () => {
          for (const id of made) await runtime.delete(id, true).catch(() => undefined);
          await rm(join(tmp, 'bundles'), { recursive: true, force: true });
        },
      };
    });
  }
});
