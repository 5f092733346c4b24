/** appc executor duties of the reconciler (appc-hooks.ts): implicit volumes and post-stop once per execution. */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { implicitVolumeNames, runAppcPostStop, withImplicitAppcVolumes } from '../../../src/reconciler/appc-hooks.js';
import type { AppRuntime } from '../../../src/runtime/types.js';

const pod = (volumes: unknown[] = []) =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'main', image: 'aci:/x.aci' }], volumes },
  }) as never;
const mps = [
  { name: 'database', path: '/db' },
  { name: 'data', path: '/data' },
  { name: 'cache', path: '/cache' },
];

describe('appc hooks', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-appchooks-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives a mountPoint no pod volume or mount serves an empty per-pod volume, mode 0777', async () => {
    const c = { name: 'main', image: 'aci:/x.aci', volumeMounts: [{ name: 'other', mountPath: '/cache' }] } as never;
    const p = pod([
      { name: 'data', emptyDir: {} },
      { name: 'other', emptyDir: {} },
    ]);
    expect(implicitVolumeNames(p, c, mps)).toEqual(['database']);
    const out = await withImplicitAppcVolumes(p, c, mps, dir, silentLogger());
    expect((out as { spec: { volumes: Array<{ name: string }> } }).spec.volumes.map((v) => v.name)).toEqual(['data', 'other', 'database']);
    expect((await stat(join(dir, 'volumes', 'database'))).mode & 0o777).toBe(0o777);
    expect(await withImplicitAppcVolumes(p, c, [], dir, silentLogger())).toBe(p);
  });

  it('runs post-stop once per execution, only after the app exited', async () => {
    let state: 'running' | 'exited' = 'running';
    let startedAt = 1000;
    const runs: string[][] = [];
    const runtime = {
      status: async (id: string) => ({ containerId: id, state, startedAt }),
      runAfterExit: async (_id: string, argv: string[]) => {
        runs.push(argv);
        return { exitCode: 0, stdout: 'poststop OK\n', stderr: '', timedOut: false };
      },
    } as unknown as AppRuntime;
    const rec = { uid: '2d3b5bb4-63f0-8d67-bdb6-da1df898fbb3' } as never;
    const c = { name: 'main', image: 'aci:/x.aci' } as never;
    const image = { appc: { app: { eventHandlers: [{ name: 'post-stop', exec: ['/ace-validator', 'poststop'] }] } } } as never;
    await runAppcPostStop(runtime, rec, c, image, dir, silentLogger());
    expect(runs).toEqual([]); // still running
    state = 'exited';
    await Promise.all([
      runAppcPostStop(runtime, rec, c, image, dir, silentLogger()),
      runAppcPostStop(runtime, rec, c, image, dir, silentLogger()),
    ]);
    await runAppcPostStop(runtime, rec, c, image, dir, silentLogger()); // the teardown after the exit
    expect(runs).toEqual([['/ace-validator', 'poststop']]);
    expect(await readFile(join(dir, 'appc-post-stop.json'), 'utf8')).toBe('1000');
    startedAt = 2000; // the next execution
    await runAppcPostStop(runtime, rec, c, image, dir, silentLogger());
    expect(runs).toHaveLength(2);
    // an agent that adopted the exited app without its image: the argv saved at launch
    startedAt = 3000;
    await writeFile(join(dir, 'appc-post-stop-exec.json'), JSON.stringify(['/ace-validator', 'poststop']));
    await runAppcPostStop(runtime, rec, c, undefined, dir, silentLogger());
    expect(runs).toHaveLength(3);
  });
});
