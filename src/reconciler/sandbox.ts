/**
 * A pod's network namespace handle (`/run/netns/berth-<id>`) deleted by hand while the pod's
 * apps still run in the namespace: the namespace lives as long as a process is in it, so the
 * handle is made again from a live app. Without this, setup would make a new, empty namespace
 * (and release the live one's attachments as stale), and teardown's DEL could not undo what
 * the plugins did inside the old one.
 */
import type { Logger } from '../common/logger.js';
import type { Host } from './host.js';
import { containerId, netnsName } from './layout.js';
import type { PodRecord } from './records.js';

/** Re-make a missing handle from the first running app of the pod; true when it did. */
export async function reattachSandbox(host: Host, rec: PodRecord, log: Logger): Promise<boolean> {
  const name = netnsName(rec.uid);
  if (rec.pod.spec.hostNetwork || (await host.netns.exists(name))) return false;
  const apps = [...(rec.pod.spec.initContainers ?? []), ...rec.pod.spec.containers];
  for (const c of apps) {
    const st = await host.runtime.status(containerId(rec.uid, c.name));
    if (st.state !== 'running' || !st.pid) continue;
    try {
      await host.netns.attach(name, st.pid);
      log.warn({ app: c.name, pid: st.pid }, 'network namespace handle was gone: attached it again from the app');
      return true;
    } catch (err) {
      log.warn({ err }, 'network namespace handle is gone and could not be attached again');
      return false;
    }
  }
  return false;
}
