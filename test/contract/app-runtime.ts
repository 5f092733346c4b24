/**
 * The AppRuntime contract (src/runtime/types.ts): one set of tests every implementation
 * passes. test/unit/contract/app-runtime.test.ts runs it against FakeRuntime on a hand-moved
 * clock, test/integration/contract/app-runtime.test.ts against ConmonRuntime over crun.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf } from '../../src/common/errors.js';
import type { AppLaunch, AppRuntime } from '../../src/runtime/types.js';

/** How an app behaves: exits at once with `exitCode`, or runs and ends only on the signals it traps. */
export type ContractProgram = { exitCode: number } | { traps: Record<string, number> };

export interface AppRuntimeHarness {
  runtime: AppRuntime;
  /** a container id unique to this run */
  id(what: string): string;
  /** a launch of container `id` running `program` (the image's StopSignal: `stopSignal`) */
  launch(id: string, program: ContractProgram, opts?: { stopSignal?: string }): Promise<AppLaunch>;
  /** resolves once the started app `id` has set up its traps (a real shell needs a moment) */
  ready(id: string): Promise<void>;
  /** let `ms` pass (the fake's clock, or real time) */
  elapse(ms: number): Promise<void>;
  /** remove the execution's bundle config.json behind the runtime's back */
  removeBundle(id: string): Promise<void>;
  /** a pod cgroup name unique to this run */
  podCgroup(what: string): string;
  /** remove what the test left */
  cleanup(): Promise<void>;
}

const GRACE_MS = 3_000;

export function appRuntimeContract(name: string, open: () => Promise<AppRuntimeHarness>): void {
  describe(`AppRuntime contract: ${name}`, () => {
    let h: AppRuntimeHarness;
    beforeEach(async () => {
      h = await open();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('an unknown id: status unknown, not listed, no drift, waitExit NotFound, stop and remove succeed, exec and runAfterExit refused', async () => {
      const id = h.id('unknown');
      expect(await h.runtime.status(id)).toMatchObject({ containerId: id, state: 'unknown' });
      expect(await h.runtime.list(id)).toEqual([]);
      expect(await h.runtime.drift(id)).toBeUndefined();
      expect(codeOf(await h.runtime.waitExit(id).catch((e: unknown) => e))).toBe('NotFound');
      await h.runtime.stop(id, 1000);
      await h.runtime.remove(id);
      expect(codeOf(await h.runtime.exec(id, ['true']).catch((e: unknown) => e))).toBe('FailedPrecondition');
      expect(codeOf(await h.runtime.runAfterExit(id, ['true'], { timeoutMs: 10_000 }).catch((e: unknown) => e))).toBe('FailedPrecondition');
    });

    it('an app that exits: waitExit and status report its code, runAfterExit runs over its rootfs until remove', async () => {
      const id = h.id('exit3');
      const started = await h.runtime.start(await h.launch(id, { exitCode: 3 }));
      expect(started.containerId).toBe(id);
      expect((await h.runtime.waitExit(id)).exitCode).toBe(3);
      expect(await h.runtime.status(id)).toMatchObject({ state: 'exited', exitCode: 3 });
      expect((await h.runtime.waitExit(id)).exitCode).toBe(3); // already exited: at once
      expect(await h.runtime.list(id)).toEqual([id]);
      expect(await h.runtime.drift(id)).toBeUndefined();
      await h.runtime.stop(id, 1000); // not running: no-op
      expect((await h.runtime.runAfterExit(id, ['true'], { timeoutMs: 30_000 })).exitCode).toBe(0);
      await h.runtime.remove(id);
      await h.runtime.remove(id);
      expect((await h.runtime.status(id)).state).toBe('unknown');
      expect(await h.runtime.list(id)).toEqual([]);
    });

    it('a running app: status running with a pid, exec runs in it, no log to rotate yet, refuses runAfterExit', async () => {
      const id = h.id('run');
      await h.runtime.start(await h.launch(id, { traps: { SIGTERM: 143 } }));
      const st = await h.runtime.status(id);
      expect(st.state).toBe('running');
      expect(st.pid).toBeGreaterThan(0);
      expect(await h.runtime.exec(id, ['true'])).toMatchObject({ exitCode: 0, timedOut: false });
      expect(codeOf(await h.runtime.exec(id, []).catch((e: unknown) => e))).toBe('InvalidArgument');
      expect(await h.runtime.rotateLog(id, { maxBytes: 10 * 1024 * 1024, maxFiles: 2 })).toBe(false);
      expect(codeOf(await h.runtime.runAfterExit(id, ['true'], { timeoutMs: 10_000 }).catch((e: unknown) => e))).toBe('FailedPrecondition');
    });

    it('stop sends SIGTERM by default: an app that handles it ends with its own code, before the grace period is over', async () => {
      const id = h.id('term');
      await h.runtime.start(await h.launch(id, { traps: { SIGTERM: 42 } }));
      await h.ready(id);
      await h.runtime.stop(id, 20_000);
      expect(await h.runtime.status(id)).toMatchObject({ state: 'exited', exitCode: 42 });
    });

    it('stop sends opts.stopSignal, else the image StopSignal', async () => {
      const a = h.id('usr1');
      await h.runtime.start(await h.launch(a, { traps: { SIGUSR1: 11 } }));
      await h.ready(a);
      await h.runtime.stop(a, 20_000, undefined, { stopSignal: 'SIGUSR1' });
      expect(await h.runtime.status(a)).toMatchObject({ state: 'exited', exitCode: 11 });
      const b = h.id('usr2');
      await h.runtime.start(await h.launch(b, { traps: { SIGUSR2: 12 } }, { stopSignal: 'SIGUSR2' }));
      await h.ready(b);
      await h.runtime.stop(b, 20_000);
      expect(await h.runtime.status(b)).toMatchObject({ state: 'exited', exitCode: 12 });
    });

    it('stop of an app that ignores the stop signal: still running within the grace period, then SIGKILL (137)', async () => {
      const id = h.id('ignore');
      await h.runtime.start(await h.launch(id, { traps: {} }));
      let stopped = false;
      const stopping = h.runtime.stop(id, GRACE_MS).then(() => (stopped = true));
      await h.elapse(GRACE_MS / 3);
      expect(stopped).toBe(false);
      expect((await h.runtime.status(id)).state).toBe('running');
      await h.elapse(GRACE_MS);
      await stopping;
      expect(await h.runtime.status(id)).toMatchObject({ state: 'exited', exitCode: 137 });
    });

    it('stop with no grace period kills at once', async () => {
      const id = h.id('nograce');
      await h.runtime.start(await h.launch(id, { traps: { SIGTERM: 143 } }));
      await h.runtime.stop(id, 0);
      expect(await h.runtime.status(id)).toMatchObject({ state: 'exited', exitCode: 137 });
    });

    it('drift: none for a running app on its tree; a removed bundle config shows and is restored', async () => {
      const id = h.id('drift');
      const launch = await h.launch(id, { traps: { SIGTERM: 143 } });
      await h.runtime.start(launch);
      expect(await h.runtime.drift(id)).toEqual({ monitorLost: false, lowerGone: false, bundleGone: false, lowerDir: launch.rootfsLower });
      await h.removeBundle(id);
      expect(await h.runtime.drift(id)).toMatchObject({ bundleGone: true });
      expect(await h.runtime.restoreBundle(id)).toBe(true);
      expect(await h.runtime.drift(id)).toMatchObject({ bundleGone: false });
      expect(await h.runtime.restoreBundle(h.id('never-started'))).toBe(false);
    });

    it('pod cgroups: ensure is idempotent and rewrites limits, remove of a missing one is a no-op; prune and usernsProblem answer', async () => {
      const name = h.podCgroup('a');
      await h.runtime.ensurePodCgroup(name, { limits: { cpu: 0.5, memory: 64 * 1024 * 1024 }, requests: {} });
      await h.runtime.ensurePodCgroup(name, { limits: { cpu: 1, memory: 128 * 1024 * 1024 }, requests: { cpu: 0.25 } });
      await h.runtime.removePodCgroup(name);
      await h.runtime.removePodCgroup(name);
      await h.runtime.prune();
      const problem = await h.runtime.usernsProblem();
      expect(problem === undefined || typeof problem === 'string').toBe(true);
      expect(await h.runtime.usernsProblem()).toBe(problem);
    });
  });
}
