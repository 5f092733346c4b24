/**
 * Linux bridges of `bridge` plugins with a MAC address that does not move.
 *
 * Why: a Linux bridge without an address set by hand takes the lowest MAC of its ports, so
 * its address changes whenever a veth with a lower MAC joins or leaves. The bridge plugin
 * records the bridge's MAC in its result, and its CHECK (plugins 1.1.1) compares it with the
 * live one ("Bridge interface … Mac doesn't match"): every attachment made before the change
 * would fail CHECK, and a periodic CHECK would repair healthy pods over and over. A bridge whose
 * address was set explicitly (addr_assign_type 3, NET_ADDR_SET) keeps it, and the plugin adopts
 * an existing bridge. So before the first ADD berth creates the bridge with a stable, locally
 * administered MAC derived from its name, or pins the current MAC of an existing bridge by
 * setting it to itself.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { execa } from '../../common/process.js';
import type { NetworkConfigList } from '../types.js';

const NET_ADDR_SET = '3';

/** 02:xx:xx:xx:xx:xx from the bridge name (locally administered, unicast). */
export function stableBridgeMac(name: string): string {
  const h = createHash('sha256').update(`berth/bridge/${name}`).digest();
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

async function sysfs(name: string, file: string): Promise<string | undefined> {
  try {
    return (await readFile(`/sys/class/net/${name}/${file}`, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** Bridge names of a list's `bridge` plugins (the plugin's default is cni0). */
export function listBridges(list: Pick<NetworkConfigList, 'plugins'>): string[] {
  return list.plugins.filter((p) => p.type === 'bridge').map((p) => (typeof p.bridge === 'string' && p.bridge !== '' ? p.bridge : 'cni0'));
}

/**
 * Make sure every bridge of the list exists with a fixed MAC. Idempotent; a lost race with the
 * plugin (or another pod) creating the same bridge is fine. Returns the bridges it changed.
 */
export async function pinBridgeMacs(list: Pick<NetworkConfigList, 'plugins'>): Promise<string[]> {
  const changed: string[] = [];
  for (const name of listBridges(list)) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/.test(name)) continue; // the plugin reports a bad name
    let assign = await sysfs(name, 'addr_assign_type');
    if (assign === undefined) {
      const add = await execa('ip', ['link', 'add', name, 'address', stableBridgeMac(name), 'type', 'bridge'], { reject: false });
      if (add.exitCode === 0) {
        await execa('ip', ['link', 'set', name, 'up'], { reject: false });
        changed.push(name);
        continue;
      }
      assign = await sysfs(name, 'addr_assign_type'); // someone else made it meanwhile
      if (assign === undefined) continue; // let the plugin report what is wrong
    }
    if (assign === NET_ADDR_SET) continue;
    if ((await sysfs(name, 'type')) !== '1' || (await sysfs(name, 'bridge/bridge_id')) === undefined) continue; // not a bridge
    const mac = await sysfs(name, 'address');
    if (!mac) continue;
    const set = await execa('ip', ['link', 'set', name, 'address', mac], { reject: false });
    if (set.exitCode === 0) changed.push(name);
  }
  return changed;
}
