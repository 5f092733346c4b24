/**
 * User namespaces for pods with `hostUsers: false`, as the kubelet makes them (KEP-127): the
 * pod gets a range of host IDs (container 0..size-1 → host hostId..hostId+size-1, the same
 * for UIDs and GIDs), one user namespace with that mapping is made for the pod and pinned by
 * a bind mount of its nsfs file, the pod's network namespace is made inside it (so its root
 * has the network capabilities it is given over its own network only), and every app joins
 * it. The image's files appear owned by the container's IDs through an idmapped mount of the
 * rendered tree under the overlay (overlayfs itself cannot be idmapped; its layers can); the
 * volumes are idmapped by the runtime (OCI `mounts[].uidMappings`, crun), so a volume's files
 * keep on disk the IDs they have in the container, as under the kubelet.
 *
 * Node has no system calls of its own for this: a user namespace is made by `unshare(1)`
 * (util-linux), and the idmapped mount by a few lines of Perl (perl-base is essential on
 * Debian) calling open_tree(2), mount_setattr(2) and move_mount(2), whose numbers are the same
 * on every architecture (they are newer than the unified syscall table).
 */
import { spawn } from 'node:child_process';
import { readlink, rm, stat, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { execa } from '../common/process.js';
import { BerthError, errorMessage, sleep } from '../common/index.js';
import { isMountPoint } from './overlay.js';
import { makeDirs } from '../common/fs.js';

/** A pod's range of host IDs: container ID 0 is host ID `hostId`, for `size` IDs (UIDs and GIDs alike). */
export interface IdRange {
  hostId: number;
  size: number;
}

/** The pod's user namespace as an app joins it: the range and the pinned nsfs file. */
export interface PodUserns extends IdRange {
  /** a bind mount of the namespace's nsfs file (`<pod dir>/userns.ns`) */
  path: string;
}

/** OCI `linux.uidMappings` / `gidMappings` (and `mounts[].uidMappings`) of a range. */
export function idMappings(r: IdRange): Array<{ containerID: number; hostID: number; size: number }> {
  return [{ containerID: 0, hostID: r.hostId, size: r.size }];
}

/**
 * Start `argv` (which ends in `cat`, held by our stdin) and wait until it is in a namespace
 * of kind `ns` other than ours; `stop` ends it. Its namespaces live on in what pins them.
 */
async function holder(argv: string[], ns: 'user' | 'net'): Promise<{ pid: number; stop: () => void }> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  let exited = false;
  child.on('exit', () => (exited = true));
  child.on('error', (err) => ((exited = true), (stderr += err.message)));
  const stop = () => {
    child.stdin.end();
    child.kill('SIGKILL');
  };
  const own = await readlink(`/proc/self/ns/${ns}`);
  for (let i = 0; i < 400 && !exited; i++) {
    const pid = child.pid;
    const theirs = pid ? await readlink(`/proc/${pid}/ns/${ns}`).catch(() => own) : own; // not readable yet: look again
    if (theirs !== own && pid) return { pid, stop };
    await sleep(5);
  }
  stop();
  throw new BerthError('Internal', `${argv.join(' ')}: did not enter a new ${ns} namespace${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
}

/**
 * Make a user namespace with the range's mapping and pin it at `file`; an existing pin is
 * kept (the pod's namespace outlives the agent).
 */
export async function pinUserns(range: IdRange, file: string): Promise<void> {
  if (await isMountPoint(file)) return;
  const h = await holder(['unshare', '--user', '--', 'cat'], 'user');
  try {
    const map = `0 ${range.hostId} ${range.size}\n`;
    await writeFile(`/proc/${h.pid}/uid_map`, map);
    await writeFile(`/proc/${h.pid}/gid_map`, map);
    await writeFile(file, '', { mode: 0o444 });
    const r = await execa('mount', ['--bind', `/proc/${h.pid}/ns/user`, file], { reject: false, stdin: 'ignore' });
    if (r.exitCode !== 0) throw new BerthError('Internal', `pin user namespace at ${file}: ${String(r.stderr).trim()}`);
  } finally {
    h.stop();
  }
}

/**
 * Run `fn` with the pid of a process in a new network namespace owned by the pinned user
 * namespace (for the caller to bind it as the pod's network namespace handle).
 */
export async function withNetnsInUserns<T>(usernsFile: string, fn: (pid: number) => Promise<T>): Promise<T> {
  const h = await holder(['nsenter', `--user=${usernsFile}`, '--', 'unshare', '--net', '--', 'cat'], 'net');
  try {
    return await fn(h.pid);
  } finally {
    h.stop();
  }
}

/** Unpin a pod's user namespace (the namespace goes when nothing else holds it). Not pinned is success. */
export async function releaseUserns(file: string): Promise<void> {
  if (await isMountPoint(file)) {
    const r = await execa('umount', [file], { reject: false, stdin: 'ignore' });
    if (r.exitCode !== 0 && (await isMountPoint(file)))
      throw new BerthError('Unavailable', `unpin user namespace ${file}: ${String(r.stderr).trim()}`);
  }
  await rm(file, { force: true });
}

/** open_tree(src, OPEN_TREE_CLONE|CLOEXEC); mount_setattr(MOUNT_ATTR_IDMAP, userns); move_mount(dst). */
const IDMAP_SCRIPT = `use strict; use warnings;
my ($src, $dst, $ns) = @ARGV; my $empty = '';
open(my $nsfh, '<', $ns) or die "open $ns: $!\\n";
my $fd = syscall(428, -100, $src, 1 | 0x80000);
die "open_tree $src: $!\\n" if $fd < 0;
my $attr = pack('QQQQ', 0x00100000, 0, 0, fileno($nsfh));
syscall(442, $fd, $empty, 0x1000, $attr, length $attr) == 0 or die "mount_setattr $src: $!\\n";
syscall(429, $fd, $empty, -100, $dst, 4) == 0 or die "move_mount $dst: $!\\n";
`;

/** Mount an idmapped view of directory `src` at `dst` (an existing directory), mapped by the user namespace at `usernsFile`. */
export async function idmapMount(src: string, dst: string, usernsFile: string): Promise<void> {
  const r = await execa('perl', ['-e', IDMAP_SCRIPT, src, dst, usernsFile], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new BerthError('FailedPrecondition', `idmapped mount of ${src}: ${String(r.stderr || r.message).trim()}`);
}

/**
 * Why this host cannot give a pod its user namespace, or undefined: tries what a pod needs in
 * `dir` (made and removed here): a user namespace with a mapping, an idmapped mount of a
 * directory of the state's filesystem, an overlay over it, and checks the owner seen through it.
 */
export async function probeIdmap(dir: string): Promise<string | undefined> {
  const p = {
    src: join(dir, 'src'),
    view: join(dir, 'view'),
    upper: join(dir, 'upper'),
    work: join(dir, 'work'),
    merged: join(dir, 'merged'),
    ns: join(dir, 'userns'),
  };
  const range = { hostId: 65536, size: 65536 };
  const cleanup = async () => {
    for (const m of [p.merged, p.view]) if (await isMountPoint(m)) await execa('umount', [m], { reject: false });
    await releaseUserns(p.ns);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await cleanup();
    for (const d of [p.src, p.view, p.upper, p.work, p.merged]) await makeDirs(d);
    await writeFile(join(p.src, 'f'), '');
    await pinUserns(range, p.ns);
    await idmapMount(p.src, p.view, p.ns);
    const r = await execa(
      'mount',
      ['-t', 'overlay', 'overlay', '-o', `lowerdir=${p.view},upperdir=${p.upper},workdir=${p.work}`, p.merged],
      { reject: false, stdin: 'ignore' },
    );
    if (r.exitCode !== 0)
      return `the kernel (${release()}) cannot mount an overlay over an idmapped directory (Linux 5.19 or later can): ${String(r.stderr).trim()}`;
    const uid = (await stat(join(p.merged, 'f'))).uid;
    if (uid !== range.hostId) return `an idmapped overlay showed a root-owned file as owned by ${uid}, not ${range.hostId}`;
    return undefined;
  } catch (err) {
    return `${errorMessage(err)} (tried: unshare --user, then an idmapped mount with open_tree/mount_setattr/move_mount from perl, on ${release()})`;
  } finally {
    await cleanup().catch(() => undefined); // a probe's leftovers are scratch; its answer is already decided
  }
}
