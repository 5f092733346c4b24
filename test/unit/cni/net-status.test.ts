/** `berth net`'s STATUS answer (CNI-16), honest about plugins that predate STATUS. */
import { describe, expect, it } from 'vitest';
import { CniError, createCni, parseNetworkConfigList } from '../../../src/cni/index.js';
import { statusOf } from '../../../src/cli/commands/net.js';
import { FakeCniExec } from './fake-cni-exec.js';

const info = (type: string, versions: string[]) => ({ type, path: `/usr/lib/cni/${type}`, supportedVersions: versions, error: null });
const OLD = ['0.4.0', '1.0.0'];
const NEW = [...OLD, '1.1.0'];
const list = (v: string) =>
  parseNetworkConfigList(JSON.stringify({ cniVersion: v, name: 'berth-tcn5-s', plugins: [{ type: 'bridge' }, { type: 'portmap' }] }));

describe('net STATUS answer', () => {
  it('below 1.1.0 nothing is asked; plugins that cannot answer are named', async () => {
    const exec = new FakeCniExec();
    const cni = createCni({ cacheDir: '/nonexistent', pluginPaths: ['/usr/lib/cni'], exec });
    expect(await statusOf(cni, list('1.0.0'), [info('bridge', OLD), info('portmap', OLD)])).toEqual({
      state: 'unsupported',
      message: 'not supported by plugin bridge, portmap (STATUS needs CNI 1.1.0; the network uses 1.0.0)',
    });
    expect(await statusOf(cni, list('1.0.0'), [info('bridge', NEW), info('portmap', NEW)])).toMatchObject({
      state: 'unsupported',
      message: expect.stringContaining('not asked'),
    });
    expect(exec.calls).toEqual([]);
  });

  it.each([
    [
      new CniError({ cniCode: 3, msg: 'missing containerID' }),
      { state: 'unsupported', message: 'not supported by plugin bridge', code: 3 },
    ],
    [
      new CniError({ cniCode: 4, msg: 'unknown CNI_COMMAND: STATUS' }),
      { state: 'unsupported', message: 'not supported by plugin bridge', code: 4 },
    ],
    [
      new CniError({ cniCode: 50, msg: 'no addresses left' }),
      { state: 'error', message: 'plugin type="bridge" failed (status): no addresses left', code: 50 },
    ],
  ])('at 1.1.0 the plugins are asked: %s', async (err, want) => {
    const exec = new FakeCniExec().on('bridge', 'STATUS', err);
    const cni = createCni({ cacheDir: '/nonexistent', pluginPaths: ['/usr/lib/cni'], exec });
    expect(await statusOf(cni, list('1.1.0'), [info('bridge', NEW), info('portmap', NEW)])).toEqual(want);
  });

  it('at 1.1.0 with every plugin answering: ok', async () => {
    const cni = createCni({ cacheDir: '/nonexistent', pluginPaths: ['/usr/lib/cni'], exec: new FakeCniExec() });
    expect(await statusOf(cni, list('1.1.0'), [info('bridge', NEW), info('portmap', NEW)])).toEqual({ state: 'ok', message: 'ok' });
  });
});
