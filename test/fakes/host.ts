/**
 * Hand-written fakes behind berth's host interfaces (STYLE.md: record calls, canned
 * returns, no module mocking), for reconciler tests without root.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { CniCode, CniError } from '../../src/cni/errors.js';
import { validateNetnsName } from '../../src/cni/host/netns.js';
import { validateContainerId, validateIfName, validateNetworkName } from '../../src/cni/validate.js';
import { versionAtLeast } from '../../src/cni/version.js';
import type { CachedAttachment, Cni, CniResult, GcArgs, NetnsManager, NetworkConfigList, RuntimeConf } from '../../src/cni/types.js';
import type { ImageService, PulledImage, RenderedImage, VerifiedImage } from '../../src/image/types.js';
import {
  createLimiter,
  ignorePullProgress,
  type EventSink,
  type Host,
  type Layout,
  type PodEventInput,
} from '../../src/reconciler/index.js';
import { FakeRuntime } from './app-runtime.js';
import { DisabledAppcMetadataService } from '../../src/appc-metadata/disabled.js';
import { SimulatedClock } from './clock.js';

export { FakeRuntime } from './app-runtime.js';

export class FakeImages implements ImageService {
  pulls: string[] = [];
  failing = new Map<string, BerthError>();
  async pull(reference: string): Promise<PulledImage> {
    this.pulls.push(reference);
    const err = this.failing.get(reference);
    if (err) throw err;
    return {
      reference,
      manifestDigest: `sha256:${'a'.repeat(64)}`,
      configDigest: `sha256:${'b'.repeat(64)}`,
      config: { config: { Cmd: ['/bin/sh'] } },
      layers: [],
    };
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

/**
 * Network namespace handles in memory. Names are checked as IpNetnsManager checks them; a new
 * namespace has a loopback interface without addresses, as the kernel makes it.
 */
export class FakeNetns implements NetnsManager {
  live = new Set<string>();
  /** `attach` calls: the handle made for the namespace of `pid` */
  attached: Array<{ name: string; pid: number }> = [];
  /** interfaces and addresses per namespace for `addresses` (a new namespace: `{ lo: [] }`) */
  addrs = new Map<string, Record<string, string[]>>();
  async attach(name: string, pid: number) {
    const p = this.path(name);
    if (this.live.has(name)) return p;
    this.attached.push({ name, pid });
    this.live.add(name);
    if (!this.addrs.has(name)) this.addrs.set(name, { lo: [] });
    return p;
  }
  async addresses(name: string) {
    validateNetnsName(name);
    if (!this.live.has(name)) return undefined;
    return structuredClone(this.addrs.get(name) ?? {});
  }
  async ensure(name: string) {
    const p = this.path(name);
    if (!this.live.has(name)) {
      this.live.add(name);
      if (!this.addrs.has(name)) this.addrs.set(name, { lo: [] });
    }
    return p;
  }
  async remove(name: string) {
    validateNetnsName(name);
    this.live.delete(name);
    this.addrs.delete(name);
  }
  async exists(name: string) {
    validateNetnsName(name);
    return this.live.has(name);
  }
  async list(prefix: string) {
    return [...this.live].filter((n) => n.startsWith(prefix));
  }
  path(name: string) {
    validateNetnsName(name);
    return `/run/netns/${name}`;
  }
}

/**
 * libcni's verbs over a cache in memory, with CniRuntime's checks (test/contract/cni.ts): names
 * are validated; a second ADD of an attachment is AlreadyExists; CHECK is refused below 0.4.0,
 * skipped with disableCheck, and fails for an attachment it has no cache entry of; GC DELs the
 * network's cached attachments missing from the valid list (not with disableGC); STATUS of a
 * list ≥1.1.0 fails with `statusError` when set; VERSION answers `supportedVersions`;
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
  private validate(list: NetworkConfigList, rt: RuntimeConf) {
    validateContainerId(rt.containerId);
    validateNetworkName(list.name);
    validateIfName(rt.ifName);
  }
  async addNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<CniResult> {
    this.validate(list, rt);
    this.calls.push({ verb: 'ADD', network: list.name, containerId: rt.containerId, ifName: rt.ifName });
    if (this.cache.has(this.key(list.name, rt.containerId, rt.ifName))) {
      throw new BerthError('AlreadyExists', `network ${list.name} is already added to ${rt.containerId}/${rt.ifName}; DEL it first`);
    }
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
    this.iface(
      rt,
      (result.ips ?? []).map((ip) => ip.address),
    );
    return result;
  }
  async checkNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    this.validate(list, rt);
    this.probes.push({ verb: 'CHECK', network: list.name, containerId: rt.containerId, ifName: rt.ifName });
    if (!versionAtLeast(list.cniVersion, '0.4.0')) {
      throw new CniError({
        cniCode: CniCode.IncompatibleCniVersion,
        msg: `configuration version ${JSON.stringify(list.cniVersion)} does not support the CHECK command`,
      });
    }
    if (list.disableCheck) return;
    if (!this.cache.has(this.key(list.name, rt.containerId, rt.ifName))) {
      throw new BerthError('NotFound', `network ${list.name}: no cached result for ${rt.containerId}/${rt.ifName} to CHECK`);
    }
  }
  async gcNetworkList(list: NetworkConfigList, args: GcArgs = { validAttachments: [] }): Promise<void> {
    validateNetworkName(list.name);
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
    validateNetworkName(list.name);
    if (!versionAtLeast(list.cniVersion, '1.1.0')) return; // no STATUS before 1.1.0
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
      else if (!this.supportedVersions.includes(list.cniVersion))
        out.push({ index, field: 'type', message: `plugin "${p.type}" does not support cniVersion "${list.cniVersion}"` });
    }
    return out;
  }
  async removeStaleCacheFiles(): Promise<string[]> {
    const files = this.staleCacheFiles;
    this.staleCacheFiles = [];
    return files;
  }
  async delNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    this.validate(list, rt);
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

/** A host of fakes on one simulated clock: time (back-off, grace periods, probe periods) moves when the test calls `clock.advance`. */
export function fakeHost(layout: Layout, clock = new SimulatedClock()) {
  const images = new FakeImages();
  const netns = new FakeNetns();
  const cni = new FakeCni(netns);
  const runtime = new FakeRuntime(clock);
  const bridges = {
    removed: [] as string[],
    async removeIfUnused(name: string) {
      this.removed.push(name);
      return true;
    },
  };
  const events = new RecordingEvents();
  const host: Host = {
    layout,
    images,
    cni,
    netns,
    runtime,
    bridges,
    clock,
    log: silentLogger(),
    events,
    limit: createLimiter(4),
    pullProgress: ignorePullProgress,
    appcMetadata: new DisabledAppcMetadataService('a fake host serves no appc metadata'),
  };
  return { host, images, cni, netns, runtime, bridges, events, clock };
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
  const layout: Layout = {
    configDir: join(root, 'config'),
    stateDir: join(root, 'state'),
    runDir: join(root, 'run'),
    logDir: join(root, 'log'),
    specDirs: [join(root, 'specs')],
  };
  for (const [name, text] of Object.entries(specs)) await writeFile(join(root, 'specs', name), text);
  return { root, layout };
}
