/**
 * The CniExec contract (src/cni/types.ts, libcni pkg/invoke): test/unit/contract/cni-exec.test.ts
 * runs it against FakeCniExec (canned answers in the reference plugins' words), and
 * test/integration/contract/cni-exec.test.ts against ExecCni running the reference plugins.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf } from '../../src/common/errors.js';
import { PluginExitError } from '../../src/cni/errors.js';
import type { CniExec } from '../../src/cni/types.js';

export interface CniExecHarness {
  exec: CniExec;
  /** plugin dirs, in order: the first holds no plugin, a later one holds `loopback` */
  paths: string[];
  /** the dir of `paths` that holds loopback */
  pluginDir: string;
  cleanup(): Promise<void>;
}

const LOOPBACK_CONF = JSON.stringify({ cniVersion: '1.0.0', name: 'contract', type: 'loopback' });

export function cniExecContract(label: string, open: () => Promise<CniExecHarness>): void {
  describe(`CniExec contract: ${label}`, () => {
    let h: CniExecHarness;
    beforeEach(async () => {
      h = await open();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('findInPath: the first dir holding the type; a type nowhere is FailedPrecondition; bad input InvalidArgument', async () => {
      expect(await h.exec.findInPath('loopback', h.paths)).toBe(`${h.pluginDir}/loopback`);
      const missing = await h.exec.findInPath('no-such-plugin', h.paths).catch((e: unknown) => e);
      expect(codeOf(missing)).toBe('FailedPrecondition');
      expect((missing as Error).message).toContain('failed to find plugin "no-such-plugin"');
      for (const [type, paths] of [
        ['', h.paths],
        ['../loopback', h.paths],
        ['loopback', []],
      ] as const) {
        expect(codeOf(await h.exec.findInPath(type, [...paths]).catch((e: unknown) => e)), `${type} in [${paths.join(' ')}]`).toBe(
          'InvalidArgument',
        );
      }
    });

    it('execPlugin: the config on stdin and CNI_COMMAND in the environment; stdout on exit 0', async () => {
      const plugin = await h.exec.findInPath('loopback', h.paths);
      const out = await h.exec.execPlugin(plugin, LOOPBACK_CONF, { CNI_COMMAND: 'VERSION', CNI_PATH: h.paths.join(':') });
      const v = JSON.parse(out) as { cniVersion: string; supportedVersions: string[] };
      expect(v.cniVersion).toBe('1.0.0');
      expect(v.supportedVersions).toContain('0.4.0');
    });

    it('execPlugin: a plugin exiting non-zero is a PluginExitError with its exit code and its error JSON on stdout', async () => {
      const plugin = await h.exec.findInPath('loopback', h.paths);
      const err = await h.exec
        .execPlugin(plugin, LOOPBACK_CONF, { CNI_COMMAND: 'ADD', CNI_PATH: h.paths.join(':') })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PluginExitError);
      expect((err as PluginExitError).exitCode).toBe(1);
      expect(JSON.parse((err as PluginExitError).stdout)).toMatchObject({
        code: 4,
        msg: 'required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing',
      });
    });

    it('execPlugin with an aborted signal does not run the plugin: Canceled', async () => {
      const plugin = await h.exec.findInPath('loopback', h.paths);
      const ac = new AbortController();
      ac.abort(new Error('shutting down'));
      expect(codeOf(await h.exec.execPlugin(plugin, LOOPBACK_CONF, { CNI_COMMAND: 'VERSION' }, ac.signal).catch((e: unknown) => e))).toBe(
        'Canceled',
      );
    });
  });
}
