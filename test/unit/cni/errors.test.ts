import { describe, expect, it } from 'vitest';
import {
  berthCodeForCni,
  CniError,
  parsePluginError,
  validateContainerId,
  validateIfName,
  validateNetworkName,
} from '../../../src/cni/index.js';

describe('G5 / CNI-19 parsePluginError', () => {
  it('takes the stdout error object first', () => {
    const e = parsePluginError('{"cniVersion":"1.0.0","code":7,"msg":"bad","details":"why"}', 'stderr text', 1);
    expect(e).toMatchObject({ cniCode: 7, msg: 'bad', cniDetails: 'why', code: 'InvalidArgument' });
    expect(e.toJSON()).toEqual({ code: 7, msg: 'bad', details: 'why' });
  });

  it('falls back to stderr when stdout is empty', () => {
    expect(parsePluginError('', 'failed to do it\n', 1)).toMatchObject({ cniCode: 0, msg: 'failed to do it', code: 'Internal' });
  });

  it('falls back to stderr when stdout is not an error object', () => {
    expect(parsePluginError('garbage', 'the reason', 1)).toMatchObject({ msg: 'the reason' });
    expect(parsePluginError('garbage', '', 1).msg).toContain('garbage');
  });

  it('with neither, says so', () => {
    expect(parsePluginError('', '', 2).msg).toBe('netplugin failed with no error message (exit status 2)');
  });

  it('withPlugin names the plugin and verb like libcni', () => {
    const e = parsePluginError('{"code":11,"msg":"later"}', '').withPlugin('bridge', 'DEL');
    expect(e).toBeInstanceOf(CniError);
    expect(e.message).toBe('plugin type="bridge" failed (del): later');
    expect(e.details).toEqual({ cniCode: 11, msg: 'later', details: '', plugin: 'bridge', verb: 'DEL' });
  });

  it.each([
    [1, 'InvalidArgument'],
    [2, 'InvalidArgument'],
    [3, 'NotFound'],
    [4, 'InvalidArgument'],
    [5, 'Unavailable'],
    [6, 'Internal'],
    [7, 'InvalidArgument'],
    [8, 'FailedPrecondition'],
    [11, 'Unavailable'],
    [50, 'Unavailable'],
    [51, 'Unavailable'],
    [100, 'Internal'],
    [999, 'Internal'],
    [0, 'Internal'],
  ])('CNI-21: code %i → %s', (cni, berth) => {
    expect(berthCodeForCni(cni)).toBe(berth);
  });
});

describe('CNI-25 validation', () => {
  it.each(['a', 'berth-tcni_1.x', 'A9'])('container id %s is valid', (id) => expect(() => validateContainerId(id)).not.toThrow());
  it.each(['', '-a', '.a', 'a b', 'a/b', 'a;b', 'ä'])('container id %j is invalid', (id) =>
    expect(() => validateContainerId(id)).toThrow(CniError),
  );
  it.each(['', '_x', 'a:b'])('network name %j is invalid with code 7', (n) => {
    expect(() => validateNetworkName(n)).toThrow(expect.objectContaining({ cniCode: 7 }));
  });
  it.each(['eth0', 'net1', 'abcdefghijklmno', 'e.0'])('ifname %s is valid', (n) => expect(() => validateIfName(n)).not.toThrow());
  it.each(['', '.', '..', 'abcdefghijklmnop', 'a/b', 'a:b', 'a b', 'a\tb', 'éééééééé'])('ifname %j is invalid with code 4', (n) => {
    expect(() => validateIfName(n)).toThrow(expect.objectContaining({ cniCode: 4 }));
  });
});
