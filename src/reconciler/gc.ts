/**
 * Garbage berth owns beyond its pods. The reference bridge plugin never deletes its bridge
 * (HOST-NOTES.md §6), so when no pod of this installation is attached to a berth-named
 * bridge and no port is left on it, berth removes it.
 */
import { readdir } from 'node:fs/promises';
import { execa } from 'execa';
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
    return [];
  }
}

async function ports(bridge: string): Promise<string[] | undefined> {
  try {
    return await readdir(`/sys/class/net/${bridge}/brif`);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined; // no such bridge
    throw err;
  }
}

/**
 * Remove berth-named bridges that `candidates` (bridges of networks pods were attached to)
 * no longer need: none of `records` uses them and nothing is plugged into them.
 */
export async function removeUnusedBridges(candidates: Iterable<string>, records: PodRecord[], log: Logger): Promise<string[]> {
  const used = new Set(records.flatMap((r) => r.networks.flatMap((n) => bridgesOf(n.conflist))));
  const removed: string[] = [];
  for (const br of new Set(candidates)) {
    if (!br.startsWith(PREFIX) || used.has(br)) continue;
    const p = await ports(br);
    if (p === undefined || p.length > 0) continue;
    const r = await execa('ip', ['link', 'del', br], { reject: false });
    if (r.exitCode === 0) {
      removed.push(br);
      log.info({ bridge: br }, 'removed unused bridge');
    } else if (!/Cannot find device/.test(r.stderr)) log.warn({ bridge: br, stderr: r.stderr }, 'bridge removal failed');
  }
  return removed;
}
