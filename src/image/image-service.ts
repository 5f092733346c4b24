/**
 * The image service: pull (a transport per reference kind copies verified blobs into the
 * store, under one pull policy), verify (digests and the signature policy, before any layer is
 * read), render (apply the layers into a cached tree), and the small reference index under
 * `<state>/images/`.
 *
 * Host layout (DESIGN.md §3):
 *   <state>/blobs/<alg>/<hex>                 content store (FsContentStore)
 *   <state>/rendered/<manifestHex>/rootfs     rendered tree, written once, then a read-only lower
 *   <state>/rendered/<manifestHex>/image.json the PulledImage the tree was rendered from
 *   <state>/rendered/.tmp-<hex>-<rand>/       a render in progress (never looks complete)
 *   <state>/images/refs.json                  reference → manifest digest (transport/ref-index.ts)
 *
 * A rendered tree is built in a temp directory beside its final place and renamed into place
 * when complete, so a crash leaves only a `.tmp-*` directory (`pruneIncomplete` removes them).
 */
import { randomBytes } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, errnoOf, readdirIfExists, silentLogger } from '../common/index.js';
import type { Logger } from '../common/index.js';
import { FsContentStore } from './content-store.js';
import { parseDigest } from './digest.js';
import { applyLayerBlob } from './layer-apply.js';
import type { ApplyOptions } from './layer-apply.js';
import { hostPlatform } from './platform.js';
import type { Platform } from './platform.js';
import { parseImageReference } from './reference.js';
import { AppcImages } from './appc/service.js';
import type { ContentStore, ImageService, PullOptions, PulledImage, RenderedImage, VerifiedImage } from './types.js';
import { RegistrySource } from './registry/source.js';
import { renderTree } from './rendered-tree.js';
import { AppcTransport } from './transport/appc.js';
import { DockerArchiveTransport } from './transport/docker-archive.js';
import { OciLayoutTransport } from './transport/oci-layout.js';
import { withPullPolicy } from './transport/pull-policy.js';
import { RefIndex, type ImageRecord } from './transport/ref-index.js';
import { RegistryTransport } from './transport/registry.js';
import { transportFor, type Transports } from './transport/select.js';
import { checkSignaturePolicy, verifyImage, type VerifyDeps } from './transport/verify.js';

export type { ImageRecord } from './transport/ref-index.js';

export interface ImageServiceOptions {
  stateDir: string;
  log?: Logger;
  /** platform to select from indexes; default: the host's (IMG-04/05) */
  platform?: Platform;
  /** limits and privilege of layer application (SEC-06, IMG-15/16) */
  apply?: Omit<ApplyOptions, 'log' | 'signal'>;
  /**
   * berth's configuration directory: registries.conf, auth.json, policy.json,
   * registries.d/ (DESIGN.md §1); without it: no mirrors, anonymous pulls, accept anything
   */
  configDir?: string;
  /** environment for credential lookup (REGISTRY_AUTH_FILE, DOCKER_CONFIG, HOME) */
  env?: NodeJS.ProcessEnv;
  /** transports to use instead of the real ones, by kind, over the service's store (tests) */
  transports?: (store: ContentStore) => Partial<Transports>;
  /** test hook (appc's own discovery has one): the port appc discovery and downloads use */
  appcDiscoveryPort?: number;
}

/** The ImageService port plus what the CLI and garbage collection need. */
export interface BerthImageService extends ImageService {
  /** the content store, through its port (gc walks and deletes; `image verify` re-hashes) */
  readonly content: ContentStore;
  /** The image last pulled for `reference`, from the store alone; undefined if never pulled or its blobs are gone. */
  get(reference: string): Promise<PulledImage | undefined>;
  /** References recorded in `<state>/images/refs.json`. */
  listImages(): Promise<ImageRecord[]>;
  /** Forget a reference (its blobs stay until gc). */
  removeImage(reference: string): Promise<void>;
  /** `<state>/rendered/<key>/rootfs` of a key returned by listRendered/render. */
  renderedPath(key: string): string;
  /** Delete one rendered tree; "already gone" is success. */
  removeRendered(key: string): Promise<void>;
  /** Remove `.tmp-*` renders and partial blob ingests left by a crash; call only when nothing is in flight. Returns how many. */
  pruneIncomplete(): Promise<number>;
  /** A public key discovered for an appc name, only with the fingerprint the operator confirmed (`berth trust add --discover`). */
  discoverAppcKey(
    name: string,
    fingerprint: string | undefined,
    signal?: AbortSignal,
  ): Promise<{ prefix: string; fingerprint: string; armored: string; url: string }>;
}

const KEY = /^(?:[a-f0-9]{64}|[a-f0-9]{128})$/;

function checkKey(key: string): string {
  if (!KEY.test(key)) throw new BerthError('InvalidArgument', `invalid rendered key "${key}"`);
  return key;
}

class LocalImageService implements BerthImageService {
  readonly content: ContentStore;
  private readonly store: FsContentStore;
  private readonly log: Logger;
  private readonly renderedDir: string;
  private readonly refs: RefIndex;
  private readonly appc: AppcImages;
  private readonly transports: Transports;
  private readonly verifyDeps: VerifyDeps;
  private readonly pulls = new Map<string, Promise<PulledImage>>();
  private readonly renders = new Map<string, Promise<RenderedImage>>();

  constructor(private readonly opts: ImageServiceOptions) {
    this.store = new FsContentStore(opts.stateDir);
    this.content = this.store;
    this.log = (opts.log ?? silentLogger()).child({ component: 'image' });
    this.renderedDir = join(opts.stateDir, 'rendered');
    this.refs = new RefIndex(opts.stateDir, this.store);
    this.appc = new AppcImages({
      stateDir: opts.stateDir,
      configDir: opts.configDir ?? '/etc/berth',
      store: this.store,
      renderedDir: this.renderedDir,
      log: opts.log ?? silentLogger(),
      ...(opts.apply ? { apply: opts.apply } : {}),
      ...(opts.appcDiscoveryPort ? { discoveryPort: opts.appcDiscoveryPort } : {}),
    });
    const platform = opts.platform ?? hostPlatform();
    const registry = new RegistrySource({ configDir: opts.configDir, store: this.store, platform, log: opts.log, env: opts.env });
    this.transports = {
      docker: new RegistryTransport(registry, this.refs),
      oci: new OciLayoutTransport('oci', this.store, platform, this.refs),
      'oci-archive': new OciLayoutTransport('oci-archive', this.store, platform, this.refs),
      'docker-archive': new DockerArchiveTransport(this.store, this.refs),
      aci: new AppcTransport('aci', this.appc, this.refs),
      'aci-url': new AppcTransport('aci-url', this.appc, this.refs),
      appc: new AppcTransport('appc', this.appc, this.refs),
      ...opts.transports?.(this.store),
    };
    this.verifyDeps = { store: this.store, configDir: opts.configDir, appcTrust: (info) => this.appc.checkTrust(info) };
  }

  pull(reference: string, opts: PullOptions = {}): Promise<PulledImage> {
    // Concurrent pulls of the same reference share one operation.
    const running = this.pulls.get(reference);
    if (running) return running;
    const p = this.doPull(reference, opts).finally(() => this.pulls.delete(reference));
    this.pulls.set(reference, p);
    return p;
  }

  private async doPull(reference: string, opts: PullOptions): Promise<PulledImage> {
    const ref = parseImageReference(reference);
    const transport = transportFor(ref, this.transports);
    const log = this.log.child({ image: reference });
    const { image, fetched } = await withPullPolicy(
      ref,
      opts.pullPolicy,
      () => transport.local(ref),
      async () => {
        const got = await transport.fetch(ref, {
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
          checkSource: async (resolved, digest) => void (await checkSignaturePolicy(this.verifyDeps, resolved, digest, opts.signal)),
        });
        return got.image;
      },
    );
    log.info({ digest: image.manifestDigest, transport: ref.transport, fetched }, fetched ? 'image pulled' : 'image found in the store');
    return image;
  }

  async verify(image: PulledImage, opts: PullOptions = {}): Promise<VerifiedImage> {
    const found = image.appc ? undefined : await this.refs.find(image.reference);
    const rec = found?.manifestDigest === image.manifestDigest ? found : undefined;
    // a short name is judged as what it was found under, as at pull time
    const ref = parseImageReference(rec?.resolved ?? image.reference);
    const verified = await verifyImage(this.verifyDeps, ref, image, rec?.sourceDigest, opts.signal);
    this.log.debug({ image: image.reference, digest: image.manifestDigest, policy: verified.verified.policy?.scope }, 'image verified');
    return verified;
  }

  listImages(): Promise<ImageRecord[]> {
    return this.refs.list();
  }

  removeImage(reference: string): Promise<void> {
    return this.refs.remove(reference);
  }

  get(reference: string): Promise<PulledImage | undefined> {
    const ref = parseImageReference(reference);
    return transportFor(ref, this.transports).local(ref);
  }

  discoverAppcKey(name: string, fingerprint: string | undefined, signal?: AbortSignal) {
    return this.appc.discoveredKey(name, fingerprint, signal);
  }

  renderedPath(key: string): string {
    return join(this.renderedDir, checkKey(key), 'rootfs');
  }

  /** Verified first, unless `image` comes from `verify`: no layer is read before the verify step passed. */
  async render(image: PulledImage, opts: PullOptions = {}): Promise<RenderedImage> {
    const verified = 'verified' in image ? (image as VerifiedImage) : await this.verify(image, opts);
    if (verified.appc) return this.appc.render(verified, opts);
    return this.renderLayers(verified, opts);
  }

  private renderLayers(image: VerifiedImage, opts: PullOptions): Promise<RenderedImage> {
    const key = parseDigest(image.manifestDigest).hex;
    const running = this.renders.get(key);
    if (running) return running.then((r) => ({ ...image, rootfs: r.rootfs }));
    const p = this.doRender(key, image, opts).finally(() => this.renders.delete(key));
    this.renders.set(key, p);
    return p;
  }

  private async doRender(key: string, image: VerifiedImage, opts: PullOptions): Promise<RenderedImage> {
    const log = this.log.child({ image: image.reference, digest: image.manifestDigest });
    let rendered = false;
    const rootfs = await renderTree(this.renderedDir, key, image, async (tmpRoot) => {
      const diffIds = image.config.rootfs?.diff_ids ?? [];
      if (image.config.rootfs?.type !== 'layers' || diffIds.length !== image.layers.length) {
        throw new BerthError('InvalidArgument', `${image.reference}: config.rootfs does not describe the ${image.layers.length} layers`);
      }
      for (const [i, layer] of image.layers.entries()) {
        if ((await this.store.info(layer.digest))?.size !== layer.size) {
          throw new BerthError('NotFound', `${image.reference}: layer ${layer.digest} is not in the content store; pull first`);
        }
        const r = await applyLayerBlob(
          tmpRoot,
          { path: this.store.blobPath(layer.digest), digest: layer.digest, size: layer.size, diffId: diffIds[i] as string },
          { ...this.opts.apply, log, signal: opts.signal },
        );
        log.debug({ layer: i, entries: r.entries, bytes: r.bytes }, 'layer applied');
      }
      rendered = true;
    });
    if (rendered) log.info({ rootfs }, 'image rendered');
    return { ...image, rootfs };
  }

  async listRendered(): Promise<string[]> {
    return (await readdirIfExists(this.renderedDir)).filter((n) => KEY.test(n));
  }

  async removeRendered(key: string): Promise<void> {
    checkKey(key);
    // Move aside first, so a half-deleted tree never looks complete.
    const doomed = join(this.renderedDir, `.tmp-${key}-rm-${randomBytes(4).toString('hex')}`);
    try {
      await rename(join(this.renderedDir, key), doomed);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw err;
    }
    await rm(doomed, { recursive: true, force: true });
  }

  async pruneIncomplete(): Promise<number> {
    let names: string[] = [];
    try {
      names = await readdir(this.renderedDir);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
    const stale = names.filter((n) => n.startsWith('.tmp-'));
    for (const n of stale) await rm(join(this.renderedDir, n), { recursive: true, force: true });
    return stale.length + (await this.store.pruneIngest()) + (await this.appc.pruneTmp());
  }
}

/** The composition root's constructor for the image module. */
export function createImageService(opts: ImageServiceOptions): BerthImageService {
  return new LocalImageService(opts);
}
