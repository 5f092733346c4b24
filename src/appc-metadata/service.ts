/**
 * The appc metadata service (appc `spec/ace.md` "App Container Metadata Service"), served by
 * the agent for the pods with ACI apps, while the agent runs (daemon and `--once`).
 *
 * Reachability: a pod on a CNI network reaches the host at the address the host has on that
 * network (the bridge's gateway address); the service listens there, on a port the kernel
 * picks (port 0), so it can clash with nothing else on the host; pods sharing a network share
 * the listener, which closes when its last pod is gone. A request is answered only when its
 * source address is the pod's own IP AND its path starts with the pod's token (32 hex digits,
 * `AC_METADATA_URL=http://<gateway>:<port>/<token>`): another pod on the same bridge, or the
 * host, gets 403. hostNetwork pods share the host's network namespace: their listener is on
 * 127.0.0.1 and the token alone identifies the pod.
 *
 * The token and each pod's HMAC key are derived from one agent secret
 * (`<state>/appc-metadata/secret`, 0600) and the pod's UID, so they survive agent restarts;
 * the port of each address is remembered (`ports.json`) and taken again when free.
 *
 * Responses are precomputed at registration and served by a worker thread (worker.ts): the
 * validator's client gives up after 100 ms, which a busy agent thread cannot promise.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { BerthError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { mergeAnnotations } from './pod-manifest.js';
import type { AppcMetadataService, PodMetadata } from './types.js';
import { METADATA_WORKER_SOURCE, type WorkerPod, type WorkerCall, type WorkerReply } from './worker.js';
import { makeDirs } from '../common/fs.js';

export type { AppcMetadataService, MetadataApp, PodMetadata } from './types.js';

const TEXT = 'text/plain; charset=us-ascii';
const JSON_TYPE = 'application/json';

/** The host's IPv4 address on the network of `ip` (the interface whose subnet holds it). */
export function hostAddressFor(ip: string): string | undefined {
  const n = ipv4(ip);
  if (n === undefined) return undefined;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal || !a.cidr) continue;
      const bits = Number(a.cidr.split('/')[1]);
      const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
      const mine = ipv4(a.address)!;
      if (mine !== n && (mine & mask) >>> 0 === (n & mask) >>> 0) return a.address;
    }
  }
  return undefined;
}

function ipv4(s: string): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** The GET answers of a pod (paths below /acMetadata/v1/). */
export function podResponses(p: PodMetadata): WorkerPod['get'] {
  const get: WorkerPod['get'] = {
    'pod/manifest': { type: JSON_TYPE, body: JSON.stringify(p.manifest) },
    'pod/uuid': { type: TEXT, body: p.uid },
    'pod/annotations': { type: JSON_TYPE, body: JSON.stringify(p.annotations) },
  };
  for (const a of p.apps) {
    get[`apps/${a.name}/annotations`] = { type: JSON_TYPE, body: JSON.stringify(mergeAnnotations(a.imageAnnotations, a.appAnnotations)) };
    get[`apps/${a.name}/image/manifest`] = { type: JSON_TYPE, body: a.imageManifestText };
    get[`apps/${a.name}/image/id`] = { type: TEXT, body: a.imageId };
  }
  return get;
}

/** The metadata service the agent runs (see above). */
export class AppcMetadataServer implements AppcMetadataService {
  /** uid → listener address */
  private readonly pods = new Map<string, string>();
  /** address → port, once listening */
  private readonly listeners = new Map<string, Promise<number>>();
  private secret?: Promise<Buffer>;
  private worker?: Worker;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  private closed = false;

  constructor(private readonly opts: { stateDir: string; log: Logger }) {}

  private get dir(): string {
    return join(this.opts.stateDir, 'appc-metadata');
  }

  private agentSecret(): Promise<Buffer> {
    this.secret ??= (async () => {
      const file = join(this.dir, 'secret');
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text && /^[0-9a-f]{64}$/.test(text.trim())) return Buffer.from(text.trim(), 'hex');
      await makeDirs(this.dir, 0o700);
      const s = randomBytes(32);
      await writeFile(file, s.toString('hex'), { mode: 0o600 });
      return s;
    })();
    return this.secret;
  }

  private call(req: WorkerCall): Promise<WorkerReply> {
    if (!this.worker) {
      const w = new Worker(METADATA_WORKER_SOURCE, { eval: true, name: 'berth-appc-metadata' });
      w.unref(); // never what keeps the agent alive
      w.on('message', (r: WorkerReply) => {
        const p = this.waiting.get(r.id);
        this.waiting.delete(r.id);
        if (r.error !== undefined) p?.reject(new Error(r.error));
        else p?.resolve(r);
      });
      w.on('error', (err) => {
        this.opts.log.error({ err }, 'appc metadata service worker failed');
        for (const p of this.waiting.values()) p.reject(err);
        this.waiting.clear();
        this.listeners.clear();
        this.worker = undefined;
      });
      this.worker = w;
    }
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker!.postMessage({ ...req, id });
    });
  }

  private async ports(): Promise<Record<string, number>> {
    try {
      return JSON.parse(await readFile(join(this.dir, 'ports.json'), 'utf8')) as Record<string, number>;
    } catch {
      return {};
    }
  }

  private listen(address: string): Promise<number> {
    let l = this.listeners.get(address);
    if (!l) {
      l = (async () => {
        const remembered = (await this.ports())[address] ?? 0;
        let port: number;
        try {
          ({ port = 0 } = await this.call({ op: 'listen', address, port: remembered }));
        } catch (err) {
          throw new BerthError('Unavailable', `appc metadata service: cannot listen on ${address}: ${errorMessage(err)}`, { cause: err });
        }
        const ports = await this.ports();
        ports[address] = port;
        await makeDirs(this.dir, 0o700);
        await writeFile(join(this.dir, 'ports.json'), JSON.stringify(ports), { mode: 0o600 });
        this.opts.log.info({ address, port }, 'appc metadata service listening');
        return port;
      })();
      this.listeners.set(address, l);
      l.catch(() => this.listeners.delete(address));
    }
    return l;
  }

  /** Serve a pod (again: its data is replaced); resolves with its `AC_METADATA_URL`. */
  async register(p: PodMetadata): Promise<string> {
    if (this.closed) throw new BerthError('Unavailable', 'appc metadata service is stopped');
    const address = p.podIP ? hostAddressFor(p.podIP) : '127.0.0.1';
    if (!address)
      throw new BerthError(
        'FailedPrecondition',
        `appc metadata service: the host has no address on the network of pod IP ${p.podIP}, so the pod cannot reach it`,
      );
    const secret = await this.agentSecret();
    const token = createHmac('sha256', secret).update(`token\0${p.uid}`).digest('hex').slice(0, 32);
    const key = createHmac('sha512', secret).update(`hmac\0${p.uid}`).digest('hex');
    const port = await this.listen(address);
    await this.call({ op: 'set', pod: { uid: p.uid, token, key, podIP: p.podIP, address, get: podResponses(p) } });
    this.pods.set(p.uid, address);
    return `http://${address}:${port}/${token}`;
  }

  /** Stop serving a pod; a listener no pod uses any more is closed. */
  async unregister(uid: string): Promise<void> {
    const address = this.pods.get(uid);
    if (address === undefined || !this.worker) return;
    this.pods.delete(uid);
    await this.call({ op: 'drop', uid });
    if (![...this.pods.values()].includes(address)) {
      this.listeners.delete(address);
      await this.call({ op: 'unlisten', address });
    }
  }

  /** Close every listener and the worker (the agent stops). */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    if (!w) return;
    await this.call({ op: 'close' }).catch(() => undefined);
    this.worker = undefined;
    await w.terminate();
  }
}
