/**
 * The metadata service's HTTP side, in a worker thread of its own (service.ts starts it):
 * appc's executor validator gives each request 100 ms, and the agent's main thread, busy
 * starting apps, cannot promise that. The worker only answers from what the main thread
 * gave it (precomputed bodies, HMAC keys); it knows nothing of berth.
 *
 * It runs from source text (`new Worker(METADATA_WORKER_SOURCE, { eval: true })`) so that it
 * works from the single-file bundle too: the function below must use nothing but Node
 * built-ins it loads itself, through the `require` it is given.
 */

import type * as NodeCrypto from 'node:crypto';
import type * as NodeHttp from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as NodeWorkerThreads from 'node:worker_threads';

/** Messages from the main thread. */
export type WorkerRequest =
  | { id: number; op: 'listen'; address: string; port: number }
  | { id: number; op: 'unlisten'; address: string }
  | { id: number; op: 'set'; pod: WorkerPod }
  | { id: number; op: 'drop'; uid: string }
  | { id: number; op: 'close' };

/** A request without its id (the service numbers them). */
export type WorkerCall = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

export type WorkerReply = { id: number; port?: number; error?: string };

/** One pod as the worker serves it. */
export interface WorkerPod {
  uid: string;
  token: string;
  /** HMAC-SHA512 key, hex */
  key: string;
  /** requests must come from here; undefined: any source (hostNetwork pods, on 127.0.0.1) */
  podIP?: string | undefined;
  /** the listener the pod was given */
  address: string;
  /** GET paths below /acMetadata/v1/ → response */
  get: Record<string, { type: string; body: string }>;
}

/** The worker's body; `load` is the eval worker's own `require` (a bundler rewrites a literal `require`). */
export function metadataWorkerMain(load: (id: string) => unknown): void {
  const { parentPort } = load('node:worker_threads') as typeof NodeWorkerThreads;
  const http = load('node:http') as typeof NodeHttp;
  const crypto = load('node:crypto') as typeof NodeCrypto;
  const TEXT = 'text/plain; charset=us-ascii';
  const BASE = '/acMetadata/v1/';
  const byToken = new Map<string, WorkerPod>();
  const byUid = new Map<string, WorkerPod>();
  const servers = new Map<string, Server>();
  const port = parentPort!;

  const sign = (keyHex: string, uuid: string, content: string) =>
    crypto.createHmac('sha512', Buffer.from(keyHex, 'hex')).update(uuid).update('\0').update(content).digest('base64');

  const handle = (address: string, req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    const url = (req.url ?? '/').split('?')[0]!;
    const m = /^\/([0-9a-f]{32})(\/.*)$/.exec(url);
    const pod = m ? byToken.get(m[1]!) : undefined;
    const from = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    // only the pod itself, on the listener it was given: nobody else learns the pod exists
    if (!m || !pod || pod.address !== address || (pod.podIP !== undefined && from !== pod.podIP)) {
      req.resume();
      return send(403, TEXT, 'forbidden\n');
    }
    if (req.headers['metadata-flavor'] !== 'AppContainer') {
      req.resume();
      return send(400, TEXT, 'the Metadata-Flavor: AppContainer header is required\n');
    }
    const path = m[2]!;
    if (!path.startsWith(BASE)) {
      req.resume();
      return send(404, TEXT, 'not found\n');
    }
    const rest = path.slice(BASE.length);
    if (req.method === 'GET') {
      req.resume();
      const hit = pod.get[rest];
      return hit ? send(200, hit.type, hit.body) : send(404, TEXT, 'not found\n');
    }
    if (req.method !== 'POST' || (rest !== 'pod/hmac/sign' && rest !== 'pod/hmac/verify')) {
      req.resume();
      return send(405, TEXT, 'method not allowed\n');
    }
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      req.resume();
      return send(400, TEXT, 'expected an application/x-www-form-urlencoded body\n');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1024 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      if (size > 1024 * 1024) return send(413, TEXT, 'body larger than 1 MiB\n');
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const content = form.get('content');
      if (content === null) return send(400, TEXT, 'content is required\n');
      if (rest === 'pod/hmac/sign') return send(200, TEXT, sign(pod.key, pod.uid, content));
      const uuid = form.get('uuid') ?? '';
      const signer = byUid.get(uuid);
      if (!signer) return send(403, TEXT, 'unknown pod\n');
      const want = Buffer.from(sign(signer.key, uuid, content));
      const got = Buffer.from(form.get('signature') ?? '');
      return want.length === got.length && crypto.timingSafeEqual(want, got)
        ? send(200, TEXT, '')
        : send(403, TEXT, 'signature mismatch\n');
    });
    req.on('error', () => res.destroy());
  };

  const closeServer = (s: Server | undefined) =>
    new Promise<void>((resolve) => {
      if (!s) return resolve();
      s.close(() => resolve());
      s.closeAllConnections();
    });

  port.on('message', (msg: WorkerRequest) => {
    const reply = (r: Omit<WorkerReply, 'id'>) => port.postMessage({ id: msg.id, ...r });
    const fail = (e: unknown) => reply({ error: e instanceof Error ? e.message : String(e) });
    switch (msg.op) {
      case 'listen': {
        const existing = servers.get(msg.address);
        if (existing) return reply({ port: (existing.address() as AddressInfo).port });
        const server = http.createServer((req, res) => handle(msg.address, req, res));
        server.keepAliveTimeout = 2000;
        const bind = (p: number, retry: boolean) => {
          server.once('error', (e) => (retry ? bind(0, false) : fail(e)));
          server.listen({ host: msg.address, port: p, exclusive: true }, () => {
            server.removeAllListeners('error');
            servers.set(msg.address, server);
            reply({ port: (server.address() as AddressInfo).port });
          });
        };
        bind(msg.port, msg.port !== 0);
        return;
      }
      case 'unlisten': {
        const s = servers.get(msg.address);
        servers.delete(msg.address);
        void closeServer(s).then(() => reply({}), fail);
        return;
      }
      case 'set': {
        const old = byUid.get(msg.pod.uid);
        if (old) byToken.delete(old.token);
        byUid.set(msg.pod.uid, msg.pod);
        byToken.set(msg.pod.token, msg.pod);
        return reply({});
      }
      case 'drop': {
        const old = byUid.get(msg.uid);
        if (old) byToken.delete(old.token);
        byUid.delete(msg.uid);
        return reply({});
      }
      case 'close': {
        const all = [...servers.values()];
        servers.clear();
        void Promise.all(all.map(closeServer)).then(() => reply({}), fail);
        return;
      }
    }
  });
}

/** The worker's source: the function above, called. */
export const METADATA_WORKER_SOURCE = `(${metadataWorkerMain.toString()})(require);`;
