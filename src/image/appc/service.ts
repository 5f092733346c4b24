/**
 * appc images in berth's image service, put together from their parts: the index of imported
 * ACIs (index-store.ts), getting ACI bytes from a file, a URL or discovery (fetch.ts), the
 * checked import (import.ts), dependencies (dependencies.ts) and the render (render.ts); here:
 * the ACE executor's view of an app, and the rendered tree's cache.
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
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { BerthError, codeOf, errnoOf } from '../../common/index.js';
import type { Logger } from '../../common/index.js';
import type { FsContentStore } from '../content-store.js';
import { secureJoin } from '../secure-join.js';
import type { ApplyOptions } from '../layer-apply.js';
import type { AppcImageInfo, AppcReference, ImageRuntimeConfig, PullOptions, PulledImage, RenderedImage, Verification } from '../types.js';
import { imageIdToDigest } from './archive.js';
import { flattenDependencies, resolveDependency, type Discover } from './dependencies.js';
import { AppcFetcher, type FetchedAci } from './fetch.js';
import { importAci, type Expected } from './import.js';
import { AppcIndex, type AppcRecord } from './index-store.js';
import type { App } from './manifest.js';
import { renderAciTree } from './render.js';
import { appcPolicyFor } from './trust.js';
import { renderTree } from '../rendered-tree.js';

export const APPC_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

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
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR')
      throw new BerthError('InvalidArgument', `app ${what} "${path}": no such file in the image`);
    throw err;
  }
}

/** `user`/`group` values that name a file are replaced by that file's owner, as numbers. */
export async function resolveFileOwners(rootfs: string, user: string, group: string): Promise<string> {
  const u = user.startsWith('/') ? String(await ownerOf(rootfs, user, 'uid', 'user')) : user;
  const g = group.startsWith('/') ? String(await ownerOf(rootfs, group, 'gid', 'group')) : group;
  return `${u}:${g}`;
}

export class AppcImages {
  private readonly index: AppcIndex;
  private readonly fetcher: AppcFetcher;
  private readonly log: Logger;
  private readonly renders = new Map<string, Promise<string>>();

  constructor(private readonly opts: AppcServiceOptions) {
    this.index = new AppcIndex(opts.stateDir, opts.store);
    this.fetcher = new AppcFetcher(opts);
    this.log = opts.log.child({ component: 'appc' });
  }

  private async importFetched(aci: FetchedAci, expect: Expected, signal?: AbortSignal): Promise<AppcRecord> {
    try {
      return await importAci(
        aci,
        { configDir: this.opts.configDir, store: this.opts.store, index: this.index, log: this.log, ...(signal ? { signal } : {}) },
        expect,
      );
    } finally {
      await this.fetcher.release(aci);
    }
  }

  /** Find `name` + labels (for this host's os and arch) by meta discovery, download, verify and import it. */
  private discoverAndImport(signal?: AbortSignal): Discover {
    return (name, labels, size) => {
      const { os, arch } = hostAppcPlatform();
      return this.fetcher.discovered(
        name,
        { os, arch, ...labels },
        (aci) => this.importFetched(aci, { name, labels }, signal),
        signal,
        size,
      );
    };
  }

  /** The top image of a reference as imported before (no network); undefined when there is none. */
  private async recorded(ref: AppcReference): Promise<AppcRecord | undefined> {
    if (ref.transport === 'appc') return this.index.find(ref.name, ref.labels, hostAppcPlatform());
    return this.index.bySource(ref.transport === 'aci' ? ref.path : ref.url);
  }

  /** The image of a reference from the index alone (no network): undefined when it or a dependency is missing. */
  async local(ref: AppcReference): Promise<PulledImage | undefined> {
    const top = await this.recorded(ref);
    if (!top) return undefined;
    try {
      return await this.withDependencies(ref.raw, top);
    } catch (err) {
      if (codeOf(err) === 'NotFound') return undefined;
      throw err;
    }
  }

  /** Import the image from its source (file, URL, discovery), then its dependencies (index first, then discovery). */
  async fetch(ref: AppcReference, opts: PullOptions = {}): Promise<PulledImage> {
    const { signal } = opts;
    let top: AppcRecord;
    switch (ref.transport) {
      case 'aci':
        top = await this.importFetched(await this.fetcher.file(ref.path, ref.raw), {}, signal);
        break;
      case 'aci-url':
        top = await this.importFetched(await this.fetcher.url(ref.url, signal), {}, signal);
        break;
      case 'appc':
        top = await this.discoverAndImport(signal)(ref.name, ref.labels, undefined);
        break;
    }
    const platform = hostAppcPlatform();
    const { os, arch } = top.labels;
    if ((os !== undefined && os !== platform.os) || (os !== undefined && arch !== undefined && arch !== platform.arch)) {
      throw new BerthError(
        'FailedPrecondition',
        `${ref.raw}: image is for ${os}/${arch ?? '*'}, this host is ${platform.os}/${platform.arch}`,
      );
    }
    return this.withDependencies(ref.raw, top, this.discoverAndImport(signal));
  }

  private async withDependencies(reference: string, top: AppcRecord, discover?: Discover): Promise<PulledImage> {
    const platform = hostAppcPlatform();
    const flat = await flattenDependencies(top, (d, parent) => resolveDependency(this.index, d, parent, platform, discover));
    return toPulled(reference, top, flat);
  }

  /**
   * The verify step's appc part: every image of the list is in the store and indexed, and the
   * trust it was imported under still holds under policy.json now (a `reject`, or a signature
   * now required of an image accepted unsigned, refuses it). PermissionDenied or NotFound.
   */
  async checkTrust(info: AppcImageInfo): Promise<NonNullable<Verification['appc']>> {
    const out: NonNullable<Verification['appc']> = [];
    for (const i of info.images) {
      const rec = await this.index.byId(i.imageId);
      if (!rec) throw new BerthError('NotFound', `ACI ${i.imageId} (${i.name}) is not in the store; pull again`);
      const policy = await appcPolicyFor(this.opts.configDir, rec.name);
      if (policy.action === 'reject') throw new BerthError('PermissionDenied', `image ${rec.name}: policy.json ${policy.scope} rejects it`);
      if (policy.action === 'requireSignature' && rec.trust.mode !== 'signed') {
        throw new BerthError(
          'PermissionDenied',
          `image ${rec.name} was accepted unsigned, and policy.json ${policy.scope} now requires a signature`,
        );
      }
      out.push({ imageId: rec.imageId, ...rec.trust });
    }
    return out;
  }

  /** A discovered public key with the fingerprint the operator confirmed (`berth trust add --discover`). */
  discoveredKey(name: string, expectedFingerprint: string | undefined, signal?: AbortSignal): ReturnType<AppcFetcher['discoveredKey']> {
    return this.fetcher.discoveredKey(name, expectedFingerprint, signal);
  }

  /** Remove downloads a crash left (call when nothing is in flight); returns how many. */
  pruneTmp(): Promise<number> {
    return this.fetcher.pruneTmp();
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
      log.info(
        { images: info.images.length, entries: r.selected.reduce((n, s) => n + s.length, 0), ms: Date.now() - t0 },
        'appc image rendered',
      );
    });
  }
}

/** The image of a top record and its flattened dependencies. */
export function toPulled(reference: string, top: AppcRecord, flat: Array<{ image: AppcRecord; level: number }>): PulledImage {
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
    config: {
      os: top.labels.os ?? 'linux',
      architecture: top.labels.arch ?? hostAppcPlatform().arch,
      config: appcProcessConfig(top.manifest.app),
    },
    layers: [],
    appc,
  };
}
