/**
 * Garbage berth owns beyond its pods. The reference bridge plugin never deletes its bridge
 * (HOST-NOTES.md §6), so when no pod of this installation is attached to a berth-named
 * bridge and no port is left on it, berth removes it.
 */
import { readdir } from 'node:fs/promises';
import { execa } from '../common/process.js';
import { errnoOf } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { PREFIX } from './layout.js';
import type { PodRecord } from './records.js';

/** Bridge names of a network configuration list's bridge plugins. */
export function bridgesOf(conflist: string): string[] {
  try {
    const l = JSON.parse(conflist) as { plugins?: Array<{ type?: string; bridge?: string }> };
    return (l.plugins ?? []).filter((p) => p.type === 'bridge').map((p) => p.bridge ?? 'cni0');
  } catch {
    return []; // a conflist that does not parse names no bridge (the spec checks report it)
  }
}

/** Bridges berth owns on the host (the bridge plugin creates them and never deletes them). */
export interface BridgeManager {
  /** Delete the bridge if it exists and nothing is plugged into it; true when deleted. */
  removeIfUnused(name: string): Promise<boolean>;
}

export class IpBridgeManager implements BridgeManager {
  constructor(private readonly log: Logger) {}

  async removeIfUnused(name: string): Promise<boolean> {
    let ports: string[];
    try {
      ports = await readdir(`/sys/class/net/${name}/brif`);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return false; // no such bridge
      throw err;
    }
    if (ports.length > 0) return false;
    const r = await execa('ip', ['link', 'del', name], { reject: false });
    if (r.exitCode === 0) return true;
    if (!/Cannot find device/.test(r.stderr)) this.log.warn({ bridge: name, stderr: r.stderr }, 'bridge removal failed');
    return false;
  }
}

/**
 * Remove berth-named bridges that `candidates` (bridges of networks pods were attached to)
 * no longer need: none of `records` uses them and nothing is plugged into them.
 */
export async function removeUnusedBridges(
  bridges: BridgeManager,
  candidates: Iterable<string>,
  records: PodRecord[],
  log: Logger,
): Promise<string[]> {
  const used = new Set(records.flatMap((r) => r.networks.flatMap((n) => bridgesOf(n.conflist))));
  const removed: string[] = [];
  for (const br of new Set(candidates)) {
    if (!br.startsWith(PREFIX) || used.has(br)) continue;
    if (await bridges.removeIfUnused(br)) {
      removed.push(br);
      log.info({ bridge: br }, 'removed unused bridge');
    }
  }
  return removed;
}
