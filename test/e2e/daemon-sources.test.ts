/**
 * Issue 13 items 1 and 6 with the built daemon: a new pod file is running while another pod
 * waits out its grace period (the sync loop never waits for a pod), and a commit pushed to a
 * git source is applied by the next poll, a second one at once on SIGHUP.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSandbox, createSandbox, isRoot, LOOP, podYaml, shortId, type Sandbox, type StatusJson } from '../helpers/berth-cli.js';

const IMAGE = 'oci:/opt/berth/images/busybox:latest';
/** ignores TERM: its teardown takes the whole grace period */
const STUBBORN = "trap '' TERM; while true; do sleep 1; done";
const hostPod = (name: string, script: string, grace = 2) =>
  podYaml(name, IMAGE, [{ name: 'main', script }], '  hostNetwork: true\n').replace(
    'terminationGracePeriodSeconds: 2',
    `terminationGracePeriodSeconds: ${grace}`,
  );

type Pod = StatusJson['pods'][number] & { source: { file: string; revision: string | null } };

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.skipIf(!isRoot)('the daemon: pod workers and git polling', () => {
  let sb: Sandbox;
  let tmp: string;
  let remote: string;
  let work: string;
  let daemon: ResultPromise | undefined;
  const ids = new Set<string>();
  const git = (args: string[]) => execa('git', args, { cwd: work });

  async function commit(files: Record<string, string | null>): Promise<string> {
    for (const [p, text] of Object.entries(files)) {
      if (text === null) await rm(join(work, p), { force: true });
      else {
        await mkdir(join(work, p, '..'), { recursive: true });
        await writeFile(join(work, p), text);
      }
    }
    await git(['add', '-A']);
    await git(['-c', 'user.name=Berth Test', '-c', 'user.email=test@berth.invalid', 'commit', '--quiet', '--allow-empty', '-m', 'change']);
    await git(['push', '--quiet', '--force', 'origin', 'HEAD:refs/heads/main']);
    return (await git(['rev-parse', 'HEAD'])).stdout.trim();
  }

  const pods = async () => (await sb.status()).pods as Pod[];
  const pod = async (name: string) => (await pods()).find((p) => p.name === name);
  const gitArgs = (interval: string) => [
    '--git-repo',
    remote,
    '--git-ref',
    'main',
    '--git-path',
    'hosts/{hostname}',
    '--hostname',
    'gamma',
    '--git-interval',
    interval,
  ];

  beforeAll(async () => {
    sb = await createSandbox('berth-e2edmn');
    tmp = await mkdtemp(join(tmpdir(), 'berth-e2edmnrepo-'));
    remote = join(tmp, 'remote.git');
    work = join(tmp, 'work');
    await execa('git', ['init', '--quiet', '--bare', remote]);
    await execa('git', ['init', '--quiet', '-b', 'main', work]);
    await git(['remote', 'add', 'origin', remote]);
    await commit({ 'hosts/gamma/.keep': '' });
  });

  afterAll(async () => {
    if (daemon) {
      daemon.kill('SIGTERM');
      await daemon;
    }
    // the git pods go with a commit that empties the host's directory
    await commit({ 'hosts/gamma/g1.yaml': null, 'hosts/gamma/g2.yaml': null }).catch(() => undefined);
    const down = await sb.run(['reconcile', '--once', '--timeout', '90s', ...gitArgs('60s')]);
    const { code, leaks } = await closeSandbox(sb, ids);
    await rm(tmp, { recursive: true, force: true });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('starts a new pod while another is in its grace period, and applies commits by poll and on SIGHUP', async () => {
    await sb.writeSpec('slow.yaml', hostPod('slow', STUBBORN, 30));
    daemon = sb.spawn(['reconcile', '--log-format', 'json', '--resync', '2s', ...gitArgs('2s')]);
    const slow = await until('slow running', async () => ((await pod('slow'))?.status === 'Running' ? (await pod('slow'))! : undefined));
    ids.add(shortId(slow.uid!));

    // the slow pod's file goes (30 s grace, TERM ignored), a new pod's file comes
    await sb.removeSpec('slow.yaml');
    await until('slow terminating', async () => ((await pod('slow'))?.status === 'Terminating' ? true : undefined));
    await sb.writeSpec('fast.yaml', hostPod('fast', LOOP));
    const fast = await until('fast running', async () => ((await pod('fast'))?.status === 'Running' ? (await pod('fast'))! : undefined));
    ids.add(shortId(fast.uid!));
    expect((await pod('slow'))?.status).toBe('Terminating'); // still in its grace period

    // a commit is applied by the next poll
    const c1 = await commit({ 'hosts/gamma/g1.yaml': hostPod('g1', LOOP) });
    const g1 = await until('g1 running', async () => {
      const p = await pod('g1');
      return p?.status === 'Running' && p.source.revision === c1 ? p : undefined;
    });
    ids.add(shortId(g1.uid!));
    expect((await pod('fast'))?.uid).toBe(fast.uid);
    await sb.removeSpec('fast.yaml');
    await until(
      'slow and fast gone',
      async () => ((await pods()).every((p) => p.name !== 'slow' && p.name !== 'fast') ? true : undefined),
      90_000,
    );

    // an agent that polls rarely fetches at once on SIGHUP
    daemon.kill('SIGTERM');
    await daemon;
    daemon = sb.spawn(['reconcile', '--log-format', 'json', ...gitArgs('10m')]);
    await until('g1 adopted by the new agent', async () => ((await pod('g1'))?.status === 'Running' ? true : undefined));
    await new Promise((r) => setTimeout(r, 2000)); // its first fetch (at start) is done: nothing new
    const c2 = await commit({ 'hosts/gamma/g2.yaml': hostPod('g2', LOOP) });
    daemon.kill('SIGHUP');
    const g2 = await until('g2 running', async () => {
      const p = await pod('g2');
      return p?.status === 'Running' && p.source.revision === c2 ? p : undefined;
    });
    ids.add(shortId(g2.uid!));
    expect((await pod('g1'))?.uid).toBe(g1.uid);
  });
});
