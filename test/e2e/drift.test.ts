/**
 * Drift repair by the daemon (issue 13 item 8), with the built daemon and real conmon/crun:
 * - conmon killed by PID: noticed within the relist interval (MonitorLost event), the app is
 *   stopped and started again under a new monitor; the old app process is gone, one conmon
 *   is left for the container and its log is written again;
 * - the rendered tree removed: rendered again (RenderedTreeRemoved event), the running app
 *   keeps its PID, and its next restart (the app killed by hand) runs on the new tree;
 * - the bundle's config.json removed: written back (BundleRemoved event), `berth exec` works.
 * Teardown leaves nothing (berth-leaks). hostNetwork pods: no bridge or netns of its own.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, closeSandbox, createSandbox, isRoot, podYaml, shortId, type Sandbox, type StatusJson } from '../helpers/berth-cli.js';

const IMAGE = 'oci:/opt/berth/images/busybox:latest';
/** prints a line every half second (so that a lost monitor shows in the log), exits at once on TERM */
const TICKER = 'trap "exit 0" TERM; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.5 & wait $!; done';
const POD = 'drift-a';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** Is the process gone (or a zombie nobody reaped yet)? */
async function dead(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** conmon processes of one container id (by command line) */
async function conmonsOf(id: string): Promise<number[]> {
  const out: number[] = [];
  for (const n of await readdir('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    const argv = (await readFile(`/proc/${n}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv[0]?.endsWith('conmon') && argv[argv.indexOf('-c') + 1] === id && !(await dead(Number(n)))) out.push(Number(n));
  }
  return out;
}

describe.skipIf(!isRoot)('the daemon repairs drift', () => {
  let sb: Sandbox;
  let daemon: ResultPromise | undefined;
  let out = '';
  const ids = new Set<string>();
  let cid = '';
  let uid = '';

  type Pod = StatusJson['pods'][number];
  const pod = async (): Promise<Pod | undefined> => (await sb.status()).pods.find((p) => p.name === POD);
  const app = async () => (await pod())?.apps[0];
  const events = async () => {
    const r = await sb.run(['events', POD, '-o', 'json']);
    return r.exitCode === 0 ? (JSON.parse(r.stdout) as Array<{ reason: string; type: string; message: string; count: number }>) : [];
  };
  const eventOf = (reason: string) => until(`a ${reason} event`, async () => (await events()).find((e) => e.reason === reason), 30_000);
  const runDir = () => join(sb.root, 'run');
  /** `berth exec` with the sandbox's directories before `--` (after it they would be the command's) */
  const exec = (argv: string[]) => execa('node', [CLI, 'exec', ...sb.args, POD, '--', ...argv], { reject: false });

  beforeAll(async () => {
    sb = await createSandbox('berth-e2drift');
    await sb.writeSpec(`${POD}.yaml`, podYaml(POD, IMAGE, [{ name: 'main', script: TICKER }], '  hostNetwork: true\n'));
    daemon = sb.spawn(['reconcile', '--relist-interval', '2s', '--log-format', 'json']);
    daemon.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const p = await until('the pod running', async () => ((await pod())?.status === 'Running' ? (await pod())! : undefined));
    uid = p.uid!;
    ids.add(shortId(uid));
    cid = `berth-${shortId(uid)}-main`;
    // the daemon's own worker drives it (the sync loop does not wait for pods)
    await until('the daemon running the pod', async () => out.includes(`"podName":"default/${POD}","state":"running","msg":"pod state"`));
  });

  afterAll(async () => {
    if (daemon) {
      daemon.kill('SIGTERM');
      await daemon;
    }
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('a killed conmon: MonitorLost, the app is restarted under a new monitor, nothing is left of the old one', async () => {
    const before = (await app())!;
    const conmonPid = Number((await readFile(join(runDir(), 'containers', cid, 'conmon.pid'), 'utf8')).trim());
    expect(await conmonsOf(cid)).toEqual([conmonPid]);
    process.kill(conmonPid, 'SIGKILL');
    await until('conmon gone', () => dead(conmonPid));

    const ev = await eventOf('MonitorLost');
    expect(ev).toMatchObject({ type: 'Warning' });
    expect(ev.message).toMatch(/monitor \(conmon\) of container main is gone/);
    const after = await until('the app running again', async () => {
      const a = await app();
      return a?.state === 'running' && a.pid !== before.pid && a.restartCount === before.restartCount + 1 ? a : undefined;
    });
    expect(await dead(before.pid!)).toBe(true);
    const monitors = await conmonsOf(cid);
    expect(monitors).toHaveLength(1);
    expect(monitors[0]).not.toBe(conmonPid);
    // the new execution's log is written by its monitor
    const logs = await until('the new execution logging', async () => {
      const r = await sb.run(['logs', POD]);
      return /tick \d+/.test(r.stdout) ? r.stdout : undefined;
    });
    expect(logs).toMatch(/tick/);
    expect((await pod())!.status).toBe('Running');
    expect(after.restartCount).toBe(before.restartCount + 1);
  });

  it('a removed rendered tree: rendered again with RenderedTreeRemoved, the app keeps running, its next restart works', async () => {
    const before = (await app())!;
    const rendered = join(sb.root, 'state', 'rendered');
    const keys = (await readdir(rendered)).filter((n) => !n.startsWith('.'));
    expect(keys).toHaveLength(1);
    await rm(join(rendered, keys[0]!), { recursive: true, force: true });

    const ev = await eventOf('RenderedTreeRemoved');
    expect(ev).toMatchObject({ type: 'Warning' });
    expect(ev.message).toMatch(/rendered it again/);
    expect(existsSync(join(rendered, keys[0]!, 'rootfs', 'bin'))).toBe(true);
    const same = (await app())!;
    expect(same.pid).toBe(before.pid); // not restarted for it
    expect(same.state).toBe('running');

    // its next restart (the app killed by hand) starts on the tree rendered again
    process.kill(before.pid!, 'SIGKILL');
    const after = await until('the app restarted', async () => {
      const a = await app();
      return a?.state === 'running' && a.pid !== before.pid ? a : undefined;
    });
    expect(after.restartCount).toBe(before.restartCount + 1);
    const r = await exec(['ls', '/bin/sh']);
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it('a removed config.json of the bundle: written back with BundleRemoved, exec works again', async () => {
    const before = (await app())!;
    await rm(join(sb.root, 'state', 'pods', uid, 'apps', 'main', 'config.json'));
    const ev = await eventOf('BundleRemoved');
    expect(ev.message).toMatch(/config.json written again/);
    const r = await exec(['echo', 'ok']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('ok');
    expect((await app())!.pid).toBe(before.pid);
  });

  it('the repairs are logged with pod and app fields', async () => {
    expect(out).toMatch(/"app":"main".*"reason":"MonitorLost"/);
    expect(out).toMatch(/"reason":"RenderedTreeRemoved"/);
    // no second repair of the same drift: each event happened once
    for (const reason of ['MonitorLost', 'RenderedTreeRemoved', 'BundleRemoved'])
      expect((await events()).find((e) => e.reason === reason)?.count).toBe(1);
  });
});
