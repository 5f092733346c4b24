/**
 * `berth gc`, the apply step: remove what findOrphans listed, in its order (containers before
 * their attachments, attachments before their namespace, mounts before their pod dir). Each
 * removal goes through the module that made the object: the runtime port for containers, CNI
 * DEL for attachments (IPAM and masquerade clean-up included), the ipMasq clean-up for rules,
 * the volume code for pins and mounts. One failure does not stop the others; every outcome
 * is returned. The caller holds the agent lock.
 */
import { rm } from 'node:fs/promises';
import { errorMessage } from '../common/errors.js';
import { pathExists } from '../common/fs.js';
import { cachedConfigList } from '../cni/cni.js';
import { removeIpMasqLeftovers, type Iptables } from '../cni/host/ipmasq.js';
import type { AppRuntime } from '../runtime/types.js';
import { mountsAtOrBelow, unmountAtOrBelow } from '../runtime/volume-paths.js';
import { removeUnusedBridges } from './gc.js';
import type { Host } from './host.js';
import { podDir } from './layout.js';
import type { Orphan } from './orphans.js';
import { readRecord, removePodDir, type PodRecord } from './records.js';
import { releasePodMounts } from './volumes.js';

export interface ApplyDeps {
  host: Pick<Host, 'layout' | 'cni' | 'netns' | 'runtime' | 'bridges' | 'log'>;
  /** the runtime port per OCI runtime, for containers another runtime than the configured one shows */
  runtimes?: Partial<Record<'crun' | 'runc', AppRuntime>>;
  iptables?: Iptables;
}

export interface Outcome {
  orphan: Orphan;
  ok: boolean;
  /** what was done: removed, deleted, unmounted, already gone, kept: … */
  action: string;
  error?: string;
}

/** What the dry run says it would do. */
export function plannedAction(o: Orphan): string {
  switch (o.kind) {
    case 'container':
      return 'would kill and delete';
    case 'cni-attachment':
      return 'would DEL';
    case 'iptables':
      return 'would delete';
    case 'mount':
      return 'would unmount';
    case 'bridge':
      return 'would remove if unused';
    default:
      return 'would remove';
  }
}

export async function applyOrphans(d: ApplyDeps, orphans: Orphan[], records: PodRecord[]): Promise<Outcome[]> {
  const { host } = d;
  const l = host.layout;
  const out: Outcome[] = [];
  const unmounted = new Map<string, Promise<void>>(); // uid → its pins and mounts released
  const releasePod = (uid: string) => {
    let p = unmounted.get(uid);
    if (!p) {
      p = (async () => {
        await releasePodMounts(podDir(l, uid));
        await unmountAtOrBelow(podDir(l, uid));
      })();
      unmounted.set(uid, p);
    }
    return p;
  };
  let tempsRemoved: Promise<string[]> | undefined;

  for (const o of orphans) {
    const done = (action: string) => out.push({ orphan: o, ok: true, action });
    try {
      switch (o.kind) {
        case 'container': {
          const rt = (o.runtime && d.runtimes?.[o.runtime]) || host.runtime;
          await rt.stop(o.name, 0); // SIGKILL: nobody owns it
          await rt.remove(o.name);
          done('killed and deleted');
          break;
        }
        case 'cni-attachment': {
          const a = o.attachment;
          const list = cachedConfigList(a);
          if (!list) throw new Error('the cache entry holds no config to DEL with (legacy file)');
          await host.cni.delNetworkList(list, {
            containerId: a.containerId,
            netns: a.netns,
            ifName: a.ifName,
            args: a.cniArgs,
            capabilityArgs: a.capabilityArgs,
          });
          done('deleted (CNI DEL)');
          break;
        }
        case 'iptables': {
          if (!d.iptables) throw new Error('no iptables available');
          if (o.rule) {
            const save = await d.iptables.save(o.family);
            if (!save.split('\n').includes(o.rule)) {
              done('already gone');
              break;
            }
            await d.iptables.restore(o.family, ['*nat', o.rule.replace(/^-A /, '-D '), 'COMMIT', ''].join('\n'));
            done('deleted');
            break;
          }
          const removed = await removeIpMasqLeftovers(
            d.iptables,
            { network: o.network, containerId: o.containerId, families: [o.family] },
            host.log,
          );
          done(removed.length ? `deleted ${removed.length} rule(s)/chain(s)` : 'already gone (CNI DEL removed it)');
          break;
        }
        case 'netns':
          await host.netns.remove(o.name);
          done('removed');
          break;
        case 'ipam':
          if (!(await pathExists(o.file))) {
            done('already gone (CNI DEL released it)');
            break;
          }
          await rm(o.file, { force: true });
          done('released');
          break;
        case 'mount':
          // an unreadable record (DataLoss) holds the pod: its objects are kept as for a readable one
          if (await readRecord(l, o.uid).catch(() => true)) {
            done('kept: the pod has a record now');
            break;
          }
          await releasePod(o.uid);
          done((await mountsAtOrBelow(o.name)).includes(o.name) ? 'kept: still mounted' : 'unmounted');
          break;
        case 'pod-dir':
          if (await readRecord(l, o.uid).catch(() => true)) {
            done('kept: the pod has a record now');
            break;
          }
          await releasePod(o.uid);
          await removePodDir(l, o.uid);
          done('removed');
          break;
        case 'log-dir':
          await rm(o.path, { recursive: true, force: true });
          done('removed');
          break;
        case 'cni-cache-temp': {
          tempsRemoved ??= host.cni.removeStaleCacheFiles();
          done((await tempsRemoved).includes(o.name) ? 'removed' : 'already gone');
          break;
        }
        case 'bridge': {
          const removed = await removeUnusedBridges(host.bridges, [o.name], records, host.log);
          done(removed.includes(o.name) ? 'removed' : 'kept: something is still plugged in');
          break;
        }
      }
    } catch (err) {
      host.log.warn({ kind: o.kind, name: o.name, err }, 'gc: removal failed');
      out.push({ orphan: o, ok: false, action: 'failed', error: errorMessage(err) });
    }
  }
  return out;
}
