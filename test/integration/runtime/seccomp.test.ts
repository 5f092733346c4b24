/**
 * The seccomp profiles berth generates, loaded by the real runtimes (crun through berth's
 * hybrid-cgroup wrapper, and runc) and tried from inside by the attacker probe
 * (test/fixtures/runtime/probe.c): an app with the default capabilities and the default
 * profile runs in seccomp filter mode and cannot unshare, use keys, io_uring,
 * perf_event_open, vsock, mount, open a device node, load modules, set the hostname or use
 * clone3, while fork/exec and AF_INET sockets work. Privileged and Unconfined apps run
 * without a filter; a Localhost profile is honoured.
 */
import { readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildOciSpec,
  crunNeedsWrapper,
  detectCgroupFacts,
  hostBoundingCapabilities,
  hostRlimits,
  parseCgroupMounts,
  resolveOciRuntime,
  type AppLaunch,
  type BundleFacts,
  type CliOciRuntime,
} from '../../../src/runtime/index.js';
import { seccompFor, type SeccompSelection } from '../../../src/runtime/seccomp/index.js';
import { buildProbeRootfs, compileProbe, parseProbeOutput, probeUnavailable } from '../../helpers/probe-image.js';
import { makeLaunch } from './helpers.js';
import { devMajorMinor } from '../../../src/runtime/host-facts.js';

const PREFIX = 'berth-tsc';
const isRoot = process.getuid?.() === 0;
const RUNTIMES = ['crun', 'runc'] as const;
const unavailable = isRoot ? await probeUnavailable() : 'needs root';
if (unavailable) console.warn(`seccomp integration tests skipped: ${unavailable}`);

/** What an unprivileged app with the default profile must not be able to do, and the errno. */
const DENIED: Record<string, string> = {
  'unshare-user': 'EPERM',
  'unshare-mnt': 'EPERM',
  'clone-newuser': 'EPERM',
  clone3: 'ENOSYS',
  keyctl: 'EPERM',
  add_key: 'EPERM',
  io_uring_setup: 'EPERM',
  perf_event_open: 'EPERM',
  'socket-vsock': 'EPERM',
  'mount-tmpfs': 'EPERM',
  'mknod-open': 'EPERM',
  init_module: 'EPERM',
  finit_module: 'EPERM',
  sethostname: 'EPERM',
  bpf: 'EPERM',
  userfaultfd: 'EPERM',
};
const ALLOWED = ['fork', 'exec', 'socket-inet'];

describe.skipIf(unavailable !== undefined)('seccomp profiles in crun and runc', () => {
  let tmp = '';
  let rootfs = '';
  let profileDir = '';
  /** the host's root disk, for mknod+open: only the devices cgroup stands between root and it */
  let probeDev = 'c:1:1';
  const oci = new Map<string, CliOciRuntime>();
  const facts = new Map<string, BundleFacts>();
  const started: Array<{ runtime: string; id: string }> = [];

  beforeAll(async () => {
    tmp = await mkdtemp(`/tmp/${PREFIX}-`);
    rootfs = join(tmp, 'rootfs');
    await buildProbeRootfs(rootfs, await compileProbe(join(tmp, 'bin')));
    const root = devMajorMinor(statSync('/').dev);
    if (root.major !== 0) probeDev = `b:${root.major}:${root.minor}`;
    profileDir = join(tmp, 'config/seccomp');
    await mkdir(profileDir, { recursive: true });
    const [cg, rlimits, bounding] = await Promise.all([detectCgroupFacts(), hostRlimits(), hostBoundingCapabilities()]);
    for (const name of RUNTIMES) {
      const rt = await resolveOciRuntime({ name, runDir: join(tmp, `run-${name}`) });
      oci.set(name, rt);
      const mode = name === 'crun' && crunNeedsWrapper(cg) ? 'v1' : cg.mode;
      facts.set(name, { cgroupMode: mode, rlimits, boundingCapabilities: bounding, cgroupParent: PREFIX, seccompDir: profileDir });
    }
  });

  afterAll(async () => {
    for (const { runtime, id } of started)
      await oci
        .get(runtime)
        ?.delete(id, true)
        .catch(() => undefined);
    const { v1, v2 } = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    for (const m of [...v1, ...v2]) {
      for (const { id } of started) await rmdir(join(m, PREFIX, id)).catch(() => undefined);
      await rmdir(join(m, PREFIX)).catch(() => undefined);
    }
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  describe.each(RUNTIMES)('with %s', (runtime) => {
    let n = 0;
    /** Run the probe to its end in a container; the bundle's seccomp comes from seccompFor. */
    async function runProbe(opts: { selection?: SeccompSelection; privileged?: boolean; args?: string[] }) {
      const id = `${PREFIX}-${runtime}-${process.pid}-${n++}`;
      const launch: AppLaunch = makeLaunch({
        tmp,
        lower: rootfs,
        id,
        command: ['sh', '-c', `grep Seccomp: /proc/self/status; PROBE_DEV=${probeDev} /probe "$@"`, 'sh', ...(opts.args ?? ['all'])],
      });
      launch.container = {
        ...launch.container,
        securityContext: {
          ...(opts.privileged ? { privileged: true } : {}),
          ...(opts.selection ? { seccompProfile: opts.selection } : {}),
        },
      } as AppLaunch['container'];
      const f = facts.get(runtime)!;
      const spec = buildOciSpec(launch, f) as unknown as Record<string, unknown> & {
        linux: Record<string, unknown>;
        root: { path: string };
      };
      const caps = (spec.process as { capabilities: { bounding: string[] } }).capabilities.bounding;
      const expected = seccompFor(opts.selection, { capabilities: caps, privileged: opts.privileged === true, profileDir });
      // buildOciSpec wires seccompFor; the test pins what the runtimes get to the function's output
      expect(spec.linux.seccomp).toEqual(expected);
      spec.root = { path: rootfs };
      await mkdir(launch.bundleDir, { recursive: true });
      await writeFile(join(launch.bundleDir, 'config.json'), JSON.stringify(spec));
      started.push({ runtime, id });
      const r = await oci.get(runtime)!.run(['run', '--bundle', launch.bundleDir, id], { timeoutMs: 60_000 });
      await oci.get(runtime)!.delete(id, true);
      if (r.exitCode !== 0) throw new Error(`${runtime} run exited ${r.exitCode}: ${String(r.stderr)}`);
      const out = String(r.stdout);
      return { out, seccompMode: /^Seccomp:\s*(\d)/m.exec(out)?.[1], results: parseProbeOutput(out), spec };
    }

    it('the default profile (no selection) puts an app with the default capabilities in filter mode and denies the attacks', async () => {
      const { seccompMode, results, out } = await runProbe({});
      expect(seccompMode, out).toBe('2');
      for (const [name, errno] of Object.entries(DENIED)) expect(`${name} ${results.get(name)}`, out).toBe(`${name} errno=${errno}`);
      for (const name of ALLOWED) expect(`${name} ${results.get(name)}`, out).toBe(`${name} ok`);
      // CAP_MKNOD is a default capability: the node is made, but the devices cgroup refuses the open
      // (of the host's root disk, which root could otherwise read)
      expect(results.get('mknod')).toBe('ok');
    });

    it('RuntimeDefault selected explicitly is the same profile', async () => {
      const { seccompMode, results, out } = await runProbe({
        selection: { type: 'RuntimeDefault' },
        args: ['unshare-user', 'keyctl', 'clone3', 'fork'],
      });
      expect(seccompMode, out).toBe('2');
      expect(Object.fromEntries(results)).toEqual({
        'unshare-user': 'errno=EPERM',
        keyctl: 'errno=EPERM',
        clone3: 'errno=ENOSYS',
        fork: 'ok',
      });
    });

    it('a privileged app runs without a filter', async () => {
      const { seccompMode, results, out, spec } = await runProbe({ privileged: true, args: ['keyctl', 'unshare-user', 'fork'] });
      expect(spec.linux.seccomp).toBeUndefined();
      expect(seccompMode, out).toBe('0');
      expect(results.get('keyctl'), out).toBe('ok');
      expect(results.get('unshare-user'), out).toBe('ok');
    });

    it('Unconfined runs without a filter (capabilities still the default set)', async () => {
      const { seccompMode, results, out } = await runProbe({ selection: { type: 'Unconfined' }, args: ['keyctl', 'mount-tmpfs'] });
      expect(seccompMode, out).toBe('0');
      expect(results.get('keyctl'), out).toBe('ok');
      expect(results.get('mount-tmpfs'), out).toBe('errno=EPERM'); // no CAP_SYS_ADMIN
    });

    it('a Localhost profile (OCI format) is honoured', async () => {
      await writeFile(
        join(profileDir, `inet-denied-${runtime}.json`),
        JSON.stringify({
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 97, args: [{ index: 0, value: 2, op: 'SCMP_CMP_EQ' }] }],
        }),
      );
      const { seccompMode, results, out } = await runProbe({
        selection: { type: 'Localhost', localhostProfile: `inet-denied-${runtime}.json` },
        args: ['socket-inet', 'keyctl'],
      });
      expect(seccompMode, out).toBe('2');
      expect(results.get('socket-inet'), out).toBe('errno=EAFNOSUPPORT');
      expect(results.get('keyctl'), out).toBe('ok');
    });
  });
});
