/**
 * The OciRuntime contract (src/runtime/types.ts), as containerd's snapshotter test suite:
 * one set of tests that every implementation passes. test/unit/contract/oci-runtime.test.ts
 * runs it against FakeOciRuntime, test/integration/contract/oci-runtime.test.ts against crun
 * and runc (CliOciRuntime).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf } from '../../src/common/errors.js';
import type { OciRuntime } from '../../src/runtime/types.js';

export interface OciRuntimeHarness {
  runtime: OciRuntime;
  /** a container id unique to this run */
  id(what: string): string;
  /** `<runtime> create` of a container whose process sleeps (what conmon does in production) */
  create(id: string): Promise<void>;
  /** a process file for `exec` that exits with `code` */
  processFile(id: string, code: number): Promise<string>;
  /** a bundle for a one-shot `run` whose process exits with `code` */
  oneShotBundle(id: string, code: number): Promise<string>;
  /** remove what the test left (containers, files) */
  cleanup(): Promise<void>;
}

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, tries = 200): Promise<T> {
  let v = await f();
  for (let i = 0; i < tries && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 25));
    v = await f();
  }
  return v;
}

export function ociRuntimeContract(name: string, open: () => Promise<OciRuntimeHarness>): void {
  describe(`OciRuntime contract: ${name}`, () => {
    let h: OciRuntimeHarness;
    beforeEach(async () => {
      h = await open();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('an unknown id has no state, is not listed, deletes as success, and cannot be started or killed (NotFound)', async () => {
      const id = h.id('unknown');
      expect(await h.runtime.state(id)).toBeUndefined();
      expect(await h.runtime.list()).not.toContain(id);
      await h.runtime.delete(id);
      await h.runtime.delete(id, true);
      expect(codeOf(await h.runtime.kill(id, 'SIGKILL').catch((e: unknown) => e))).toBe('NotFound');
      expect(codeOf(await h.runtime.start(id).catch((e: unknown) => e))).toBe('NotFound');
    });

    it('created → started → exec → killed → deleted, each visible in state and list', async () => {
      const id = h.id('life');
      await h.create(id);
      const created = await h.runtime.state(id);
      expect(created?.status).toBe('created');
      expect(created?.pid).toBeGreaterThan(0);
      expect(await h.runtime.list()).toContain(id);
      await h.runtime.start(id);
      expect((await h.runtime.state(id))?.status).toBe('running');
      const ok = await h.runtime.exec(id, await h.processFile(id, 0));
      expect(ok.exitCode).toBe(0);
      const seven = await h.runtime.exec(id, await h.processFile(id, 7));
      expect(seven).toMatchObject({ exitCode: 7, timedOut: false });
      await h.runtime.kill(id, 'SIGKILL');
      expect(
        (
          await until(
            () => h.runtime.state(id),
            (s) => s?.status === 'stopped',
          )
        )?.status,
      ).toBe('stopped');
      await h.runtime.delete(id);
      expect(await h.runtime.state(id)).toBeUndefined();
      expect(await h.runtime.list()).not.toContain(id);
    });

    it('exec in a container that no longer runs is a non-zero result, not a rejection', async () => {
      const id = h.id('norun');
      await h.create(id);
      await h.runtime.start(id);
      await h.runtime.kill(id, 'SIGKILL');
      await until(
        () => h.runtime.state(id),
        (s) => s?.status === 'stopped',
      );
      const r = await h.runtime.exec(id, await h.processFile(id, 0));
      expect(r.exitCode).not.toBe(0);
      await h.runtime.delete(id, true);
    });

    it('a forced delete removes a running container', async () => {
      const id = h.id('force');
      await h.create(id);
      await h.runtime.start(id);
      await h.runtime.delete(id, true);
      expect(await h.runtime.state(id)).toBeUndefined();
    });

    it('create without a monitor: a created container that waits for start; a second create of the id is AlreadyExists', async () => {
      const id = h.id('bare');
      const bundle = await h.oneShotBundle(id, 0);
      await h.runtime.create(id, bundle);
      const st = await h.runtime.state(id);
      expect(st?.status).toBe('created');
      expect(st?.pid).toBeGreaterThan(0);
      expect(codeOf(await h.runtime.create(id, bundle).catch((e: unknown) => e))).toBe('AlreadyExists');
      await h.runtime.delete(id, true);
      expect(await h.runtime.state(id)).toBeUndefined();
    });

    it('features is a document or undefined (no such command); version names the runtime', async () => {
      const f = await h.runtime.features();
      if (f !== undefined) expect(typeof f).toBe('object');
      expect(await h.runtime.version()).toContain(h.runtime.name);
    });

    it('run: a one-shot container reports its exit code and leaves nothing behind', async () => {
      const id = h.id('oneshot');
      const r = await h.runtime.run(['run', '--bundle', await h.oneShotBundle(id, 3), id], { timeoutMs: 30_000 });
      expect(r).toMatchObject({ exitCode: 3, timedOut: false });
      await h.runtime.run(['delete', '--force', id]);
      expect(await h.runtime.state(id)).toBeUndefined();
    });
  });
}
