/**
 * Hand-written fakes behind berth's host interfaces (STYLE.md: record calls, canned
 * returns, no module mocking), for reconciler tests without root.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import type { CachedAttachment, Cni, CniResult, GcArgs, NetnsManager, NetworkConfigList, RuntimeConf } from '../../src/cni/types.js';
import type { ImageService, PulledImage, RenderedImage, VerifiedImage } from '../../src/image/types.js';
import { createLimiter, type EventSink, type Host, type Layout, type PodEventInput } from '../../src/reconciler/index.js';
import type { AppExit, AppLaunch, AppRuntime, AppStatus, ExecOptions, ExecResult } from '../../src/runtime/types.js';

export class FakeImages implements ImageService {
  pulls: string[] = [];
  failing = new Map<string, BerthError>();
  async pull(reference: string): Promise<PulledImage> {
    this.pulls.push(reference);
    const err = this.failing.get(reference);
    if (err) throw err;
    return { reference, manifestDigest: `sha256:${'a'.repeat(64)}`, configDigest: `sha256:${'b'.repeat(64)}`, config: { config: { Cmd: ['/bin/sh'] } }, layers: [] };
  }
  /** references the verify step refuses, and with what */
  refused = new Map<string, BerthError>();
  verified: string[] = [];
  async verify(image: PulledImage): Promise<VerifiedImage> {
    this.verified.push(image.reference);
    const err = this.refused.get(image.reference);
    if (err) throw err;
    return { ...image, verified: { sourceDigest: image.manifestDigest } };
  }
  async render(image: PulledImage): Promise<RenderedImage> {
    return { ...image, rootfs: `/rendered/${image.manifestDigest}` };
  }
  async listRendered(): Promise<string[]> {
    return [];
  }
  /** what a crash left half-written: `pruneIncomplete` reports and clears it */
  incomplete = 0;
  async pruneIncomplete(): Promise<number> {
    const n = this.incomplete;
    this.incomplete = 0;
    return n;
  }
}

export class FakeNetns implements NetnsManager {
  live = new Set<string>();
  /** `attach` calls: the handle made for the namespace of `pid` */
  attached: Array<{ name: string; pid: number }> = [];
  /** interfaces and addresses per namespace for `addresses` (default: none, an empty namespace) */
  addrs = new Map<string, Record<string, string[]>>();
  async attach(name: string, pid: number) {
    this.attached.push({ name, pid });
    this.live.add(name);
    return this.path(name);
  }
  async addresses(name: string) {
    if (!this.live.has(name)) return undefined;
    return this.addrs.get(name) ?? {};
  }
  async ensure(name: string) {
    this.live.add(name);
    return this.path(name);
  }
  async remove(name: string) {
    this.live.delete(name);
    this.addrs.delete(name);
  }
  async exists(name: string) {
    return this.live.has(name);
  }
  async list(prefix: string) {
    return [...this.live].filter((n) => n.startsWith(prefix));
  }
  path(name: string) {
    return `/run/netns/${name}`;
  }
}

/**
 * libcni's verbs over a cache in memory. CHECK fails for an attachment it has no cache entry
 * of (as libcni does); GC DELs the network's cached attachments missing from the valid list;
 * STATUS fails with `statusError` when set; VERSION answers `supportedVersions`;
 * `missingTypes` are plugin types not on the plugin path.
 */
export class FakeCni implements Cni {
  calls: Array<{ verb: 'ADD' | 'DEL'; network: string; containerId: string; ifName: string }> = [];
  /** CHECK, GC and STATUS calls (kept apart from the ADD/DEL order tests assert) */
  probes: Array<{ verb: 'CHECK' | 'GC' | 'STATUS'; network: string; containerId: string; ifName: string }> = [];
  statusError: BerthError | undefined;
  supportedVersions = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'];
  missingTypes = new Set<string>();
  /** temporary cache files interrupted writes left: `removeStaleCacheFiles` returns and clears them */
  staleCacheFiles: string[] = [];
  /** the namespaces ADD puts interfaces in (as a plugin does), so `addresses` shows them */
  constructor(private readonly netns?: FakeNetns) {}
  private iface(rt: RuntimeConf, addresses: string[] | undefined) {
    if (!this.netns) return;
    const name = rt.netns.split('/').pop() ?? '';
    const cur = { ...(this.netns.addrs.get(name) ?? {}) };
    if (addresses) cur[rt.ifName] = addresses;
    else delete cur[rt.ifName];
    this.netns.addrs.set(name, cur);
  }
  cache = new Map<string, CachedAttachment>();
  private next = 2;
  private key = (n: string, c: string, i: string) => `${n}-${c}-${i}`;
  async addNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<CniResult> {
    this.calls.push({ verb: 'ADD', network: list.name, containerId: rt.containerId, ifName: rt.ifName });
    const result: CniResult = { cniVersion: '1.0.0', ips: [{ address: rt.ifName === 'lo' ? '127.0.0.1/8' : `10.9.0.${this.next++}/16` }] };
    this.cache.set(this.key(list.name, rt.containerId, rt.ifName), {
      containerId: rt.containerId,
      ifName: rt.ifName,
      networkName: list.name,
      netns: rt.netns,
      cniArgs: rt.args ?? [],
      capabilityArgs: rt.capabilityArgs ?? {},
      config: Buffer.from(list.bytes).toString('base64'),
      result,
    });
    this.iface(rt, (result.ips ?? []).map((ip) => ip.address));
    return result;
  }
  async checkNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    this.probes.push({ verb: 'CHECK', network: list.name, containerId: rt.containerId, ifName: rt.ifName });
    if (list.disableCheck) return;
    if (!this.cache.has(this.key(list.name, rt.containerId, rt.ifName))) {
      throw new BerthError('NotFound', `network ${list.name}: no cached result for ${rt.containerId}/${rt.ifName} to CHECK`);
    }
  }
  async gcNetworkList(list: NetworkConfigList, args: GcArgs = { validAttachments: [] }): Promise<void> {
    this.probes.push({ verb: 'GC', network: list.name, containerId: '', ifName: '' });
    if (list.disableGC) return;
    const valid = new Set(args.validAttachments.map((a) => `${a.containerID}/${a.ifname}`));
    for (const a of [...this.cache.values()]) {
      if (a.networkName === list.name && !valid.has(`${a.containerId}/${a.ifName}`)) {
        await this.delNetworkList(list, { containerId: a.containerId, ifName: a.ifName, netns: a.netns });
      }
    }
  }
  async getStatusNetworkList(list: NetworkConfigList): Promise<void> {
    this.probes.push({ verb: 'STATUS', network: list.name, containerId: '', ifName: '' });
    if (this.statusError) throw this.statusError;
  }
  async getVersionInfo(): Promise<{ cniVersion: string; supportedVersions: string[] }> {
    return { cniVersion: '1.1.0', supportedVersions: [...this.supportedVersions] };
  }
  async pluginProblems(list: NetworkConfigList): Promise<Array<{ index: number; field: 'type' | 'ipam.type'; message: string }>> {
    const out: Array<{ index: number; field: 'type' | 'ipam.type'; message: string }> = [];
    for (const [index, p] of list.plugins.entries()) {
      const ipam = (p.ipam as { type?: string } | undefined)?.type;
      if (ipam && this.missingTypes.has(ipam)) out.push({ index, field: 'ipam.type', message: `unknown IPAM plugin type "${ipam}"` });
      if (this.missingTypes.has(p.type)) out.push({ index, field: 'type', message: `unknown plugin type "${p.type}"` });
      else if (!this.supportedVersions.includes(list.cniVersion)) out.push({ index, field: 'type', message: `plugin "${p.type}" does not support cniVersion "${list.cniVersion}"` });
    }
    return out;
  }
  async removeStaleCacheFiles(): Promise<string[]> {
    const files = this.staleCacheFiles;
    this.staleCacheFiles = [];
    return files;
  }
  async delNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    this.calls.push({ verb: 'DEL', network: list.name, containerId: rt.containerId, ifName: rt.ifName });
    this.cache.delete(this.key(list.name, rt.containerId, rt.ifName));
    if (this.netns?.addrs.has(rt.netns.split('/').pop() ?? '')) this.iface(rt, undefined);
  }
  async getCachedResult(n: string, c: string, i: string) {
    return this.cache.get(this.key(n, c, i));
  }
  async getCachedAttachments(prefix = '') {
    return [...this.cache.values()].filter((a) => a.containerId.startsWith(prefix));
  }
}

/**
 * Apps run until the test ends them; `crashing` apps exit with 1 right after they start;
 * `unstartable` apps fail to start with a StartError (entrypoint not found). `exec` answers
 * with `execHandler` (default: exit 0, no output) and records every call in `execs`;
 * `stop` records its stop signal in `stops`. An app ends on its stop signal (143) unless it
 * is in `ignoresStop`: then it is killed (137) when the grace period has passed, as the
 * real runtime does; `graceTimer` waits that long (tests may make it instant).
 */
export class FakeRuntime implements AppRuntime {
  starts: AppLaunch[] = [];
  crashing = new Set<string>();
  unstartable = new Set<string>();
  execs: Array<{ containerId: string; argv: string[]; opts: ExecOptions }> = [];
  stops: Array<{ containerId: string; graceMs: number; stopSignal?: string }> = [];
  ignoresStop = new Set<string>();
  graceTimer: (ms: number, signal?: AbortSignal) => Promise<void> = (ms, signal) =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  afterExits: Array<{ containerId: string; argv: string[] }> = [];
  pruned = 0;
  private appOf = new Map<string, string>();
  execHandler: (containerId: string, argv: string[], opts: ExecOptions) => ExecResult | Promise<ExecResult> = () => ({ exitCode: 0, stdout: '', stderr: '', timedOut: false });
  private states = new Map<string, AppStatus>();
  private waiters = new Map<string, Array<(e: AppExit) => void>>();
  private pid = 1000;

  async start(launch: AppLaunch): Promise<AppStatus> {
    this.starts.push(launch);
    if (this.unstartable.has(launch.appName)) {
      throw new BerthError('FailedPrecondition', `app ${launch.appName}: executable file not found in $PATH`, { details: { reason: 'StartError' } });
    }
    const st: AppStatus = { containerId: launch.containerId, state: 'running', pid: this.pid++, startedAt: Date.now() };
    this.states.set(launch.containerId, st);
    this.appOf.set(launch.containerId, launch.appName);
    if (this.crashing.has(launch.appName)) setTimeout(() => this.exit(launch.containerId, 1), 5);
    return st;
  }
  /** End a running app with exitCode (and reason, e.g. 'OOMKilled' with 137). */
  exit(id: string, exitCode: number, reason?: 'OOMKilled') {
    const st = this.states.get(id);
    if (!st || st.state !== 'running') return;
    const finishedAt = Date.now();
    this.states.set(id, { containerId: id, state: 'exited', exitCode, finishedAt, ...(st.startedAt ? { startedAt: st.startedAt } : {}), ...(reason ? { reason } : {}) });
    for (const w of this.waiters.get(id) ?? []) w({ exitCode, finishedAt, ...(reason ? { reason } : {}) });
    this.waiters.delete(id);
  }
  async status(id: string): Promise<AppStatus> {
    return this.states.get(id) ?? { containerId: id, state: 'unknown' };
  }
  waitExit(id: string, signal?: AbortSignal): Promise<AppExit> {
    const st = this.states.get(id);
    if (st?.state === 'exited') return Promise.resolve({ exitCode: st.exitCode ?? -1, finishedAt: st.finishedAt ?? 0, ...(st.reason ? { reason: st.reason } : {}) });
    return new Promise((resolve, reject) => {
      this.waiters.set(id, [...(this.waiters.get(id) ?? []), resolve]);
      signal?.addEventListener('abort', () => reject(new BerthError('Canceled', 'canceled')), { once: true });
    });
  }
  async stop(id: string, graceMs = 0, signal?: AbortSignal, opts: { stopSignal?: string } = {}): Promise<void> {
    this.stops.push({ containerId: id, graceMs, ...(opts.stopSignal ? { stopSignal: opts.stopSignal } : {}) });
    if (this.states.get(id)?.state !== 'running') return;
    if (!this.ignoresStop.has(this.appOf.get(id) ?? '')) return this.exit(id, 143);
    await this.graceTimer(graceMs, signal);
    this.exit(id, 137);
  }
  async rotateLog(): Promise<boolean> {
    return false;
  }
  async prune(): Promise<void> {
    this.pruned++;
  }
  async runAfterExit(id: string, argv: string[]): Promise<{ exitCode: number; stdout: string; stderr: string; timedOut: boolean }> {
    this.afterExits.push({ containerId: id, argv });
    if (!this.states.has(id)) throw new BerthError('FailedPrecondition', `container ${id}: its root filesystem is gone, post-stop cannot run`);
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false };
  }
  async exec(id: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.execs.push({ containerId: id, argv, opts });
    if (this.states.get(id)?.state !== 'running') throw new BerthError('FailedPrecondition', `container ${id} is not running`);
    return this.execHandler(id, argv, opts);
  }
  async remove(id: string): Promise<void> {
    this.states.delete(id);
  }
  async list(prefix: string): Promise<string[]> {
    return [...this.states.keys()].filter((k) => k.startsWith(prefix));
  }
  /** Make the host show `st` for a container (what a killed agent or a reboot left). */
  setStatus(st: AppStatus) {
    if (st.state === 'unknown') this.states.delete(st.containerId);
    else this.states.set(st.containerId, st);
  }
  running(): string[] {
    return [...this.states.entries()].filter(([, s]) => s.state === 'running').map(([k]) => k);
  }
}

/** Records every event; `reasons()` lists them in order (optionally of one pod). */
export class RecordingEvents implements EventSink {
  events: PodEventInput[] = [];
  emit(ev: PodEventInput): void {
    this.events.push(ev);
  }
  async flush(): Promise<void> {}
  reasons(uid?: string): string[] {
    return this.events.filter((e) => !uid || e.uid === uid).map((e) => e.reason);
  }
}

export function fakeHost(layout: Layout) {
  const images = new FakeImages();
  const netns = new FakeNetns();
  const cni = new FakeCni(netns);
  const runtime = new FakeRuntime();
  const bridges = { removed: [] as string[], async removeIfUnused(name: string) { this.removed.push(name); return true; } };
  const events = new RecordingEvents();
  const host: Host = { layout, images, cni, netns, runtime, bridges, clock: { now: () => Date.now() }, log: silentLogger(), events, limit: createLimiter(4) };
  return { host, images, cni, netns, runtime, bridges, events };
}

/** The one-app pod most reconciler tests run. */
export const WEB_POD = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - {name: a, image: "oci:/img:latest", command: [sleep, "1000"]}
`;

/** A temporary root laid out as berth's directories, its spec dir holding `specs` (file name → text). */
export async function tempLayout(prefix: string, specs: Record<string, string> = {}): Promise<{ root: string; layout: Layout }> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  await mkdir(join(root, 'specs'));
  const layout: Layout = { configDir: join(root, 'config'), stateDir: join(root, 'state'), runDir: join(root, 'run'), logDir: join(root, 'log'), specDirs: [join(root, 'specs')] };
  for (const [name, text] of Object.entries(specs)) await writeFile(join(root, 'specs', name), text);
  return { root, layout };
}
