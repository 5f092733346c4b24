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
 * Responses are precomputed at registration: the validator's client gives up after 100 ms.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { AC_NAME } from '../image/appc/manifest.js';
import { mergeAnnotations, type Annotation } from './pod-manifest.js';

const BASE = '/acMetadata/v1';
const TEXT = 'text/plain; charset=us-ascii';
const JSON_TYPE = 'application/json';
const MAX_BODY = 1024 * 1024;

export interface MetadataApp {
  name: string;
  imageId: string;
  /** the ACI's manifest as its own bytes */
  imageManifestText: string;
  imageAnnotations: Annotation[];
  /** the RuntimeApp's annotations of the pod manifest (override the image's) */
  appAnnotations: Annotation[];
}

export interface PodMetadata {
  uid: string;
  /** the pod's IPv4 address on its first network; undefined for hostNetwork pods */
  podIP?: string | undefined;
  manifest: Record<string, unknown>;
  annotations: Annotation[];
  apps: MetadataApp[];
}

interface Entry {
  token: string;
  key: Buffer;
  podIP?: string | undefined;
  address: string;
  pod: Record<string, string>;
  apps: Map<string, Record<string, string>>;
}

interface Listener {
  server: Server;
  port: number;
  pods: Set<string>;
}

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
      if (mine !== n && ((mine & mask) >>> 0) === ((n & mask) >>> 0)) return a.address;
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

const plainAddress = (a: string | undefined) => (a ?? '').replace(/^::ffff:/, '');

export class AppcMetadataService {
  private readonly byToken = new Map<string, Entry>();
  private readonly byUid = new Map<string, Entry>();
  private readonly listeners = new Map<string, Promise<Listener>>();
  private secret?: Promise<Buffer>;
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
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const s = randomBytes(32);
      await writeFile(file, s.toString('hex'), { mode: 0o600 });
      return s;
    })();
    return this.secret;
  }

  private async ports(): Promise<Record<string, number>> {
    try {
      return JSON.parse(await readFile(join(this.dir, 'ports.json'), 'utf8')) as Record<string, number>;
    } catch {
      return {};
    }
  }

  private listen(address: string): Promise<Listener> {
    let l = this.listeners.get(address);
    if (!l) {
      l = this.open(address);
      this.listeners.set(address, l);
      l.catch(() => this.listeners.delete(address));
    }
    return l;
  }

  private async open(address: string): Promise<Listener> {
    const remembered = (await this.ports())[address];
    const server = createServer((req, res) => this.handle(address, req, res));
    server.keepAliveTimeout = 2000;
    const bind = (port: number) =>
      new Promise<number>((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        server.once('error', onError);
        server.listen({ host: address, port, exclusive: true }, () => {
          server.off('error', onError);
          resolve((server.address() as AddressInfo).port);
        });
      });
    let port: number;
    try {
      port = remembered ? await bind(remembered).catch(() => bind(0)) : await bind(0);
    } catch (err) {
      throw new BerthError('Unavailable', `appc metadata service: cannot listen on ${address}: ${errorMessage(err)}`, { cause: err });
    }
    const ports = await this.ports();
    ports[address] = port;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(join(this.dir, 'ports.json'), JSON.stringify(ports), { mode: 0o600 });
    this.opts.log.info({ address, port }, 'appc metadata service listening');
    return { server, port, pods: new Set() };
  }

  /** Serve a pod (again: the data is replaced); resolves with its `AC_METADATA_URL`. */
  async register(p: PodMetadata): Promise<string> {
    if (this.closed) throw new BerthError('Unavailable', 'appc metadata service is stopped');
    const address = p.podIP ? hostAddressFor(p.podIP) : '127.0.0.1';
    if (!address) throw new BerthError('FailedPrecondition', `appc metadata service: the host has no address on the network of pod IP ${p.podIP}, so the pod cannot reach it`);
    const secret = await this.agentSecret();
    const token = createHmac('sha256', secret).update(`token\0${p.uid}`).digest('hex').slice(0, 32);
    const key = createHmac('sha512', secret).update(`hmac\0${p.uid}`).digest();
    const l = await this.listen(address);
    const apps = new Map<string, Record<string, string>>();
    for (const a of p.apps) {
      apps.set(a.name, {
        annotations: JSON.stringify(mergeAnnotations(a.imageAnnotations, a.appAnnotations)),
        'image/manifest': a.imageManifestText,
        'image/id': a.imageId,
      });
    }
    const entry: Entry = { token, key, podIP: p.podIP, address, apps, pod: { manifest: JSON.stringify(p.manifest), uuid: p.uid, annotations: JSON.stringify(p.annotations) } };
    const old = this.byUid.get(p.uid);
    if (old) this.drop(old);
    this.byToken.set(token, entry);
    this.byUid.set(p.uid, entry);
    l.pods.add(p.uid);
    return `http://${address}:${l.port}/${token}`;
  }

  /** Stop serving a pod; a listener no pod uses any more is closed. */
  async unregister(uid: string): Promise<void> {
    const e = this.byUid.get(uid);
    if (!e) return;
    this.drop(e);
    const l = await this.listeners.get(e.address)?.catch(() => undefined);
    if (l && l.pods.size === 0) {
      this.listeners.delete(e.address);
      await closeServer(l.server);
    }
  }

  private drop(e: Entry): void {
    this.byToken.delete(e.token);
    if (this.byUid.get(e.pod.uuid!) === e) this.byUid.delete(e.pod.uuid!);
    void this.listeners
      .get(e.address)
      ?.then((l) => l.pods.delete(e.pod.uuid!))
      .catch(() => undefined);
  }

  /** Close every listener (the agent stops). */
  async close(): Promise<void> {
    this.closed = true;
    const ls = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(ls.map(async (p) => closeServer((await p.catch(() => undefined))?.server)));
  }

  private handle(address: string, req: IncomingMessage, res: ServerResponse): void {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    const url = (req.url ?? '/').split('?')[0]!;
    const m = /^\/([0-9a-f]{32})(\/.*)$/.exec(url);
    const e = m ? this.byToken.get(m[1]!) : undefined;
    const from = plainAddress(req.socket.remoteAddress);
    // the pod's own address, on the listener it was given: nobody else learns it exists
    if (!e || e.address !== address || (e.podIP !== undefined && from !== e.podIP)) {
      req.resume();
      return send(403, TEXT, 'forbidden\n');
    }
    if (req.headers['metadata-flavor'] !== 'AppContainer') {
      req.resume();
      return send(400, TEXT, 'Metadata-Flavor: AppContainer header required\n');
    }
    const path = m![2]!;
    if (!path.startsWith(`${BASE}/`)) return send(404, TEXT, 'not found\n');
    const rest = path.slice(BASE.length + 1);
    if (req.method === 'GET') {
      req.resume();
      const pm = /^pod\/(manifest|uuid|annotations)$/.exec(rest);
      if (pm) return send(200, pm[1] === 'uuid' ? TEXT : JSON_TYPE, e.pod[pm[1]!]!);
      const am = /^apps\/([^/]+)\/(annotations|image\/manifest|image\/id)$/.exec(rest);
      if (am) {
        const app = AC_NAME.test(am[1]!) ? e.apps.get(am[1]!) : undefined;
        if (!app) return send(404, TEXT, `no app ${am[1]} in this pod\n`);
        return send(200, am[2] === 'image/id' ? TEXT : JSON_TYPE, app[am[2]!]!);
      }
      return send(404, TEXT, 'not found\n');
    }
    if (req.method === 'POST' && (rest === 'pod/hmac/sign' || rest === 'pod/hmac/verify')) {
      void readForm(req).then(
        (form) => {
          if (!form) return send(400, TEXT, 'expected an application/x-www-form-urlencoded body of at most 1 MiB\n');
          const content = form.get('content');
          if (content === null) return send(400, TEXT, 'content is required\n');
          if (rest === 'pod/hmac/sign') return send(200, TEXT, sign(e.key, e.pod.uuid!, content));
          const uuid = form.get('uuid') ?? '';
          const signature = form.get('signature') ?? '';
          const signer = this.byUid.get(uuid);
          if (!signer) return send(403, TEXT, 'unknown pod\n');
          const want = Buffer.from(sign(signer.key, uuid, content));
          const got = Buffer.from(signature);
          return want.length === got.length && timingSafeEqual(want, got) ? send(200, TEXT, '') : send(403, TEXT, 'signature mismatch\n');
        },
        () => send(400, TEXT, 'bad request\n'),
      );
      return;
    }
    req.resume();
    return send(405, TEXT, 'method not allowed\n');
  }
}

/** HMAC-SHA512 over the pod's UUID and the content, base64. */
function sign(key: Buffer, uuid: string, content: string): string {
  return createHmac('sha512', key).update(uuid).update('\0').update(content).digest('base64');
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
    req.resume();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > MAX_BODY) return undefined;
    chunks.push(c);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
