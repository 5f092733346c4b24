/**
 * The CNI runtime: libcni's verbs on a network configuration list (SPECS.md §1).
 *
 * Lifecycle of an attachment (network, containerId, ifName):
 *   ADD    plugins in list order, each gets the previous result as prevResult (CNI-08/12);
 *          the first error halts; the final result is cached only after all succeed (CNI-24).
 *          A failed ADD must be followed by a DEL (the caller does it).
 *   CHECK  (≥0.4.0, unless disableCheck) plugins in order with the cached result (CNI-14).
 *   DEL    plugins in reverse with the cached result when one exists and the version is
 *          ≥0.4.0 (G4); removes the cache entry afterwards. Safe to repeat (CNI-13).
 *   GC     (unless disableGC) DEL of this network's cached attachments not in the valid set,
 *          then (≥1.1.0) GC to every plugin with the valid set, errors joined (CNI-15, G1).
 *   STATUS (≥1.1.0) plugins in order, stop at the first error (CNI-16).
 * Operations on one attachment are serialized inside one Cni instance (CNI-26); GC of a
 * network waits for every operation on it and holds new ones back until it is done.
 */
import { BerthError, errorMessage, codeOf, silentLogger, wrap, type Logger } from '../common/index.js';
import { CniCode, CniError, parsePluginError, PluginExitError, type CniVerb } from './errors.js';
import { ResultCache } from './cache.js';
import { pinBridgeMacs } from './host/bridge.js';
import { listMasquerades, removeIpMasqLeftovers, sharedSaves, type Iptables } from './host/ipmasq.js';
import { parseNetworkConfigList } from './conf.js';
import { convertResult, isKnownCniVersion, parseResult, toV1 } from './result.js';
import type { CachedAttachment, Cni, CniExec, CniResult, GcArgs, NetworkConfigList, PluginConf, RuntimeConf } from './types.js';
import { validateContainerId, validateIfName, validateNetworkName } from './validate.js';
import { CURRENT_CNI_VERSION, versionAtLeast } from './version.js';
import { PluginVersionCache } from './version-cache.js';

export interface CniOptions {
  /** berth passes `<state>/cni`; results go to `<cacheDir>/results/`. */
  cacheDir: string;
  /** CNI_PATH, searched in order (CNI-18). */
  pluginPaths: string[];
  /** how plugins run (the composition root passes ExecCni) */
  exec: CniExec;
  log?: Logger;
  /** Per plugin invocation; the plugin is killed after it (CNI-20). Default 30 s. */
  timeoutMs?: number;
  /** Pause between retries on "text file busy" (CNI-19). Default 1 s. (Added for tests.) */
  retryDelayMs?: number;
  /**
   * Before an ADD, create the list's bridges with a fixed MAC (or pin an existing bridge's),
   * so that the bridge plugin's CHECK does not fail when ports come and go (host/bridge.ts).
   */
  pinBridges?: boolean;
  /**
   * After a successful DEL of a list that masquerades (`ipMasq: true`), remove the nat rules and
   * chain the plugin left because the pod's interface was gone (host/ipmasq.ts). Off when unset.
   */
  iptables?: Iptables;
  /**
   * Keep the plugins' VERSION answers in `<cacheDir>/plugin-versions.json` across runs
   * (version-cache.ts): the agent does; commands that only look (validate, --dry-run) read the
   * file but write nothing. Off when unset.
   */
  persistVersions?: boolean;
}

export const DEFAULT_PLUGIN_TIMEOUT_MS = 30_000;
const TEXT_BUSY_RETRIES = 5;

type Obj = Record<string, unknown>;

/**
 * CNI-06/07/08: the stdin of one plugin: its own config with `name` and `cniVersion` of the
 * list, `prevResult` when given, and `runtimeConfig` = the capability args the plugin declares
 * (`capabilities[k] === true`), omitted when empty. `capabilities` itself is left in, as libcni
 * does (G3).
 */
export function buildPluginConfig(
  list: Pick<NetworkConfigList, 'name' | 'cniVersion'>,
  plugin: PluginConf,
  prevResult?: Obj,
  capabilityArgs?: Record<string, unknown>,
): Obj {
  const conf: Obj = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  if (prevResult !== undefined) conf.prevResult = prevResult;
  const rc: Obj = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    if (on && capabilityArgs && Object.hasOwn(capabilityArgs, cap) && capabilityArgs[cap] !== undefined) rc[cap] = capabilityArgs[cap];
  }
  if (Object.keys(rc).length > 0) conf.runtimeConfig = rc;
  return conf;
}

/** CNI-10: `IgnoreUnknown=1` first, then the caller's pairs, as `K=V;K2=V2`. */
export function formatCniArgs(args: Array<[string, string]> | undefined): string {
  const pairs: Array<[string, string]> = [['IgnoreUnknown', '1']];
  for (const [k, v] of args ?? []) {
    if (k === '' || /[;=]/.test(k) || v.includes(';')) {
      throw new BerthError('InvalidArgument', `invalid CNI_ARGS pair ${JSON.stringify(`${k}=${v}`)}`);
    }
    if (k !== 'IgnoreUnknown') pairs.push([k, v]);
  }
  return pairs.map(([k, v]) => `${k}=${v}`).join(';');
}

/** CNI-09: all six variables, empty where unused. */
export function buildCniEnv(verb: CniVerb, rt: Partial<RuntimeConf>, pluginPaths: string[]): Record<string, string> {
  return {
    CNI_COMMAND: verb,
    CNI_CONTAINERID: rt.containerId ?? '',
    CNI_NETNS: rt.netns ?? '',
    CNI_IFNAME: rt.ifName ?? '',
    CNI_ARGS: formatCniArgs(rt.args),
    CNI_PATH: pluginPaths.join(':'),
  };
}

function isTextFileBusy(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 8; depth++) {
    const o = e as { code?: unknown; errno?: unknown; message?: unknown; cause?: unknown };
    if (o.code === 'ETXTBSY' || o.errno === 'ETXTBSY') return true;
    if (typeof o.message === 'string' && /text file busy|ETXTBSY/i.test(o.message)) return true;
    e = o.cause;
  }
  return false;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The supported list versions: the known shapes, or "" (a config without cniVersion). */
function checkListVersion(list: NetworkConfigList): void {
  if (list.cniVersion !== '' && !isKnownCniVersion(list.cniVersion)) {
    throw new CniError({ cniCode: CniCode.IncompatibleCniVersion, msg: `unsupported CNI version ${JSON.stringify(list.cniVersion)}` });
  }
}

export class CniRuntime implements Cni {
  private readonly exec: CniExec;
  private readonly log: Logger;
  private readonly cache: ResultCache;
  private readonly pluginPaths: string[];
  private readonly timeoutMs: number;
  private readonly retryDelayMs: number;
  private readonly pinBridges: boolean;
  private readonly iptables: Iptables | undefined;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly versions: PluginVersionCache;
  /** per network: the tail of its running GC (CNI-15: exclusive with ADD/DEL) */
  private readonly gcs = new Map<string, Promise<unknown>>();

  constructor(opts: CniOptions) {
    this.exec = opts.exec;
    this.log = (opts.log ?? silentLogger()).child({ component: 'cni' });
    this.cache = new ResultCache(opts.cacheDir);
    this.versions = new PluginVersionCache(opts.cacheDir, this.log, { write: opts.persistVersions ?? false });
    this.pluginPaths = [...opts.pluginPaths];
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_PLUGIN_TIMEOUT_MS;
    this.retryDelayMs = opts.retryDelayMs ?? 1000;
    this.pinBridges = opts.pinBridges ?? false;
    this.iptables = opts.iptables && sharedSaves(opts.iptables); // pods torn down side by side read the nat table once
  }

  /** Where the cache entry of an attachment lives (CNI-24). */
  cachePath(networkName: string, containerId: string, ifName: string): string {
    return this.cache.path(networkName, containerId, ifName);
  }

  gcNetworkList(list: NetworkConfigList, args?: GcArgs, signal?: AbortSignal): Promise<void> {
    return this.exclusive(list.name, () => this.gc(list, args, signal));
  }

  /**
   * CNI-16 (libcni GetStatusNetworkList): nothing to ask below 1.1.0; else STATUS to each plugin
   * in order with only `name` and `cniVersion` injected, the first error returned as is (50: no
   * new ADD possible, 51: existing attachments may be degraded).
   */
  async getStatusNetworkList(list: NetworkConfigList, signal?: AbortSignal): Promise<void> {
    validateNetworkName(list.name);
    checkListVersion(list);
    if (!isKnownCniVersion(list.cniVersion) || !versionAtLeast(list.cniVersion, '1.1.0')) return;
    const log = this.log.child({ network: list.name });
    const rt = { containerId: '', netns: '', ifName: '' };
    const env = { ...buildCniEnv('STATUS', rt, this.pluginPaths), CNI_ARGS: '' };
    for (const plugin of list.plugins) {
      await this.invoke('STATUS', plugin, { ...plugin, name: list.name, cniVersion: list.cniVersion }, rt, signal, log, env);
    }
  }

  addNetworkList(list: NetworkConfigList, rt: RuntimeConf, signal?: AbortSignal): Promise<CniResult> {
    return this.serialized(list.name, rt, () => this.add(list, rt, signal));
  }

  checkNetworkList(list: NetworkConfigList, rt: RuntimeConf, signal?: AbortSignal): Promise<void> {
    return this.serialized(list.name, rt, () => this.check(list, rt, signal));
  }

  delNetworkList(list: NetworkConfigList, rt: RuntimeConf, signal?: AbortSignal): Promise<void> {
    return this.serialized(list.name, rt, () => this.del(list, rt, signal));
  }

  async getCachedResult(networkName: string, containerId: string, ifName: string): Promise<CachedAttachment | undefined> {
    validateAttachment(networkName, containerId, ifName);
    let e;
    try {
      e = await this.cache.read(networkName, containerId, ifName, '');
    } catch (err) {
      // An unreadable entry is no usable attachment; a later DEL removes the file (CNI-13),
      // and ADD refuses to run over it (AlreadyExists) until then.
      this.log.warn({ err, network: networkName, containerId }, 'cni cache entry unreadable');
      return undefined;
    }
    if (!e) return undefined;
    const { v1: _v1, ...a } = e;
    return { ...a, result: toV1Lenient(a.result) };
  }

  /** Issue 14 item 10: temporary files of interrupted cache writes, removed (see ResultCache). */
  async removeStaleCacheFiles(minAgeMs?: number): Promise<string[]> {
    const removed = await this.cache.removeStaleTempFiles(minAgeMs);
    if (removed.length)
      this.log.info(
        { files: removed, dir: this.cache.resultsDir, event: 'cni.cacheTempRemoved' },
        'removed temporary files of interrupted cni cache writes',
      );
    return removed;
  }

  async getCachedAttachments(containerIdPrefix = ''): Promise<CachedAttachment[]> {
    const all = await this.cache.list();
    return all
      .filter((e) => e.containerId.startsWith(containerIdPrefix))
      .map(({ v1: _v1, ...a }) => ({ ...a, result: toV1Lenient(a.result) }));
  }

  /**
   * CNI-17: what a plugin speaks (`VERSION`; stdin `{"cniVersion":"1.1.0"}`, NETNS, IFNAME and
   * PATH set to "dummy"). libcni's fallbacks: "unknown CNI_COMMAND: VERSION" means ["0.1.0"]; a
   * 0.2.0 answer without a list means ["0.1.0","0.2.0"].
   */
  async getVersionInfo(type: string, signal?: AbortSignal): Promise<{ cniVersion: string; supportedVersions: string[] }> {
    const rt = { containerId: '', netns: 'dummy', ifName: 'dummy' };
    const env = { ...buildCniEnv('VERSION', rt, []), CNI_PATH: 'dummy', CNI_ARGS: '' };
    let out: string;
    try {
      out = await this.invoke('VERSION', { type }, { cniVersion: CURRENT_CNI_VERSION }, rt, signal, this.log, env);
    } catch (err) {
      if (err instanceof CniError && /unknown CNI_COMMAND: VERSION/.test(err.msg))
        return { cniVersion: '0.1.0', supportedVersions: ['0.1.0'] };
      throw err;
    }
    let info: { cniVersion?: unknown; supportedVersions?: unknown };
    try {
      info = JSON.parse(out) as typeof info;
    } catch (err) {
      throw new CniError({
        cniCode: CniCode.DecodingFailure,
        msg: `failed to parse VERSION result: ${errorMessage(err)}`,
        plugin: type,
        verb: 'VERSION',
      });
    }
    const cniVersion = typeof info.cniVersion === 'string' ? info.cniVersion : '';
    if (Array.isArray(info.supportedVersions)) {
      return { cniVersion, supportedVersions: info.supportedVersions.filter((v): v is string => typeof v === 'string') };
    }
    if (cniVersion === '' || cniVersion === '0.2.0') return { cniVersion: '0.2.0', supportedVersions: ['0.1.0', '0.2.0'] };
    return { cniVersion, supportedVersions: [cniVersion] };
  }

  /**
   * What keeps a list from working on this host, per plugin, before any pod uses it: a plugin
   * type (or its `ipam.type`) not found in the plugin path (CNI-18), or a plugin that does not
   * speak the list's version (CNI-05, VERSION probing). The answer of VERSION is remembered per
   * plugin file, across agent runs, until the file changes (version-cache.ts). Never throws for
   * a plugin's sake; `field` is `type` or `ipam.type`.
   */
  async pluginProblems(
    list: NetworkConfigList,
    signal?: AbortSignal,
  ): Promise<Array<{ index: number; field: 'type' | 'ipam.type'; message: string }>> {
    type Problem = { index: number; field: 'type' | 'ipam.type'; message: string };
    // the plugins are independent: ask them side by side, report in the list's order
    const perPlugin = await Promise.all(
      list.plugins.map(async (plugin, index): Promise<Problem[]> => {
        const out: Problem[] = [];
        const ipam = plugin.ipam as { type?: unknown } | undefined;
        if (ipam && typeof ipam === 'object' && typeof ipam.type === 'string' && ipam.type !== '') {
          try {
            await this.exec.findInPath(ipam.type, this.pluginPaths);
          } catch (err) {
            out.push({ index, field: 'ipam.type', message: `unknown IPAM plugin type "${ipam.type}": ${errorMessage(err)}` });
          }
        }
        let path: string;
        try {
          path = await this.exec.findInPath(plugin.type, this.pluginPaths);
        } catch (err) {
          return [...out, { index, field: 'type', message: `unknown plugin type "${plugin.type}": ${errorMessage(err)}` }];
        }
        let info = await this.versions.get(path);
        if (!info) {
          try {
            info = await this.getVersionInfo(plugin.type, signal);
            await this.versions.set(path, info);
          } catch (err) {
            if (codeOf(err) === 'Canceled') throw err;
            return [
              ...out,
              { index, field: 'type', message: `plugin "${plugin.type}" (${path}) does not answer VERSION: ${errorMessage(err)}` },
            ];
          }
        }
        const v = list.cniVersion || '0.1.0';
        if (!info.supportedVersions.includes(v)) {
          out.push({
            index,
            field: 'type',
            message: `plugin "${plugin.type}" (${path}) does not support cniVersion ${JSON.stringify(v)} (it supports ${info.supportedVersions.join(', ')})`,
          });
        }
        return out;
      }),
    );
    return perPlugin.flat();
  }

  // ---- verbs ----

  private async add(list: NetworkConfigList, rt: RuntimeConf, signal?: AbortSignal): Promise<CniResult> {
    validateAttachment(list.name, rt.containerId, rt.ifName); // CNI-25
    checkListVersion(list);
    // CNI-12: no repeated ADD for the same attachment. The caller DELs first (or CHECKs and
    // adopts the cached result with getCachedResult).
    let cached;
    try {
      cached = await this.cache.read(list.name, rt.containerId, rt.ifName, list.cniVersion);
    } catch {
      cached = { unreadable: true }; // an unreadable entry is still an attachment: refused below as AlreadyExists
    }
    if (cached) {
      throw new BerthError('AlreadyExists', `network ${list.name} is already added to ${rt.containerId}/${rt.ifName}; DEL it first`);
    }
    const log = this.log.child({ network: list.name, containerId: rt.containerId });
    if (this.pinBridges) {
      const pinned = await pinBridgeMacs(list);
      if (pinned.length) log.info({ bridges: pinned }, 'bridge MAC pinned');
    }
    let prev: Obj | undefined;
    for (const plugin of list.plugins) {
      const stdin = buildPluginConfig(list, plugin, prev, rt.capabilityArgs);
      const out = await this.invoke('ADD', plugin, stdin, rt, signal, log);
      let res: CniResult;
      try {
        res = parseResult(out, list.cniVersion);
        prev = convertResult(res, list.cniVersion); // up (or down) to the list version for the next plugin
      } catch (err) {
        throw err instanceof CniError ? err.withPlugin(plugin.type, 'ADD') : err;
      }
    }
    const final = prev ?? { cniVersion: list.cniVersion };
    try {
      await this.cache.write(
        {
          containerId: rt.containerId,
          ifName: rt.ifName,
          networkName: list.name,
          netns: rt.netns,
          cniArgs: rt.args ?? [],
          capabilityArgs: rt.capabilityArgs ?? {},
          config: Buffer.from(list.bytes, 'utf8').toString('base64'),
          result: final as CniResult,
        },
        final,
      );
    } catch (err) {
      throw wrap(err, `failed to set network ${JSON.stringify(list.name)} cached result`, 'Internal');
    }
    log.debug({ event: 'cni.added' }, 'cni add done');
    return toV1(parseResult(final, list.cniVersion));
  }

  private async check(list: NetworkConfigList, rt: RuntimeConf, signal?: AbortSignal): Promise<void> {
    validateAttachment(list.name, rt.containerId, rt.ifName);
    checkListVersion(list);
    if (!versionAtLeast(list.cniVersion, '0.4.0')) {
      throw new CniError({
        cniCode: CniCode.IncompatibleCniVersion,
        msg: `configuration version ${JSON.stringify(list.cniVersion)} does not support the CHECK command`,
      });
    }
    if (list.disableCheck) return; // CNI-14
    let entry;
    try {
      entry = await this.cache.read(list.name, rt.containerId, rt.ifName, list.cniVersion);
    } catch (err) {
      throw wrap(err, `failed to get network ${JSON.stringify(list.name)} cached result`, 'FailedPrecondition');
    }
    if (!entry) {
      throw new BerthError('NotFound', `no cached result for network ${list.name} on ${rt.containerId}/${rt.ifName}: not added`);
    }
    const prev = convertResult(entry.result, list.cniVersion);
    const log = this.log.child({ network: list.name, containerId: rt.containerId });
    for (const plugin of list.plugins) {
      await this.invoke('CHECK', plugin, buildPluginConfig(list, plugin, prev, rt.capabilityArgs), rt, signal, log);
    }
  }

  private async del(list: NetworkConfigList, rt: RuntimeConf, signal?: AbortSignal): Promise<void> {
    validateAttachment(list.name, rt.containerId, rt.ifName);
    const log = this.log.child({ network: list.name, containerId: rt.containerId });
    let prev: Obj | undefined;
    let cachedIps: string[] | undefined;
    // G4: the cached result only when one exists and the version is ≥0.4.0.
    if (isKnownCniVersion(list.cniVersion) && versionAtLeast(list.cniVersion, '0.4.0')) {
      try {
        const entry = await this.cache.read(list.name, rt.containerId, rt.ifName, list.cniVersion);
        if (entry) prev = convertResult(entry.result, list.cniVersion);
        if (entry) cachedIps = (entry.result.ips ?? []).map((i) => i.address);
      } catch (err) {
        // libcni drops an unreadable entry and deletes without prevResult.
        log.warn({ err }, 'cni cache entry unreadable; deleting without prevResult');
        await this.cache.remove(list.name, rt.containerId, rt.ifName);
        prev = undefined;
      }
    }
    for (let i = list.plugins.length - 1; i >= 0; i--) {
      const plugin = list.plugins[i] as PluginConf;
      await this.invoke('DEL', plugin, buildPluginConfig(list, plugin, prev, rt.capabilityArgs), rt, signal, log);
    }
    await this.removeMasqLeftovers(list, rt, cachedIps, log);
    await this.cache.remove(list.name, rt.containerId, rt.ifName);
    log.debug({ event: 'cni.deleted' }, 'cni del done');
  }

  /**
   * Issue 14 item 11: what a masquerading plugin's DEL could not remove (its interface was gone)
   * is removed by name. IPv6 tables are looked at when the cached result had an IPv6 address
   * (or when nothing was cached). A failure is logged, never fails the DEL: the plugins are done
   * and the attachment is gone; a rule left is reported with what it is.
   */
  private async removeMasqLeftovers(list: NetworkConfigList, rt: RuntimeConf, cachedIps: string[] | undefined, log: Logger): Promise<void> {
    if (!this.iptables || !listMasquerades(list)) return;
    const families: Array<4 | 6> = cachedIps && !cachedIps.some((ip) => ip.includes(':')) ? [4] : [4, 6];
    try {
      const removed = await removeIpMasqLeftovers(this.iptables, { network: list.name, containerId: rt.containerId, families }, log);
      if (removed.length) {
        log.warn(
          { ifName: rt.ifName, ips: cachedIps ?? [], removed, event: 'cni.ipMasqLeftovers' },
          'removed masquerade rules the plugin left behind (its interface was gone)',
        );
      }
    } catch (err) {
      log.warn({ err, ifName: rt.ifName, ips: cachedIps ?? [] }, 'could not remove masquerade rules the plugin left behind');
    }
  }

  /**
   * CNI-15 (libcni GCNetworkList). The stale attachments are DELeted with the cached netns, args
   * and capability args; GC goes to every plugin even after an error; all errors are joined.
   * The plugins' GC gets no CNI_CONTAINERID/NETNS/IFNAME and an empty CNI_ARGS, as from libcni.
   */
  private async gc(list: NetworkConfigList, args: GcArgs | undefined, signal?: AbortSignal): Promise<void> {
    validateNetworkName(list.name);
    if (list.disableGC) return;
    const log = this.log.child({ network: list.name });
    const valid = new Set((args?.validAttachments ?? []).map((a) => `${a.containerID}\0${a.ifname}`));
    const errors: unknown[] = [];
    for (const a of await this.getCachedAttachments()) {
      if (a.networkName !== list.name || valid.has(`${a.containerId}\0${a.ifName}`)) continue;
      const rt: RuntimeConf = {
        containerId: a.containerId,
        netns: a.netns,
        ifName: a.ifName,
        args: a.cniArgs,
        capabilityArgs: a.capabilityArgs,
      };
      try {
        await this.del(list, rt, signal);
        log.info({ containerId: a.containerId, ifName: a.ifName, event: 'cni.gc' }, 'cni gc deleted a stale attachment');
      } catch (err) {
        errors.push(wrap(err, `failed to delete stale attachment ${a.containerId} ${a.ifName}`));
      }
    }
    if (isKnownCniVersion(list.cniVersion) && versionAtLeast(list.cniVersion, '1.1.0')) {
      const validList = args?.validAttachments.map((a) => ({ containerID: a.containerID, ifname: a.ifname }));
      const rt = { containerId: '', netns: '', ifName: '' };
      const env = { ...buildCniEnv('GC', rt, this.pluginPaths), CNI_ARGS: '' };
      for (const plugin of list.plugins) {
        const conf: Obj = { ...plugin, name: list.name, cniVersion: list.cniVersion };
        if (validList) {
          conf['cni.dev/valid-attachments'] = validList;
          conf['cni.dev/attachments'] = validList; // G1: the spec-v1.1.0 tag's key (libcni #1101)
        }
        try {
          await this.invoke('GC', plugin, conf, rt, signal, log, env);
        } catch (err) {
          if (codeOf(err) === 'Canceled') throw err;
          errors.push(err);
        }
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      throw new BerthError(
        codeOf(errors[0]) ?? 'Internal',
        `gc of network ${list.name}: ${errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ')}`,
        {
          cause: new AggregateError(errors),
        },
      );
    }
  }

  // ---- invocation ----

  /** Run one plugin (CNI-18..21): find it, run it with a timeout, retry on ETXTBSY, parse errors. */
  private async invoke(
    verb: CniVerb,
    plugin: PluginConf,
    conf: Obj,
    rt: RuntimeConf,
    signal: AbortSignal | undefined,
    log: Logger,
    envOverride?: Record<string, string>,
  ): Promise<string> {
    if (signal?.aborted) throw new BerthError('Canceled', `cni ${verb.toLowerCase()} canceled`, { cause: signal.reason });
    let pluginPath: string;
    try {
      pluginPath = await this.exec.findInPath(plugin.type, this.pluginPaths);
    } catch (err) {
      throw wrap(err, `plugin type="${plugin.type}" failed (${verb.toLowerCase()})`);
    }
    const env = envOverride ?? buildCniEnv(verb, rt, this.pluginPaths);
    const stdin = JSON.stringify(conf);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    for (let attempt = 0; ; attempt++) {
      try {
        log.debug({ plugin: plugin.type, verb, attempt }, 'cni plugin exec');
        return await this.exec.execPlugin(pluginPath, stdin, env, combined);
      } catch (err) {
        if (signal?.aborted) {
          throw new BerthError('Canceled', `plugin type="${plugin.type}" canceled (${verb.toLowerCase()})`, { cause: err });
        }
        if (timeout.aborted) {
          throw new BerthError(
            'DeadlineExceeded',
            `plugin type="${plugin.type}" timed out after ${this.timeoutMs} ms (${verb.toLowerCase()}); killed`,
            {
              cause: err,
            },
          );
        }
        if (attempt < TEXT_BUSY_RETRIES && isTextFileBusy(err)) {
          log.debug({ plugin: plugin.type, verb, attempt }, 'cni plugin text file busy; retrying');
          await sleep(this.retryDelayMs, combined);
          continue;
        }
        if (err instanceof PluginExitError) {
          throw parsePluginError(err.stdout, err.stderr, err.exitCode).withPlugin(plugin.type, verb);
        }
        if (err instanceof CniError) throw err.plugin ? err : err.withPlugin(plugin.type, verb);
        throw wrap(err, `plugin type="${plugin.type}" failed (${verb.toLowerCase()})`);
      }
    }
  }

  /** CNI-26: one operation at a time per attachment (in this process), none during a GC of its network. */
  private serialized<T>(network: string, rt: RuntimeConf, fn: () => Promise<T>): Promise<T> {
    const key = `${network}\0${rt.containerId}\0${rt.ifName}`;
    const gate = this.gcs.get(network);
    const prev = this.locks.get(key) ?? Promise.resolve();
    const before = gate ? Promise.all([prev, gate]) : prev;
    const run = before.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }

  /** Run `fn` once every operation on `network` queued so far is done, holding new ones back. */
  private exclusive<T>(network: string, fn: () => Promise<T>): Promise<T> {
    const pending = [...this.locks.entries()].filter(([k]) => k.startsWith(`${network}\0`)).map(([, p]) => p);
    const prevGc = this.gcs.get(network);
    if (prevGc) pending.push(prevGc);
    const run = Promise.all(pending).then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.gcs.set(network, tail);
    void tail.then(() => {
      if (this.gcs.get(network) === tail) this.gcs.delete(network);
    });
    return run;
  }
}

function validateAttachment(network: string, containerId: string, ifName: string): void {
  validateContainerId(containerId);
  validateNetworkName(network);
  validateIfName(ifName);
}

function toV1Lenient(r: CniResult): CniResult {
  try {
    return toV1(r);
  } catch {
    return r; // a result toV1 cannot convert is shown as the plugin gave it
  }
}

/**
 * The network configuration list an attachment was ADDed with (DEL it with this, even when the
 * network changed since). Undefined for a legacy cache entry, which does not hold it.
 */
export function cachedConfigList(a: CachedAttachment): NetworkConfigList | undefined {
  if (!a.config) return undefined;
  return parseNetworkConfigList(
    Buffer.from(a.config, 'base64').toString('utf8'),
    `cached config of ${a.networkName}-${a.containerId}-${a.ifName}`,
  );
}

/** A libcni-shaped CNI runtime (SPECS.md §1). */
export function createCni(opts: CniOptions): CniRuntime {
  return new CniRuntime(opts);
}
