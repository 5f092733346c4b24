import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConmonRuntime } from '../../../src/runtime/index.js';
import { FakeOciRuntime } from '../../fakes/oci-runtime.js';

describe('ConmonRuntime observation (no root: fake runtime, real files and /proc)', () => {
  let runDir = '';
  let oci: FakeOciRuntime;
  let rt: ConmonRuntime;
  beforeEach(async () => {
    runDir = await mkdtemp(join(tmpdir(), 'berth-unit-run-'));
    oci = new FakeOciRuntime();
    rt = new ConmonRuntime({ runDir, ociRuntime: oci });
  });
  afterEach(async () => {
    await rm(runDir, { recursive: true, force: true });
  });

  const writeMeta = async (id: string, extra: Record<string, unknown> = {}) => {
    await mkdir(rt.containerDir(id), { recursive: true });
    await writeFile(
      join(rt.containerDir(id), 'meta.json'),
      JSON.stringify({
        containerId: id,
        runtime: 'fake',
        bundleDir: '/b',
        execution: 0,
        rootfs: '/b/rootfs',
        execDir: '/b/exec-0',
        logPath: '/l',
        cgroupsPath: `/berth/${id}`,
        createdAt: 1,
        startedAt: 2,
        ...extra,
      }),
    );
  };

  it('drives the OciRuntime port it is given, whatever implements it (no re-wrapping)', () => {
    expect(rt.oci).toBe(oci);
  });

  it('no trace at all is unknown', async () => {
    expect(await rt.status('berth-a')).toEqual({ containerId: 'berth-a', state: 'unknown' });
  });

  it('the exit file gives exited, the code, and its mtime as finishedAt', async () => {
    await mkdir(rt.exitsDir, { recursive: true });
    await writeFile(rt.exitFile('berth-a'), '3');
    await utimes(rt.exitFile('berth-a'), 1_700_000_000, 1_700_000_000);
    await writeMeta('berth-a');
    expect(await rt.status('berth-a')).toEqual({
      containerId: 'berth-a',
      state: 'exited',
      exitCode: 3,
      finishedAt: 1_700_000_000_000,
      startedAt: 2,
    });
    expect(oci.calls).toEqual([]); // the exit file is enough
  });

  it('running with a live pid (this process)', async () => {
    oci.states.set('berth-a', { status: 'running', pid: process.pid, bundle: '/b' });
    await writeMeta('berth-a');
    expect(await rt.status('berth-a')).toMatchObject({ state: 'running', pid: process.pid });
  });

  it('a reused pid (start time differs) is not our app', async () => {
    oci.states.set('berth-a', { status: 'running', pid: process.pid, bundle: '/b' });
    await writeMeta('berth-a', { pid: process.pid, pidStartTime: 1 });
    // monitor unknown, no exit file: the app is gone without a code
    expect(await rt.status('berth-a')).toMatchObject({ state: 'exited', exitCode: 255 });
  });

  it('stopped while the monitor still drains is still running; stopped with the monitor gone is exited 255', async () => {
    oci.states.set('berth-a', { status: 'stopped', pid: 0, bundle: '/b' });
    await writeMeta('berth-a', { conmonPid: process.pid });
    expect(await rt.status('berth-a')).toMatchObject({ state: 'running' });
    await writeMeta('berth-a', { conmonPid: 2 ** 22 + 7 });
    expect(await rt.status('berth-a')).toMatchObject({ state: 'exited', exitCode: 255 });
  });

  it('waitExit resolves when the monitor writes the exit file, and at once when it exists', async () => {
    oci.states.set('berth-a', { status: 'running', pid: process.pid, bundle: '/b' });
    await writeMeta('berth-a');
    await mkdir(rt.exitsDir, { recursive: true });
    const p = rt.waitExit('berth-a');
    setTimeout(() => void writeFile(rt.exitFile('berth-a'), '137'), 50);
    expect((await p).exitCode).toBe(137);
    expect((await rt.waitExit('berth-a')).exitCode).toBe(137);
  });

  it('waitExit on an unknown id is NotFound; aborted is Canceled', async () => {
    await expect(rt.waitExit('berth-none')).rejects.toMatchObject({ code: 'NotFound' });
    oci.states.set('berth-a', { status: 'running', pid: process.pid, bundle: '/b' });
    await expect(rt.waitExit('berth-a', AbortSignal.timeout(30))).rejects.toMatchObject({ code: 'Canceled' });
  });

  it('stop is a no-op when nothing runs', async () => {
    await rt.stop('berth-none', 10);
    expect(oci.calls.filter((c) => c.startsWith('kill'))).toEqual([]);
  });

  it('list merges runtime containers, meta dirs and exit files by prefix', async () => {
    oci.states.set('berth-r', { status: 'running', pid: 1, bundle: '/b' });
    oci.states.set('other-r', { status: 'running', pid: 1, bundle: '/b' });
    await writeMeta('berth-m');
    await mkdir(rt.exitsDir, { recursive: true });
    await writeFile(rt.exitFile('berth-e'), '0');
    expect(await rt.list('berth-')).toEqual(['berth-e', 'berth-m', 'berth-r']);
  });
});
