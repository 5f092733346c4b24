/**
 * The NetnsManager contract (src/cni/types.ts): test/unit/contract/netns.test.ts runs it
 * against FakeNetns, test/integration/contract/netns.test.ts against IpNetnsManager (in
 * /run/netns through `ip netns`, and in another directory through unshare and bind mounts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf } from '../../src/common/errors.js';
import type { NetnsManager } from '../../src/cni/types.js';

export interface NetnsHarness {
  netns: NetnsManager;
  /** a namespace name unique to this run; every name shares `prefix` */
  name(what: string): string;
  prefix: string;
  /** a process whose network namespace `attach` may make a handle for */
  pid: number;
  /** remove what the test left */
  cleanup(): Promise<void>;
}

export function netnsContract(label: string, open: () => Promise<NetnsHarness>): void {
  describe(`NetnsManager contract: ${label}`, () => {
    let h: NetnsHarness;
    beforeEach(async () => {
      h = await open();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('refuses names that are not one path segment (InvalidArgument)', async () => {
      for (const bad of ['', '../etc', 'a/b', '.hidden', 'x'.repeat(256)]) {
        expect(codeOf(await h.netns.ensure(bad).catch((e: unknown) => e)), bad).toBe('InvalidArgument');
        expect(
          codeOf(
            (() => {
              try {
                return h.netns.path(bad);
              } catch (e) {
                return e;
              }
            })(),
          ),
          bad,
        ).toBe('InvalidArgument');
      }
    });

    it('an unknown name: not there, not listed, no addresses; remove is success', async () => {
      const n = h.name('unknown');
      expect(await h.netns.exists(n)).toBe(false);
      expect(await h.netns.list(h.prefix)).not.toContain(n);
      expect(await h.netns.addresses(n)).toBeUndefined();
      await h.netns.remove(n);
    });

    it('ensure makes a handle at path(name), adopts it the second time, lists it by prefix; a new namespace has only lo, without addresses', async () => {
      const n = h.name('a');
      const p = await h.netns.ensure(n);
      expect(p).toBe(h.netns.path(n));
      expect(await h.netns.exists(n)).toBe(true);
      expect(await h.netns.ensure(n)).toBe(p);
      expect(await h.netns.list(h.prefix)).toContain(n);
      expect(await h.netns.list(`${h.prefix}nomatch-`)).not.toContain(n);
      expect(await h.netns.addresses(n)).toEqual({ lo: [] });
    });

    it('remove deletes the handle, twice is success', async () => {
      const n = h.name('b');
      await h.netns.ensure(n);
      await h.netns.remove(n);
      expect(await h.netns.exists(n)).toBe(false);
      expect(await h.netns.list(h.prefix)).not.toContain(n);
      expect(await h.netns.addresses(n)).toBeUndefined();
      await h.netns.remove(n);
    });

    it('attach makes a handle for the namespace a process is in; an existing handle is kept', async () => {
      const n = h.name('c');
      const p = await h.netns.attach(n, h.pid);
      expect(p).toBe(h.netns.path(n));
      expect(await h.netns.exists(n)).toBe(true);
      expect(await h.netns.attach(n, h.pid)).toBe(p);
      await h.netns.remove(n);
      expect(await h.netns.exists(n)).toBe(false);
    });
  });
}
