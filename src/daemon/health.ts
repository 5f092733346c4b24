/**
 * The agent's health endpoints on a Unix socket in the run dir (`<run>/berth.sock`, mode
 * 0600: root only, no TCP port): GET /healthz (the agent answers: its event loop runs),
 * GET /readyz (the first sync is done and every source can be read; 503 with the reason
 * otherwise), GET /status (status.json's document). `curl --unix-socket /run/berth/berth.sock
 * http://berth/readyz`.
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { BerthError } from '../common/errors.js';
import type { Readiness } from './status-file.js';

export interface HealthHandlers {
  readiness(): Readiness;
  status(): unknown;
}

export interface HealthServer {
  close(): Promise<void>;
}

export async function startHealthServer(path: string, h: HealthHandlers): Promise<HealthServer> {
  // The agent holds the state dir's lock: a socket file left here is a dead agent's.
  await rm(path, { force: true });
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    if (url === '/healthz' || url === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url === '/readyz') {
      const r = h.readiness();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(r.ready ? 'ok\n' : `not ready: ${r.reason ?? 'unknown'}\n`);
    } else if (url === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(h.status(), null, 2)}\n`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /healthz, /readyz, /status\n');
    }
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    const old = process.umask(0o177); // the socket is made 0600, not chmod'ed after a window
    try {
      server.once('error', (e) => reject(new BerthError('Unavailable', `health socket ${path}: ${e.message}`, { cause: e })));
      server.listen(path, () => resolve());
    } finally {
      process.umask(old);
    }
  });
  await chmod(path, 0o600);
  return {
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(path, { force: true });
    },
  };
}
