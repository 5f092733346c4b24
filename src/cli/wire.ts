/**
 * The composition root: builds the real implementations behind the host interfaces from
 * the command-line options. Nothing else in berth constructs them (or pino).
 */
import { join } from 'node:path';
import { systemClock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import { createCni, ExecCni, HostIptables, IpNetnsManager, type Cni, type CniExec, type Iptables } from '../cni/index.js';
// the runtime's own modules, not its index: the index also carries the bundle code (oci-spec,
// seccomp), which only an app's start loads (conmon-runtime.ts)
import { ConmonRuntime } from '../runtime/conmon-runtime.js';
import { resolveOciRuntime } from '../runtime/oci-runtime.js';
import type { AppRuntime, OciRuntime } from '../runtime/types.js';
import { logRotationOf } from '../runtime/log-rotation.js';
import type { BerthImageService } from '../image/image-service.js';
import type { ImageService } from '../image/types.js';
import type { Host } from '../reconciler/host.js';
import { createLimiter, ignorePullProgress } from '../reconciler/host.js';
import { cniCacheDir, type Layout } from '../reconciler/layout.js';
import { discardEvents, FileEventSink } from '../reconciler/events.js';
import { IpBridgeManager } from '../reconciler/gc.js';
import { DisabledAppcMetadataService } from '../appc-metadata/disabled.js';
import { secureHostDirs } from '../reconciler/host-dirs.js';
import { lazyPort } from './lazy.js';
import { DEFAULTS, layoutOf, pidsLimitOf, type GlobalOptions } from './globals.js';

/** `readOnly`: for commands that only look (status, describe, --dry-run): nothing is written on the host. */
export async function createHost(
  o: GlobalOptions,
  log: Logger,
  opts: { readOnly?: boolean; pullProgress?: Host['pullProgress'] } = {},
): Promise<Host> {
  const layout = layoutOf(o);
  if (!opts.readOnly) await secureHostDirs(layout, log);
  const ociRuntime = await resolveOciRuntime({ name: o.runtime, runDir: layout.runDir, ...(opts.readOnly ? { readOnly: true } : {}) });
  return {
    layout,
    // loaded on first use: status, describe, exec never touch images
    images: lazyPort<ImageService>(() => imageServiceOf(layout, log)),
    cni: cniOf(o, layout, log, { agent: true, ...(opts.readOnly ? { readOnly: true } : {}) }),
    netns: new IpNetnsManager({ dir: o.netnsDir, log }),
    runtime: new ConmonRuntime({
      runDir: layout.runDir,
      ociRuntime,
      log,
      pidsLimit: pidsLimitOf(o.pidsLimit),
      seccompDir: join(layout.configDir, 'seccomp'),
      clock: systemClock,
      // the agent rotates the apps' logs (kubelet's container log manager); read-only commands do not
      ...(opts.readOnly
        ? {}
        : {
            logRotation: logRotationOf(
              o.containerLogMaxSize ?? DEFAULTS.containerLogMaxSize,
              o.containerLogMaxFiles ?? DEFAULTS.containerLogMaxFiles,
            ),
          }),
    }),
    bridges: new IpBridgeManager(log),
    clock: systemClock,
    log,
    events: opts.readOnly ? discardEvents : new FileEventSink({ layout, clock: systemClock, log }),
    // the agent opens listeners when a pod with ACI apps is registered; a read-only command serves no pod
    appcMetadata: opts.readOnly
      ? new DisabledAppcMetadataService('a command that only reads runs none')
      : new (await import('../appc-metadata/service.js')).AppcMetadataServer({ stateDir: layout.stateDir, log }),
    limit: createLimiter(Math.max(1, Number(o.concurrency) || 4)),
    pullProgress: opts.pullProgress ?? ignorePullProgress,
  };
}

/**
 * The CNI runtime over the host's plugins. `agent`: the host's (bridge MACs pinned, masquerade
 * leftovers removed); otherwise for asking only (`validate` runs VERSION, nothing else).
 */
/** The installation's image service (the agent's port, `berth image`, `berth gc`, `berth trust --discover`), its code loaded on demand. */
export async function imageServiceOf(layout: Pick<Layout, 'stateDir' | 'configDir'>, log?: Logger): Promise<BerthImageService> {
  const { createImageService } = await import('../image/image-service.js');
  return createImageService({ stateDir: layout.stateDir, configDir: layout.configDir, ...(log ? { log } : {}) });
}

/** `readOnly`: the agent's CNI runtime for a command that only looks (--dry-run): it writes no VERSION answers. */
export function cniOf(o: GlobalOptions, layout: Layout, log: Logger, opts: { agent?: boolean; readOnly?: boolean } = {}): Cni {
  return createCni({
    cacheDir: cniCacheDir(layout),
    pluginPaths: o.cniPluginDir,
    exec: new ExecCni(),
    log,
    ...(opts.agent ? { pinBridges: true, iptables: new HostIptables(), persistVersions: !opts.readOnly } : {}),
  });
}

/** How CNI plugins are found and run on this host (`berth net` shows where a type was found). */
export function cniExecOf(): CniExec {
  return new ExecCni();
}

/** The host's iptables (`berth gc` looks for masquerade rules no pod owns). */
export function iptablesOf(): Iptables {
  return new HostIptables();
}

/** The OCI runtime `name` as berth drives it on this host; `readOnly`: no wrapper file is written. */
export function ociRuntimeOf(name: GlobalOptions['runtime'], layout: Layout, opts: { readOnly?: boolean } = {}): Promise<OciRuntime> {
  return resolveOciRuntime({ name, runDir: layout.runDir, ...(opts.readOnly ? { readOnly: true } : {}) });
}

/** An app runtime over `oci` that rotates no logs (a command line: `berth exec`, `berth gc` for another OCI runtime). */
export function appRuntimeOf(layout: Layout, oci: OciRuntime, log: Logger): AppRuntime {
  return new ConmonRuntime({ runDir: layout.runDir, ociRuntime: oci, log });
}
