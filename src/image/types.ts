/**
 * The image module's ports. Vocabulary from the OCI image spec: descriptor, manifest,
 * config, layer, digest. See SPECS.md §2 (IMG-xx, SEC-xx).
 */
import type { App as AppcApp } from './appc/manifest.js';

/** An OCI descriptor (IMG-06). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string; 'os.version'?: string; 'os.features'?: string[] };
  data?: string;
  artifactType?: string;
}

/** The parts of an image config (`config` object of application/vnd.oci.image.config.v1+json) berth uses. */
export interface ImageRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  ExposedPorts?: Record<string, unknown>;
  Volumes?: Record<string, unknown>;
  Labels?: Record<string, string>;
  StopSignal?: string;
  /** appc (ACI) apps only: what the OCI config shape cannot carry (see runtime `ImageProcessConfig.appc`) */
  appc?: { supplementaryGids?: number[]; isolators?: Array<{ name: string; value: unknown }> };
}

/** A parsed image reference (containers-transports(5) syntax). */
export type ImageReference =
  | { transport: 'oci'; path: string; tag?: string; raw: string }
  | { transport: 'oci-archive'; path: string; tag?: string; raw: string }
  | { transport: 'docker-archive'; path: string; tag?: string; raw: string }
  | { transport: 'docker'; raw: string; registry: string; repository: string; tag?: string; digest?: string }
  | AppcReference;

/** appc references (`src/image/appc/reference.ts`): an ACI file, an ACI URL, a name found by discovery. */
export type AppcReference =
  | { transport: 'aci'; path: string; raw: string }
  | { transport: 'aci-url'; url: string; raw: string }
  | { transport: 'appc'; name: string; labels: Record<string, string>; raw: string };

/** What an appc image (ACI) carries beyond the OCI-shaped config: rendering and executor inputs. */
export interface AppcImageInfo {
  /** `sha512-<hex>` of the uncompressed ACI (its blob in the store is `sha512:<hex>`) */
  imageId: string;
  name: string;
  labels: Record<string, string>;
  /** the image and its dependencies, upper first (acirenderer order: the diamond A→[B,C], B,C→[D] is A,C,D,B,D) */
  images: Array<{ imageId: string; name: string; level: number; pathWhitelist?: string[] }>;
  /** the top image's `app` (mountPoints, isolators, supplementary GIDs…) */
  app?: AppcApp;
}

/** An image whose blobs are in the content store, all verified. */
export interface PulledImage {
  /** the reference as written in the pod spec */
  reference: string;
  /** digest of the selected (platform) manifest */
  manifestDigest: string;
  configDigest: string;
  /** the whole config document */
  config: { architecture?: string; os?: string; config?: ImageRuntimeConfig; rootfs?: { type: string; diff_ids: string[] } };
  layers: Descriptor[];
  /** set for appc images (ACI): `layers` is then empty and the rendering follows appc's rules */
  appc?: AppcImageInfo;
}

/** What the verify step (image/transport/verify.ts) found of a pulled image. */
export interface Verification {
  /** the digest the signature policy was checked against (the top-level manifest or index) */
  sourceDigest: string;
  /** the policy.json verdict (OCI-shaped images; appc trust is checked per ACI) */
  policy?: { scope: string; requirements: string[]; signedBy: string[] };
  /** appc images: the trust each ACI (the image, then its dependencies) was imported under, still accepted */
  appc?: Array<{ imageId: string; mode: 'signed' | 'insecure'; fingerprint?: string; prefix?: string }>;
}

/** A pulled image that passed the verify step: its content is in the store as its digests say, and policy accepts it. */
export interface VerifiedImage extends PulledImage {
  verified: Verification;
}

/** A rendered root filesystem: a read-only tree, written once, used as an overlay lower. */
export interface RenderedImage extends PulledImage {
  /** absolute path of the rendered tree (`<state>/rendered/<key>/rootfs`) */
  rootfs: string;
}

/** Kubernetes `imagePullPolicy`; undefined means the Kubernetes default (see `defaultPullPolicy`). */
export type ImagePullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** Progress of one blob of a pull, for `berth image pull` and logs. */
export interface PullProgress {
  kind: 'manifest' | 'config' | 'layer';
  digest: string;
  size: number;
  /** bytes received so far */
  bytes: number;
  /** `cached`: already in the store, nothing downloaded */
  state: 'cached' | 'downloading' | 'done';
}

export interface PullOptions {
  signal?: AbortSignal;
  /** imagePullPolicy of the container that needs the image */
  pullPolicy?: ImagePullPolicy;
  onProgress?: (p: PullProgress) => void;
}

/** Pull + verify + render, the three steps of the pod lifecycle's image phase (DESIGN §5). */
export interface ImageService {
  /**
   * Resolve the reference under the pull policy, copy every blob into the store verified by
   * size and digest; the signature policy sees the top-level manifest before any layer is copied.
   */
  pull(reference: string, opts?: PullOptions): Promise<PulledImage>;
  /** The verify step: the stored content against its digests, and the signature policy now. PermissionDenied, FailedPrecondition, NotFound. */
  verify(image: PulledImage, opts?: PullOptions): Promise<VerifiedImage>;
  /** Apply the layers in order into a cached tree keyed by manifest digest; a no-op when cached. An image not verified yet is verified first. */
  render(image: PulledImage, opts?: PullOptions): Promise<RenderedImage>;
  /** Rendered trees present on the host, by key (for gc). */
  listRendered(): Promise<string[]>;
  /** Remove what a crash left half-written (ingest files, unfinished trees); returns how many. */
  pruneIncomplete(): Promise<number>;
}

/** What the content store knows of one committed blob. */
export interface BlobInfo {
  digest: string;
  size: number;
  /** epoch ms at which the blob was committed (for gc's grace period) */
  committedAt: number;
}

/** What a writer expects: a digest to check at commit (with a size), or an algorithm to compute one. */
export type WriterExpectation =
  | { digest: string; size?: number }
  | {
      /** the digest is not known in advance (an ACI's image ID is the sha512 of its tar) */
      algorithm: 'sha256' | 'sha512';
      /** more is refused with InvalidArgument */
      maxBytes?: number;
    };

/**
 * One ingest in progress (containerd's content.Writer): bytes go to a private place, nothing
 * is visible under any digest until `commit` has checked size and digest.
 */
export interface ContentWriter {
  /** bytes accepted so far */
  readonly offset: number;
  /** FailedPrecondition past the expected size, InvalidArgument past `maxBytes`. */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Check the size and digest, then make the blob visible; FailedPrecondition on a mismatch,
   * and nothing is kept. `existed`: the same blob was already there (nothing changed).
   */
  commit(): Promise<BlobInfo & { existed: boolean }>;
  /** Drop what was written; harmless after commit and when repeated. */
  abort(): Promise<void>;
}

/**
 * Content-addressed, immutable blob storage, shaped like containerd's content store: info,
 * readers, writers that verify at commit, walk, delete. No paths are handed out through the
 * port (FsContentStore's `blobPath` is its own, for the layer appliers, see there).
 * The contract suite is test/contract/content-store.ts.
 */
export interface ContentStore {
  /** undefined when the blob is not there */
  info(digest: string): Promise<BlobInfo | undefined>;
  has(digest: string): Promise<boolean>;
  /** A stream of the stored bytes (not re-verified; hash while reading if it matters). NotFound when absent. */
  reader(digest: string): Promise<NodeJS.ReadableStream>;
  /** The whole blob, re-verified; NotFound when absent, FailedPrecondition over `maxBytes` or corrupt. */
  readAll(digest: string, maxBytes?: number): Promise<Buffer>;
  /** Start an ingest; InvalidArgument for a malformed digest or size. */
  writer(expected: WriterExpectation): Promise<ContentWriter>;
  /**
   * Stream `source` through a writer and commit it (the source is closed in every case). A blob
   * already present with the expected size is not read again.
   */
  ingest(expected: WriterExpectation, source: AsyncIterable<Uint8Array> | NodeJS.ReadableStream): Promise<BlobInfo & { existed: boolean }>;
  /** Every committed blob, in digest order. */
  walk(fn: (info: BlobInfo) => void | Promise<void>): Promise<void>;
  /** Idempotent: a missing blob is success. */
  delete(digest: string): Promise<void>;
  /** Drop what interrupted ingests left (call when none is in flight); returns how many. */
  pruneIngest(): Promise<number>;
}
