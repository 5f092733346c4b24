/**
 * appc images in berth's image service: pull (`aci:`, `aci+https:`, `appc:` by discovery),
 * trust, the local index of imported ACIs, dependency resolution and rendering.
 *
 * Host layout:
 *   <state>/blobs/sha512/<hex>              the uncompressed ACI (image ID sha512-<hex>)
 *   <state>/appc/images/<hex>.json          an imported ACI: name, labels, manifest, trust
 *   <state>/appc/tmp/                       downloads in progress (removed on failure)
 *   <state>/rendered/<key>/rootfs           a rendered tree; key = sha512 (128 hex) of the
 *                                           flattened, ordered list of image IDs it was rendered from
 *
 * An ACI reaches the index only after its layout, manifest and trust have been checked, so
 * dependencies found in the index (images pulled earlier, e.g. by `berth image pull aci:…`)
 * are used as they are; the others are found by discovery and go through the same checks.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BerthError, errnoOf, pathExists, readdirIfExists, readJsonIfExists, writeJsonAtomic } from '../../common/index.js';
import type { Logger } from '../../common/index.js';
import type { FsContentStore } from '../content-store.js';
import { findRegistry, loadRegistriesConf } from '../config/registries-conf.js';
import { secureJoin } from '../secure-join.js';
import type { ApplyOptions } from '../layer-apply.js';
import type { AppcImageInfo, AppcReference, ImageRuntimeConfig, PullOptions, PulledImage, RenderedImage } from '../types.js';
import { digestToImageId, imageIdToDigest, ingestAci, validateAci } from './archive.js';
import { discover, httpGet, httpOpen, type HttpGetOptions } from './discovery.js';
import { labelMap, labelsMatch, type App, type Dependency, type ImageManifest } from './manifest.js';
import { renderAciTree } from './render.js';
import { allTrustedKeys, checkAciTrust, pickConfirmedKey, verifyDetached, type TrustVerdict } from './trust.js';
import { renderTree } from '../rendered-tree.js';

export const APPC_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const MAX_DEPENDENCIES = 256;
const MAX_DOWNLOAD = 16 * 1024 ** 3;
const MAX_SIG = 64 * 1024;

export interface AppcRecord {
  imageId: string;
  name: string;
  labels: Record<string, string>;
  manifest: ImageManifest;
  /** bytes of the uncompressed ACI */
  size: number;
  importedAt: string;
  source: string;
  trust: TrustVerdict;
}

export interface AppcServiceOptions {
  stateDir: string;
  configDir: string;
  store: FsContentStore;
  renderedDir: string;
  log: Logger;
  apply?: Omit<ApplyOptions, 'log' | 'signal'>;
  /** test hook (appc's own discovery has one): the port discovery and downloads use for `appc:` names */
  discoveryPort?: number;
}

/** appc's names for the host's os and arch (`types.ToAppcOSArch`). */
export function hostAppcPlatform(): { os: string; arch: string } {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'aarch64', ia32: 'i386', arm: 'armv7l', ppc64: 'ppc64le', s390x: 's390x' };
  return { os: process.platform, arch: arch[process.arch] ?? process.arch };
}

/** The OCI-shaped process config of an ACI app (ACE "Execution Environment"). */
export function appcProcessConfig(app: App | null | undefined): ImageRuntimeConfig {
  if (!app) return { Env: [`PATH=${APPC_PATH}`], appc: {} };
  const env = new Map<string, string>([['PATH', APPC_PATH]]);
  for (const e of app.environment ?? []) env.set(e.name, e.value);
  return {
    ...(app.exec?.length ? { Entrypoint: app.exec } : {}),
    Cmd: null,
    Env: [...env].map(([k, v]) => `${k}=${v}`),
    User: `${app.user}:${app.group}`,
    ...(app.workingDirectory ? { WorkingDir: app.workingDirectory } : {}),
    appc: {
      ...(app.supplementaryGIDs?.length ? { supplementaryGids: app.supplementaryGIDs } : {}),
      ...(app.isolators?.length ? { isolators: app.isolators.map((i) => ({ name: i.name, value: i.value })) } : {}),
    },
  };
}

/** Owner (uid or gid) of a `/path` user or group, resolved inside the rendered tree. */
async function ownerOf(rootfs: string, path: string, which: 'uid' | 'gid', what: string): Promise<number> {
  const host = await secureJoin(rootfs, path);
  try {
    return (await stat(host))[which];
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') throw new BerthError('InvalidArgument', `app ${what} "${path}": no such file in the image`);
    throw err;
  }
}

/** `user`/`group` values that name a file are replaced by that file's owner, as numbers. */
export async function resolveFileOwners(rootfs: string, user: string, group: string): Promise<string> {
  const u = user.startsWith('/') ? String(await ownerOf(rootfs, user, 'uid', 'user')) : user;
  const g = group.startsWith('/') ? String(await ownerOf(rootfs, group, 'gid', 'group')) : group;
  return `${u}:${g}`;
}


/**
 * The flattened dependency list, upper first, as appc's `createDepList` builds it: each
 * image's dependencies are inserted right after it, one by one, so they end up in reverse
 * list order; rendering applies the list from the end.
 */
export async function flattenDependencies<T extends { manifest: ImageManifest; imageId: string }>(
  top: T,
  resolve: (dep: Dependency, parent: T) => Promise<T>,
  max = MAX_DEPENDENCIES,
): Promise<Array<{ image: T; level: number }>> {
  const list: Array<{ image: T; level: number }> = [{ image: top, level: 0 }];
  for (let i = 0; i < list.length; i++) {
    const el = list[i]!;
    for (const d of el.image.manifest.dependencies ?? []) {
      if (list.length >= max) throw new BerthError('InvalidArgument', `${top.manifest.name}: more than ${max} dependencies (or a dependency cycle)`);
      list.splice(i + 1, 0, { image: await resolve(d, el.image), level: el.level + 1 });
    }
  }
  return list;
}

export class AppcImages {
  private readonly indexDir: string;
  private readonly tmpDir: string;
  private readonly log: Logger;
  private readonly renders = new Map<string, Promise<string>>();

  constructor(private readonly opts: AppcServiceOptions) {
    this.indexDir = join(opts.stateDir, 'appc', 'images');
    this.tmpDir = join(opts.stateDir, 'appc', 'tmp');
    this.log = opts.log.child({ component: 'appc' });
  }

  // ---- index ----

  async list(): Promise<AppcRecord[]> {
    const out: AppcRecord[] = [];
    for (const n of (await readdirIfExists(this.indexDir)).filter((x) => /^[a-f0-9]{128}\.json$/.test(x))) {
      const r = await readJsonIfExists<AppcRecord>(join(this.indexDir, n)).catch(() => undefined);
      if (r && (await this.opts.store.has(imageIdToDigest(r.imageId)))) out.push(r);
    }
    return out;
  }

  async byId(imageId: string): Promise<AppcRecord | undefined> {
    const hex = imageId.replace(/^sha512-/, '');
    if (/^[a-f0-9]{128}$/.test(hex)) {
      const r = await readJsonIfExists<AppcRecord>(join(this.indexDir, `${hex}.json`));
      return r && (await this.opts.store.has(imageIdToDigest(r.imageId))) ? r : undefined;
    }
    const matches = (await this.list()).filter((r) => r.imageId.startsWith(`sha512-${hex}`));
    if (matches.length > 1) throw new BerthError('InvalidArgument', `ambiguous image ID ${imageId}`);
    return matches[0];
  }

  /**
   * The newest imported image with this name whose labels match the requested ones; with
   * `platform`, an image's os/arch labels (when it has them) must also be the host's.
   */
  async find(name: string, labels: Record<string, string>, platform?: { os: string; arch: string }): Promise<AppcRecord | undefined> {
    const fits = (r: AppcRecord) =>
      !platform || ((r.labels.os === undefined || r.labels.os === platform.os) && (r.labels.arch === undefined || r.labels.arch === platform.arch));
    const all = (await this.list()).filter((r) => r.name === name && labelsMatch(labels, r.labels) && fits(r));
    return all.sort((a, b) => b.importedAt.localeCompare(a.importedAt))[0];
  }

  async remove(imageId: string): Promise<void> {
    await rm(join(this.indexDir, `${imageId.replace(/^sha512-/, '')}.json`), { force: true });
  }

  /** Remove downloads a crash left in `<state>/appc/tmp` (call when nothing is in flight); returns how many. */
  async pruneTmp(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.tmpDir);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return 0;
      throw err;
    }
    for (const n of names) await rm(join(this.tmpDir, n), { recursive: true, force: true });
    return names.length;
  }

  // ---- fetching ----

  private async httpOptions(signal?: AbortSignal): Promise<HttpGetOptions> {
    const conf = await loadRegistriesConf(this.opts.configDir);
    return {
      isInsecure: (host) => findRegistry(conf, host)?.insecure === true,
      isBlocked: (host) => findRegistry(conf, host)?.blocked === true,
      ...(this.opts.discoveryPort ? { port: this.opts.discoveryPort } : {}),
      ...(signal ? { signal } : {}),
    };
  }

  /** Download a URL into a temp file; undefined on 404 when `optional`. */
  private async download(url: string, http: HttpGetOptions, max: number, optional: boolean): Promise<string | undefined> {
    const res = await httpOpen(new URL(url), http);
    if (res.status === 404 && optional) {
      res.body.resume();
      return undefined;
    }
    if (res.status < 200 || res.status >= 300) {
      res.body.resume();
      const code = res.status === 401 || res.status === 403 ? 'PermissionDenied' : res.status >= 500 ? 'Unavailable' : 'NotFound';
      throw new BerthError(code, `GET ${url}: HTTP ${res.status}`);
    }
    await mkdir(this.tmpDir, { recursive: true });
    const file = join(this.tmpDir, `dl-${randomBytes(8).toString('hex')}`);
    let n = 0;
    try {
      await pipeline(
        res.body,
        async function* (src: AsyncIterable<Buffer>) {
          for await (const c of src) {
            n += c.length;
            if (n > max) throw new BerthError('FailedPrecondition', `GET ${url}: more than ${max} bytes`);
            yield c;
          }
        },
        createWriteStream(file, { flags: 'wx', mode: 0o600 }),
      );
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
    return file;
  }

  private async readSigFile(path: string): Promise<Buffer | undefined> {
    try {
      const st = await stat(path);
      if (st.size > MAX_SIG) throw new BerthError('PermissionDenied', `${path}: signature larger than ${MAX_SIG} bytes`);
      return await readFile(path);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Import one ACI file: store it, check layout and manifest, the expected identity (when
   * found by name) and trust; only then is it indexed. Anything refused leaves no new blob.
   */
  async importFile(
    file: string,
    signature: Buffer | undefined,
    source: string,
    expect: { name?: string; labels?: Record<string, string> } = {},
    signal?: AbortSignal,
  ): Promise<AppcRecord> {
    const trustOf = (name: string) =>
      checkAciTrust({
        configDir: this.opts.configDir,
        name,
        aciPath: file,
        signature,
        source,
        warn: (msg) => this.log.warn({ image: source }, msg),
      });
    // When the name is known (discovery), the signature is checked before anything is unpacked.
    const early = expect.name !== undefined ? await trustOf(expect.name) : undefined;
    let ing;
    try {
      ing = await ingestAci(this.opts.store, file, signal);
    } catch (err) {
      // A file that does not even decompress: if it carries a signature that no longer
      // matches, that is the clearer reason (it was changed after signing).
      if (signature !== undefined && early === undefined && (err as BerthError).code === 'InvalidArgument') {
        const keys = await allTrustedKeys(this.opts.configDir);
        const sigErr = await verifyDetached(file, signature, keys, source).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (sigErr instanceof BerthError && sigErr.details?.reason === 'badSignature') {
          throw new BerthError('PermissionDenied', `${sigErr.message} (the file was changed after it was signed; it does not decompress either: ${(err as Error).message})`, { cause: err });
        }
      }
      throw err;
    }
    const drop = async () => {
      if (!ing.existed) await this.opts.store.delete(ing.digest);
    };
    try {
      const { manifest } = await validateAci(await this.opts.store.reader(ing.digest), source);
      const labels = labelMap(manifest.labels);
      if (expect.name !== undefined && manifest.name !== expect.name) {
        throw new BerthError('FailedPrecondition', `${source}: the image is named ${manifest.name}, not ${expect.name} as discovered`);
      }
      if (expect.labels && !labelsMatch(expect.labels, labels)) {
        throw new BerthError('FailedPrecondition', `${source}: labels ${JSON.stringify(labels)} do not match the requested ${JSON.stringify(expect.labels)}`);
      }
      const trust = early ?? (await trustOf(manifest.name));
      if (trust.mode === 'insecure') this.log.warn({ image: source, reason: trust.reason }, 'appc image accepted without a valid signature');
      const rec: AppcRecord = {
        imageId: ing.imageId,
        name: manifest.name,
        labels,
        manifest,
        size: ing.size,
        importedAt: new Date().toISOString(),
        source,
        trust,
      };
      await writeJsonAtomic(join(this.indexDir, `${ing.imageId.slice('sha512-'.length)}.json`), rec);
      this.log.info({ image: source, digest: ing.digest, name: manifest.name, compression: ing.compression, trust: trust.mode, signer: trust.fingerprint }, 'appc image imported');
      return rec;
    } catch (err) {
      await drop();
      throw err;
    }
  }

  /** Find `name` + labels by meta discovery, download, verify and import it. */
  async discoverAndImport(name: string, labels: Record<string, string>, signal?: AbortSignal, size?: number): Promise<AppcRecord> {
    const platform = hostAppcPlatform();
    const req = { os: platform.os, arch: platform.arch, ...labels };
    const http = await this.httpOptions(signal);
    const found = await discover(name, req, http);
    const errors: string[] = [];
    for (const ep of found.endpoints) {
      let aci: string | undefined;
      let asc: string | undefined;
      try {
        try {
          aci = await this.download(ep.aci, http, size ?? MAX_DOWNLOAD, false);
          asc = await this.download(ep.asc, http, MAX_SIG, true);
        } catch (err) {
          // an endpoint that cannot be fetched (scheme, HTTP error, network): try the next one
          if ((err as BerthError).code === 'Canceled') throw err;
          errors.push(`${ep.aci}: ${(err as Error).message}`);
          continue;
        }
        const sig = asc ? await readFile(asc) : undefined;
        return await this.importFile(aci!, sig, ep.aci, { name, labels }, signal);
      } finally {
        if (aci) await rm(aci, { force: true });
        if (asc) await rm(asc, { force: true });
      }
    }
    throw new BerthError('Unavailable', `appc ${name}: no discovered endpoint could be fetched (${errors.join('; ')})`);
  }

  /**
   * A public key offered at the `ac-discovery-pubkeys` URL for `name`, only when it has the
   * fingerprint the operator confirmed (PermissionDenied otherwise): the caller (`berth trust
   * add`) stores it under `prefix`.
   */
  async fetchDiscoveredKey(name: string, expectedFingerprint: string | undefined, signal?: AbortSignal): Promise<{ prefix: string; fingerprint: string; armored: string; url: string }> {
    if (!expectedFingerprint) throw new BerthError('PermissionDenied', `keys discovered for ${name} are trusted only with the fingerprint confirmed by the operator`);
    const http = await this.httpOptions(signal);
    const found = await discover(name, {}, http, 'pubkeys');
    const errors: string[] = [];
    for (const url of found.pubkeys) {
      try {
        const r = await httpGet(new URL(url), http, 1024 * 1024);
        if (r.status !== 200) throw new BerthError('NotFound', `HTTP ${r.status}`);
        return { prefix: found.prefix, url, ...(await pickConfirmedKey(r.body, expectedFingerprint, url)) };
      } catch (err) {
        errors.push(`${url}: ${(err as Error).message}`);
      }
    }
    throw new BerthError('PermissionDenied', `no key with fingerprint ${expectedFingerprint} found for ${name} (${errors.join('; ')})`);
  }

  /** The record of a reference: imported from a file or URL, or found (store, then discovery). */
  async fetch(ref: AppcReference, opts: PullOptions = {}): Promise<AppcRecord> {
    if (ref.transport !== 'appc' && (opts.pullPolicy === 'IfNotPresent' || opts.pullPolicy === 'Never')) {
      // a file or URL imported before is used as it was imported (its trust was checked then)
      const src = ref.transport === 'aci' ? ref.path : ref.url;
      const have = (await this.list()).filter((r) => r.source === src).sort((a, b) => b.importedAt.localeCompare(a.importedAt))[0];
      if (have) return have;
      if (opts.pullPolicy === 'Never') throw new BerthError('FailedPrecondition', `ErrImageNeverPull: image ${ref.raw} is not in the store and imagePullPolicy is Never`);
    }
    switch (ref.transport) {
      case 'aci': {
        if (!(await pathExists(ref.path))) throw new BerthError('NotFound', `${ref.raw}: no such file`);
        // Verify and unpack a private copy: the file cannot change between the signature check and the import.
        const sig = await this.readSigFile(`${ref.path}.asc`);
        await mkdir(this.tmpDir, { recursive: true });
        const copy = join(this.tmpDir, `local-${randomBytes(8).toString('hex')}`);
        try {
          await copyFile(ref.path, copy);
          return await this.importFile(copy, sig, ref.path, {}, opts.signal);
        } finally {
          await rm(copy, { force: true });
        }
      }
      case 'aci-url': {
        const http = await this.httpOptions(opts.signal);
        const aci = await this.download(ref.url, http, MAX_DOWNLOAD, false);
        let asc: string | undefined;
        try {
          asc = await this.download(`${ref.url}.asc`, http, MAX_SIG, true);
          return await this.importFile(aci!, asc ? await readFile(asc) : undefined, ref.url, {}, opts.signal);
        } finally {
          await rm(aci!, { force: true });
          if (asc) await rm(asc, { force: true });
        }
      }
      case 'appc': {
        if (opts.pullPolicy !== 'Always') {
          const have = await this.find(ref.name, ref.labels, hostAppcPlatform());
          if (have) return have;
          if (opts.pullPolicy === 'Never') throw new BerthError('FailedPrecondition', `ErrImageNeverPull: image ${ref.raw} is not in the store and imagePullPolicy is Never`);
        }
        return this.discoverAndImport(ref.name, ref.labels, opts.signal);
      }
    }
  }

  /** A dependency: by image ID, or by name + labels in the store, then by discovery; `size` enforced. */
  private async resolveDependency(d: Dependency, parent: AppcRecord, signal?: AbortSignal): Promise<AppcRecord> {
    const labels = labelMap(d.labels);
    const what = `dependency ${d.imageName}${d.imageID ? ` (${d.imageID})` : ''} of ${parent.name}`;
    let rec = d.imageID ? await this.byId(d.imageID) : await this.find(d.imageName, labels, hostAppcPlatform());
    if (!rec) {
      rec = await this.discoverAndImport(d.imageName, labels, signal, d.size).catch((err: unknown) => {
        throw new BerthError((err as BerthError).code ?? 'NotFound', `${what}: not in the store, and discovery failed: ${(err as Error).message}`, { cause: err });
      });
    }
    if (rec.name !== d.imageName) throw new BerthError('FailedPrecondition', `${what}: image ${rec.imageId} is named ${rec.name}`);
    if (!labelsMatch(labels, rec.labels)) throw new BerthError('FailedPrecondition', `${what}: labels ${JSON.stringify(rec.labels)} do not match ${JSON.stringify(labels)}`);
    if (d.imageID && !rec.imageId.startsWith(d.imageID)) throw new BerthError('FailedPrecondition', `${what}: found ${rec.imageId}`);
    if (d.size !== undefined && rec.size !== d.size) throw new BerthError('FailedPrecondition', `${what}: size ${rec.size} bytes, the manifest says ${d.size}`);
    return rec;
  }

  /** Pull: the image, then its dependencies (store first, then discovery). */
  async pull(ref: AppcReference, opts: PullOptions = {}): Promise<PulledImage> {
    const top = await this.fetch(ref, opts);
    const platform = hostAppcPlatform();
    const os = top.labels.os;
    const arch = top.labels.arch;
    if ((os !== undefined && os !== platform.os) || (os !== undefined && arch !== undefined && arch !== platform.arch)) {
      throw new BerthError('FailedPrecondition', `${ref.raw}: image is for ${os}/${arch ?? '*'}, this host is ${platform.os}/${platform.arch}`);
    }
    const flat = await flattenDependencies(top, (d, parent) => this.resolveDependency(d, parent, opts.signal));
    return this.toPulled(ref.raw, top, flat);
  }

  toPulled(reference: string, top: AppcRecord, flat: Array<{ image: AppcRecord; level: number }>): PulledImage {
    const digest = imageIdToDigest(top.imageId);
    const appc: AppcImageInfo = {
      imageId: top.imageId,
      name: top.name,
      labels: top.labels,
      images: flat.map(({ image, level }) => ({
        imageId: image.imageId,
        name: image.name,
        level,
        ...(image.manifest.pathWhitelist?.length ? { pathWhitelist: image.manifest.pathWhitelist } : {}),
      })),
      ...(top.manifest.app ? { app: top.manifest.app } : {}),
    };
    return {
      reference,
      manifestDigest: digest,
      configDigest: digest,
      config: { os: top.labels.os ?? 'linux', architecture: top.labels.arch ?? hostAppcPlatform().arch, config: appcProcessConfig(top.manifest.app) },
      layers: [],
      appc,
    };
  }

  /**
   * The render cache key: sha512 of the flattened, ordered image IDs and their levels (the
   * levels decide the whitelists). 128 hex digits, like appc's image IDs, so rendered trees of
   * appc images are told apart from OCI ones (keyed by a sha256 manifest digest) by `image gc`.
   */
  static renderKey(info: AppcImageInfo): string {
    const text = info.images.map((i) => `${i.imageId} ${i.level}`).join('\n');
    return createHash('sha512').update(`appc-render-v1\n${text}`).digest('hex');
  }

  /** Render (or reuse) the tree; `/path` users and groups are resolved against it. */
  async render(image: PulledImage, opts: PullOptions = {}): Promise<RenderedImage> {
    const info = image.appc;
    if (!info) throw new BerthError('Internal', `${image.reference} is not an appc image`);
    const key = AppcImages.renderKey(info);
    let running = this.renders.get(key);
    if (!running) {
      running = this.doRender(key, image, opts).finally(() => this.renders.delete(key));
      this.renders.set(key, running);
    }
    const rootfs = await running;
    const cfg = { ...(image.config.config ?? {}) };
    const app = info.app;
    if (app && (app.user.startsWith('/') || app.group.startsWith('/'))) cfg.User = await resolveFileOwners(rootfs, app.user, app.group);
    return { ...image, config: { ...image.config, config: cfg }, rootfs };
  }

  private async doRender(key: string, image: PulledImage, opts: PullOptions): Promise<string> {
    const info = image.appc!;
    const log = this.log.child({ image: image.reference, digest: image.manifestDigest });
    return renderTree(this.opts.renderedDir, key, image, async (tmpRoot) => {
      for (const i of info.images) {
        if (!(await this.opts.store.has(imageIdToDigest(i.imageId)))) {
          throw new BerthError('NotFound', `${image.reference}: ACI ${i.imageId} (${i.name}) is not in the content store; pull first`);
        }
      }
      const t0 = Date.now();
      const r = await renderAciTree(tmpRoot, info.images, (id) => this.opts.store.blobPath(imageIdToDigest(id)), {
        ...this.opts.apply,
        log,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      log.info({ images: info.images.length, entries: r.selected.reduce((n, s) => n + s.length, 0), ms: Date.now() - t0 }, 'appc image rendered');
    });
  }

  /** Rebuild a PulledImage of an appc reference from the index (no network). */
  async get(reference: string, ref: AppcReference): Promise<PulledImage | undefined> {
    let top: AppcRecord | undefined;
    if (ref.transport === 'appc') {
      top = await this.find(ref.name, ref.labels, hostAppcPlatform());
    } else {
      const src = ref.transport === 'aci' ? ref.path : ref.url;
      top = (await this.list()).filter((r) => r.source === src).sort((a, b) => b.importedAt.localeCompare(a.importedAt))[0];
    }
    if (!top) return undefined;
    try {
      const flat = await flattenDependencies(top, async (d, parent) => {
        const labels = labelMap(d.labels);
        const rec = d.imageID ? await this.byId(d.imageID) : await this.find(d.imageName, labels);
        if (!rec) throw new BerthError('NotFound', `dependency ${d.imageName} of ${parent.name} is not in the store`);
        return rec;
      });
      return this.toPulled(reference, top, flat);
    } catch (err) {
      if ((err as BerthError).code === 'NotFound') return undefined;
      throw err;
    }
  }
}

export { digestToImageId };
