/**
 * The registry transport as the image service uses it: reads `registries.conf` and the
 * credential files from the config directory on every pull (so edits apply without a
 * restart), expands unqualified names through `unqualified-search-registries`, tries mirrors
 * then the primary, checks the trust policy on the top-level manifest before downloading
 * anything else, and logs start, bytes, duration and digest.
 */
import { BerthError, codeOf, silentLogger } from '../../common/index.js';
import type { Logger } from '../../common/index.js';
import { findCredentials } from '../config/auth-file.js';
import { EMPTY_REGISTRIES_CONF, endpointsFor, loadRegistriesConf } from '../config/registries-conf.js';
import type { ContentStore } from '../types.js';
import type { Platform } from '../platform.js';
import { DEFAULT_REGISTRY } from '../reference.js';
import type { ImageReference, PullProgress } from '../types.js';
import { TokenCache } from './auth.js';
import { RegistryClient } from './client.js';
import { apiHost } from './hosts.js';
import { BlobFetcher, pullFromRegistry } from './pull.js';
import type { RegistryPulled } from './pull.js';

export type DockerReference = Extract<ImageReference, { transport: 'docker' }>;

export interface RegistrySourceOptions {
  /** where registries.conf and auth.json live; undefined: no configuration, anonymous pulls */
  configDir?: string;
  store: ContentStore;
  platform: Platform;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
}

export interface RegistryPullOptions {
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
  /** the trust policy, run on the top-level manifest of the logical reference */
  checkTopLevel?: (ref: DockerReference, digest: string) => Promise<void>;
}

/** Whether the text names no registry (`busybox`, `library/busybox`), as DST-02 decides. */
export function isUnqualified(raw: string): boolean {
  const s = raw.startsWith('docker://') ? raw.slice('docker://'.length) : raw;
  const first = s.split('/')[0] ?? '';
  if (!s.includes('/')) return true;
  return !(first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
}

export class RegistrySource {
  readonly tokens = new TokenCache();
  readonly blobs: BlobFetcher;
  private readonly log: Logger;
  /** registries.conf settings already warned about (once per agent) */
  private readonly warned = new Set<string>();

  constructor(private readonly opts: RegistrySourceOptions) {
    this.blobs = new BlobFetcher(opts.store);
    this.log = (opts.log ?? silentLogger()).child({ component: 'registry' });
  }

  /** The registry/repository pairs to try for a reference (DST-13 unqualified-search-registries). */
  async candidates(ref: DockerReference): Promise<DockerReference[]> {
    const conf = this.opts.configDir ? await loadRegistriesConf(this.opts.configDir) : EMPTY_REGISTRIES_CONF;
    if (!isUnqualified(ref.raw) || conf.unqualifiedSearchRegistries.length === 0) return [ref];
    const short =
      ref.registry === DEFAULT_REGISTRY && ref.repository.startsWith('library/') && !ref.raw.replace(/^docker:\/\//, '').includes('/')
        ? ref.repository.slice('library/'.length)
        : ref.repository;
    return conf.unqualifiedSearchRegistries.map((reg) => ({
      ...ref,
      registry: reg === 'index.docker.io' ? DEFAULT_REGISTRY : reg,
      repository: reg === DEFAULT_REGISTRY && !short.includes('/') ? `library/${short}` : short,
    }));
  }

  async pull(ref: DockerReference, opts: RegistryPullOptions = {}): Promise<RegistryPulled & { resolved: DockerReference }> {
    const conf = this.opts.configDir ? await loadRegistriesConf(this.opts.configDir) : EMPTY_REGISTRIES_CONF;
    for (const setting of conf.notApplied ?? []) {
      if (this.warned.has(setting)) continue;
      this.warned.add(setting);
      this.log.warn(
        { setting },
        `registries.conf setting not applied by berth (short names resolve through unqualified-search-registries, else Docker Hub): ${setting}`,
      );
    }
    const t0 = Date.now();
    const before = this.blobs.bytes;
    this.log.info({ image: ref.raw }, 'image pull started');
    let lastErr: unknown;
    for (const cand of await this.candidates(ref)) {
      const endpoints = endpointsFor(conf, cand.registry, cand.repository, cand.digest !== undefined);
      const clients = endpoints.map(
        (e) =>
          new RegistryClient(
            { host: apiHost(e.host), insecure: e.insecure, repository: e.repository, mirror: e.mirror },
            {
              tokens: this.tokens,
              credentials: (_host, repo) => findCredentials({ configDir: this.opts.configDir, env: this.opts.env }, e.host, repo),
              log: this.log,
            },
          ),
      );
      try {
        const pulled = await pullFromRegistry(clients, cand, {
          store: this.opts.store,
          blobs: this.blobs,
          platform: this.opts.platform,
          log: this.log,
          signal: opts.signal,
          onProgress: opts.onProgress,
          checkTopLevel: opts.checkTopLevel ? (digest) => opts.checkTopLevel!(cand, digest) : undefined,
        });
        this.log.info(
          {
            image: ref.raw,
            digest: pulled.manifestDigest,
            sourceDigest: pulled.sourceDigest,
            endpoint: pulled.endpoint,
            bytes: this.blobs.bytes - before,
            ms: Date.now() - t0,
          },
          'image pull finished',
        );
        return { ...pulled, resolved: cand };
      } catch (err) {
        lastErr = err;
        if (codeOf(err) !== 'NotFound') break;
      }
    }
    this.log.warn({ image: ref.raw, err: lastErr, ms: Date.now() - t0 }, 'image pull failed');
    throw lastErr instanceof Error ? lastErr : new BerthError('NotFound', `${ref.raw}: not found`);
  }
}
