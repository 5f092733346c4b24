/**
 * CNI-25: the checks libcni makes before it runs any plugin (`pkg/utils`). They also keep
 * cache file names (`<network>-<containerId>-<ifName>`) inside the cache directory.
 */
import { CniCode, CniError } from './errors.js';

/** Container ids and network names (`pkg/utils/utils.go`). */
export const CNI_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_IFNAME = 15;

export function validateContainerId(id: string): void {
  if (id === '') throw new CniError({ cniCode: CniCode.UnknownContainer, msg: 'missing containerID' });
  if (!CNI_NAME.test(id)) {
    throw new CniError({ cniCode: CniCode.InvalidEnvironmentVariables, msg: 'invalid characters in containerID', details: id });
  }
}

export function validateNetworkName(name: string): void {
  if (name === '') throw new CniError({ cniCode: CniCode.InvalidNetworkConfig, msg: 'missing network name' });
  if (!CNI_NAME.test(name)) {
    throw new CniError({ cniCode: CniCode.InvalidNetworkConfig, msg: 'invalid characters found in network name', details: name });
  }
}

export function validateIfName(ifName: string): void {
  const bad = (msg: string, details?: string): never => {
    throw new CniError({ cniCode: CniCode.InvalidEnvironmentVariables, msg, ...(details ? { details } : {}) });
  };
  if (ifName.length === 0) bad('interface name is empty');
  if (Buffer.byteLength(ifName, 'utf8') > MAX_IFNAME) {
    bad('interface name is too long', `interface name should be less than ${MAX_IFNAME + 1} characters`);
  }
  if (ifName === '.' || ifName === '..') bad('interface name is . or ..');
  if (/[/:\s\u0085]/u.test(ifName)) bad('interface name contains / or : or whitespace characters');
}
