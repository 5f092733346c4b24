/**
 * The image service: pull (resolve + copy verified blobs into the store), render (apply the
 * layers into a cached tree), and the small reference index under `<state>/images/`.
 *
 * Host layout (DESIGN.md §3):
 *   <state>/blobs/<alg>/<hex>                 content store (FsContentStore)
 *   <state>/rendered/<manifestHex>/rootfs     rendered tree, written once, then a read-only lower
 *   <state>/rendered/<manifestHex>/image.json the PulledImage the tree was rendered from
 *   <state>/rendered/.tmp-<hex>-<rand>/       a render in progress (never looks complete)
 *   <state>/images/refs.json                  reference → manifest digest
 *
 * A rendered tree is built in a temp directory beside its final place and renamed into place
 * when complete, so a crash leaves only a `.tmp-*` directory (`pruneIncomplete` removes them).
 */
import { randomBytes } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, errnoOf, readdirIfExists, readJsonIfExists, silentLogger, writeJsonAtomic } from '../common/index.js';
import type { Logger } from '../common/index.js';
import { FsContentStore } from './content-store.js';
import { parseDigest } from './digest.js';
import { applyLayerBlob } from './layer-apply.js';
import type { ApplyOptions } from './layer-apply.js';
import { ArchiveLayoutReader, DirLayoutReader } from './layout.js';
import type { LayoutReader } from './layout.js';
import { hostPlatform } from './platform.js';
import type { Platform } from './platform.js';
import { loadFromStore, pullFromLayout } from './pull.js';
import { parseImageReference } from './reference.js';
import { parseAppcReference } from './appc/reference.js';
import { AppcImages } from './appc/service.js';
import type { ImagePullPolicy, ImageReference, ImageService, PullOptions, PulledImage, RenderedImage } from './types.js';
import { pullFromDockerArchive } from './docker-archive.js';
import { RegistrySource } from './registry/source.js';
import type { DockerReference } from './registry/source.js';
import { checkPolicy, loadPolicyContext } from './signature/policy-check.js';
import type { PolicyVerdict } from './signature/policy-check.js';
import { DEFAULT_POLICY } from './config/policy.js';
import { renderTree } from './rendered-tree.js';

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
}

/**
 * The Kubernetes default imagePullPolicy: Always for `:latest` or no tag, IfNotPresent
 * otherwise (digests included). Local transports (oci, oci-archive, docker-archive, aci)
 * default to Always: the file is the source of truth, reading it is cheap, and blobs
 * already in the store are not copied again.
 */
export function defaultPullPolicy(ref: ImageReference): ImagePullPolicy {
  if (ref.transport !== 'docker') return 'Always';
  if (ref.digest !== undefined) return 'IfNotPresent';
  return ref.tag === undefined || ref.tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** One entry of `<state>/images/refs.json`. */
export interface ImageRecord {
  reference: string;
  manifestDigest: string;
  configDigest: string;
  pulledAt: string;
  /** the top-level manifest or index the reference resolved to, when it differs (what signatures sign) */
  sourceDigest?: string;
}

interface RefsFile {
  version: 1;
  images: Record<string, ImageRecord>;
}

/** The ImageService port plus the helpers the CLI and garbage collection need. */
export interface BerthImageService extends ImageService {
  readonly store: FsContentStore;
  /** The image last pulled for `reference`, rebuilt from the store; undefined if never pulled or its blobs are gone. */
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
  /** Evaluate the trust policy for a reference and its top-level manifest digest; PermissionDenied when refused. */
  checkTrust(reference: string, sourceDigest: string, signal?: AbortSignal): Promise<PolicyVerdict>;
  /** The registry transport (token cache, per-digest download dedupe and counters). */
  readonly registry: RegistrySource;
  /** appc images (ACI): the index of imported ACIs, discovery, trust, rendering */
  readonly appc: AppcImages;
}

const KEY = /^(?:[a-f0-9]{64}|[a-f0-9]{128})$/;

function checkKey(key: string): string {
  if (!KEY.test(key)) throw new BerthError('InvalidArgument', `invalid rendered key "${key}"`);
  return key;
}


class LocalImageService implements BerthImageService {
  readonly store: FsContentStore;
  private readonly log: Logger;
  private readonly platform: Platform;
  private readonly renderedDir: string;
  private readonly refsPath: string;
  private readonly pulls = new Map<string, Promise<PulledImage>>();
  private readonly renders = new Map<string, Promise<RenderedImage>>();
  private refsLock: Promise<unknown> = Promise.resolve();
  readonly registry: RegistrySource;
  readonly appc: AppcImages;

  constructor(private readonly opts: ImageServiceOptions) {
    this.store = new FsContentStore(opts.stateDir);
    this.appc = new AppcImages({
      stateDir: opts.stateDir,
      configDir: opts.configDir ?? '/etc/berth',
      store: this.store,
      renderedDir: join(opts.stateDir, 'rendered'),
      log: opts.log ?? silentLogger(),
      ...(opts.apply ? { apply: opts.apply } : {}),
    });
    this.registry = new RegistrySource({ configDir: opts.configDir, store: this.store, platform: opts.platform ?? hostPlatform(), log: opts.log, env: opts.env });
    this.log = (opts.log ?? silentLogger()).child({ component: 'image' });
    this.platform = opts.platform ?? hostPlatform();
    this.renderedDir = join(opts.stateDir, 'rendered');
    this.refsPath = join(opts.stateDir, 'images', 'refs.json');
  }

  pull(reference: string, opts: PullOptions = {}): Promise<PulledImage> {
    // Concurrent pulls of the same reference share one operation.
    const running = this.pulls.get(reference);
    if (running) return running;
    const p = this.pullWithPolicy(reference, opts).finally(() => this.pulls.delete(reference));
    this.pulls.set(reference, p);
    return p;
  }

  /** imagePullPolicy: Always resolves the reference again; IfNotPresent and Never use the store when it has the image. */
  private async pullWithPolicy(reference: string, opts: PullOptions): Promise<PulledImage> {
    const appcRef = parseAppcReference(reference);
    if (appcRef) {
      // appc trust (trustedkeys/, transports.appc) and pull policy are the appc service's
      const image = await this.appc.pull(appcRef, opts);
      await this.record(image);
      return image;
    }
    const policy = opts.pullPolicy ?? defaultPullPolicy(parseImageReference(reference));
    if (policy !== 'Always') {
      const rec = (await this.listImages()).find((r) => r.reference === reference);
      const cached = rec ? await this.get(reference) : undefined;
      if (rec && cached) {
        // the trust policy may have changed since the pull: check it again before use
        await this.checkTrust(reference, rec.sourceDigest ?? rec.manifestDigest, opts.signal);
        return cached;
      }
      if (policy === 'Never') {
        throw new BerthError('FailedPrecondition', `ErrImageNeverPull: image ${reference} is not in the store and imagePullPolicy is Never`);
      }
    }
    return this.doPull(reference, opts);
  }

  async checkTrust(reference: string, sourceDigest: string, signal?: AbortSignal): Promise<PolicyVerdict> {
    const ctx = this.opts.configDir ? await loadPolicyContext(this.opts.configDir) : { policy: DEFAULT_POLICY, registriesD: { docker: {} } };
    return checkPolicy(ctx, { ref: parseImageReference(reference), manifestDigest: sourceDigest, signal });
  }

  private async pullDocker(ref: DockerReference, opts: PullOptions): Promise<PulledImage> {
    const ctx = this.opts.configDir ? await loadPolicyContext(this.opts.configDir) : undefined;
    const pulled = await this.registry.pull(ref, {
      signal: opts.signal,
      onProgress: opts.onProgress,
      // the policy sees the top-level manifest before any config or layer is downloaded
      checkTopLevel: ctx ? async (resolved, digest) => void (await checkPolicy(ctx, { ref: resolved, manifestDigest: digest, signal: opts.signal })) : undefined,
    });
    const { sourceDigest, endpoint: _e, resolved: _r, ...image } = pulled;
    await this.record(image, sourceDigest);
    return image;
  }

  private async pullDockerArchive(ref: Extract<ImageReference, { transport: 'docker-archive' }>, opts: PullOptions): Promise<PulledImage> {
    const log = this.log.child({ image: ref.raw });
    const image = await pullFromDockerArchive(ref.path, ref, { store: this.store, log, signal: opts.signal });
    await this.checkTrust(ref.raw, image.manifestDigest, opts.signal);
    await this.record(image);
    log.info({ digest: image.manifestDigest }, 'image pulled');
    return image;
  }

  private async doPull(reference: string, opts: PullOptions): Promise<PulledImage> {
    const ref = parseImageReference(reference);
    const log = this.log.child({ image: reference });
    let reader: LayoutReader;
    switch (ref.transport) {
      case 'oci':
        reader = new DirLayoutReader(ref.path);
        break;
      case 'oci-archive':
        reader = new ArchiveLayoutReader(ref.path);
        break;
      case 'docker':
        return this.pullDocker(ref, opts);
      case 'docker-archive':
        return this.pullDockerArchive(ref, opts);
      case 'aci':
      case 'aci-url':
      case 'appc':
        return this.appc.pull(ref, opts);
    }
    try {
      const image = await pullFromLayout(reader, ref, { store: this.store, platform: this.platform, log, signal: opts.signal, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
      await this.checkTrust(reference, image.manifestDigest, opts.signal);
      await this.record(image);
      log.info({ digest: image.manifestDigest }, 'image pulled');
      return image;
    } finally {
      await reader.close();
    }
  }

  private withRefs<T>(fn: (refs: RefsFile) => Promise<T>): Promise<T> {
    const run = this.refsLock.then(async () => {
      const refs = (await readJsonIfExists<RefsFile>(this.refsPath)) ?? { version: 1, images: {} };
      return fn(refs);
    });
    this.refsLock = run.catch(() => undefined);
    return run;
  }

  private record(image: PulledImage, sourceDigest?: string): Promise<void> {
    return this.withRefs(async (refs) => {
      refs.images[image.reference] = {
        reference: image.reference,
        manifestDigest: image.manifestDigest,
        configDigest: image.configDigest,
        pulledAt: new Date().toISOString(),
        ...(sourceDigest !== undefined && sourceDigest !== image.manifestDigest ? { sourceDigest } : {}),
      };
      await writeJsonAtomic(this.refsPath, refs);
    });
  }

  async listImages(): Promise<ImageRecord[]> {
    const refs = await this.withRefs(async (r) => r);
    return Object.values(refs.images).sort((a, b) => a.reference.localeCompare(b.reference));
  }

  async removeImage(reference: string): Promise<void> {
    await this.withRefs(async (refs) => {
      if (!(reference in refs.images)) return;
      delete refs.images[reference];
      await writeJsonAtomic(this.refsPath, refs);
    });
  }

  async get(reference: string): Promise<PulledImage | undefined> {
    const appcRef = parseAppcReference(reference);
    if (appcRef) return this.appc.get(reference, appcRef);
    const rec = (await this.listImages()).find((r) => r.reference === reference);
    if (!rec) return undefined;
    try {
      return await loadFromStore(this.store, reference, rec.manifestDigest);
    } catch (err) {
      const code = (err as BerthError).code;
      if (code === 'NotFound' || code === 'FailedPrecondition') return undefined;
      throw err;
    }
  }

  renderedPath(key: string): string {
    return join(this.renderedDir, checkKey(key), 'rootfs');
  }

  render(image: PulledImage, opts: PullOptions = {}): Promise<RenderedImage> {
    if (image.appc) return this.appc.render(image, opts);
    const key = parseDigest(image.manifestDigest).hex;
    const running = this.renders.get(key);
    if (running) return running.then((r) => ({ ...image, rootfs: r.rootfs }));
    const p = this.doRender(key, image, opts).finally(() => this.renders.delete(key));
    this.renders.set(key, p);
    return p;
  }

  private async doRender(key: string, image: PulledImage, opts: PullOptions): Promise<RenderedImage> {
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
