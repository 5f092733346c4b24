/**
 * Contract C2: runHandler against real servers on 127.0.0.1 (HTTP, HTTPS with a self-signed
 * certificate made here, TCP, gRPC health over HTTP/2) and exec against the fake runtime.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeHealthCheckResponse, encodeHealthCheckRequest, runHandler, type HandlerTarget } from '../../../src/probe/handlers.js';
import type { Container } from '../../../src/api/pod.js';
import { FakeRuntime } from '../../fakes/host.js';

const container: Container = { name: 'app', image: 'x', ports: [{ name: 'web', containerPort: 0, protocol: 'TCP' }] } as Container;
const target = (port: number, over: Partial<HandlerTarget> = {}): HandlerTarget => ({
  containerId: 'c1',
  container: { ...container, ports: [{ name: 'web', containerPort: port, protocol: 'TCP' }] } as Container,
  podIP: '127.0.0.1',
  hostNetwork: false,
  ...over,
});
const rt = new FakeRuntime();
const T = { timeoutMs: 2000 };

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}
const servers: net.Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

describe('httpGet', () => {
  let port = 0;
  const seen: http.IncomingHttpHeaders[] = [];
  beforeAll(async () => {
    const s = http.createServer((req, res) => {
      seen.push({ ...req.headers, path: req.url });
      const u = req.url ?? '/';
      if (u === '/ok') res.writeHead(200).end('fine');
      else if (u === '/500') res.writeHead(500).end('bad');
      else if (u === '/302-same') res.writeHead(302, { location: '/ok' }).end();
      else if (u === '/302-loop') res.writeHead(302, { location: '/302-loop' }).end();
      else if (u === '/302-elsewhere') res.writeHead(302, { location: 'http://elsewhere.invalid/' }).end('moved');
      else if (u === '/304') res.writeHead(304).end();
      else if (u === '/slow') setTimeout(() => res.writeHead(200).end(), 3000).unref();
      else res.writeHead(404).end();
    });
    servers.push(s);
    port = await listen(s);
  });
  afterEach(() => void (seen.length = 0));

  it('200 is ok, 500 fails with the kubelet message, the pod IP is the host, kube-probe the agent', async () => {
    expect(await runHandler(rt, { httpGet: { port, path: '/ok' } }, target(port), T)).toEqual({ ok: true, message: 'fine' });
    expect(seen[0]).toMatchObject({ host: `127.0.0.1:${port}`, 'user-agent': expect.stringMatching(/^kube-probe\//), accept: '*/*' });
    expect(await runHandler(rt, { httpGet: { port, path: '/500' } }, target(port), T)).toEqual({
      ok: false,
      message: 'HTTP probe failed with statuscode: 500',
    });
    expect(await runHandler(rt, { httpGet: { port, path: '/nothere' } }, target(port), T)).toMatchObject({
      ok: false,
      message: 'HTTP probe failed with statuscode: 404',
    });
  });

  it('resolves a named port, sends httpHeaders (Host overrides), path defaults to /', async () => {
    const r = await runHandler(
      rt,
      {
        httpGet: {
          port: 'web',
          path: 'ok',
          httpHeaders: [
            { name: 'Host', value: 'example.test' },
            { name: 'X-A', value: '1' },
            { name: 'X-A', value: '2' },
          ],
        },
      },
      target(port),
      T,
    );
    expect(r.ok).toBe(true);
    expect(seen[0]).toMatchObject({ host: 'example.test', 'x-a': '1, 2', path: '/ok' });
    await runHandler(rt, { httpGet: { port } }, target(port), T);
    expect(seen[1]).toMatchObject({ path: '/' });
    expect(await runHandler(rt, { httpGet: { port: 'nope' } }, target(port), T)).toMatchObject({
      ok: false,
      message: expect.stringContaining('couldn\'t find port "nope"'),
    });
  });

  it('follows redirects on the same host only; a redirect elsewhere is a success with a warning; loops fail', async () => {
    expect(await runHandler(rt, { httpGet: { port, path: '/302-same' } }, target(port), T)).toEqual({ ok: true, message: 'fine' });
    expect(await runHandler(rt, { httpGet: { port, path: '/302-elsewhere' } }, target(port), T)).toEqual({
      ok: true,
      message: 'Probe terminated redirects, Response body: moved',
    });
    expect(await runHandler(rt, { httpGet: { port, path: '/302-loop' } }, target(port), T)).toMatchObject({
      ok: false,
      message: expect.stringContaining('stopped after 10 redirects'),
    });
    expect(await runHandler(rt, { httpGet: { port, path: '/304' } }, target(port), T)).toMatchObject({ ok: true });
  });

  it('a timeout and a refused connection fail; the host field and hostNetwork pick the address', async () => {
    expect(await runHandler(rt, { httpGet: { port, path: '/slow' } }, target(port), { timeoutMs: 200 })).toMatchObject({
      ok: false,
      message: expect.stringContaining('context deadline exceeded'),
    });
    const closed = await freePort();
    expect(await runHandler(rt, { httpGet: { port: closed } }, target(closed), T)).toMatchObject({
      ok: false,
      message: expect.stringContaining('ECONNREFUSED'),
    });
    expect(
      (await runHandler(rt, { httpGet: { port, path: '/ok' } }, target(port, { podIP: '10.255.255.1', hostNetwork: true }), T)).ok,
    ).toBe(true);
    expect(
      (
        await runHandler(rt, { httpGet: { port, path: '/ok', host: '127.0.0.1' } }, target(port, { podIP: '10.255.255.1' }), {
          timeoutMs: 2000,
        })
      ).ok,
    ).toBe(true);
    expect(await runHandler(rt, { httpGet: { port } }, target(port, { podIP: undefined as unknown as string }), T)).toMatchObject({
      ok: false,
    });
  });

  it('a timeout longer than a timer can wait is clamped, not fired at once', async () => {
    expect(await runHandler(rt, { httpGet: { port, path: '/ok' } }, target(port), { timeoutMs: 2 ** 33 })).toEqual({
      ok: true,
      message: 'fine',
    });
  });

  it('a lifecycle httpGet succeeds on any response', async () => {
    expect(await runHandler(rt, { httpGet: { port, path: '/500' } }, target(port), { ...T, purpose: 'lifecycle' })).toMatchObject({
      ok: true,
    });
    expect(seen[0]).toMatchObject({ 'user-agent': expect.stringMatching(/^kube-lifecycle\//) });
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

describe('httpGet HTTPS', () => {
  let dir = '';
  let port = 0;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-probe-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=berth-probe-test',
      ],
      { stdio: 'ignore' },
    );
    const s = https.createServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (req, res) =>
      res.writeHead(req.url === '/ok' ? 200 : 503).end('tls'),
    );
    servers.push(s);
    port = await listen(s);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('does not verify the certificate, as the kubelet', async () => {
    expect(await runHandler(rt, { httpGet: { port, path: '/ok', scheme: 'HTTPS' } }, target(port), T)).toEqual({
      ok: true,
      message: 'tls',
    });
    expect(await runHandler(rt, { httpGet: { port, path: '/x', scheme: 'HTTPS' } }, target(port), T)).toEqual({
      ok: false,
      message: 'HTTP probe failed with statuscode: 503',
    });
  });
});

describe('tcpSocket', () => {
  it('connects, and fails on a closed port', async () => {
    const s = net.createServer((c) => c.end());
    servers.push(s);
    const port = await listen(s);
    expect(await runHandler(rt, { tcpSocket: { port: 'web' } }, target(port), T)).toEqual({ ok: true, message: '' });
    const closed = await freePort();
    expect(await runHandler(rt, { tcpSocket: { port: closed } }, target(closed), T)).toMatchObject({
      ok: false,
      message: expect.stringContaining(`dial tcp 127.0.0.1:${closed}`),
    });
  });
});

describe('grpc', () => {
  let port = 0;
  const services: string[] = [];
  beforeAll(async () => {
    const s = http2.createServer();
    s.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (b: Buffer) => chunks.push(b));
      stream.on('end', () => {
        const body = Buffer.concat(chunks);
        const msg = body.subarray(5);
        const service = msg.length ? msg.subarray(2).toString() : '';
        services.push(service);
        if (headers[':path'] !== '/grpc.health.v1.Health/Check' || service === 'unimpl') {
          stream.respond(
            { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'unknown service' },
            { endStream: true },
          );
          return;
        }
        const status = service === 'down' ? 2 : 1;
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, status]));
      });
    });
    servers.push(s as unknown as net.Server);
    port = await listen(s as unknown as net.Server);
  });

  it('SERVING is ok, NOT_SERVING and unimplemented fail with kubelet-like messages', async () => {
    expect(await runHandler(rt, { grpc: { port } }, target(port), T)).toEqual({ ok: true, message: '' });
    expect(await runHandler(rt, { grpc: { port, service: 'down' } }, target(port), T)).toEqual({
      ok: false,
      message: 'service unhealthy (responded with "NOT_SERVING")',
    });
    expect(await runHandler(rt, { grpc: { port, service: 'unimpl' } }, target(port), T)).toMatchObject({
      ok: false,
      message: expect.stringContaining('does not implement the grpc health protocol'),
    });
    expect(services).toEqual(['', 'down', 'unimpl']);
    const closed = await freePort();
    expect(await runHandler(rt, { grpc: { port: closed } }, target(closed), T)).toMatchObject({ ok: false });
  });

  it('encodes and decodes the health messages', () => {
    expect([...encodeHealthCheckRequest('ab')]).toEqual([0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]);
    expect([...encodeHealthCheckRequest('')]).toEqual([0, 0, 0, 0, 0]);
    expect(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 2, 0x08, 3]))).toBe(3);
    expect(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 0]))).toBe(0);
  });
});

describe('exec and sleep', () => {
  it('exit 0 is ok, non-zero fails with the output, a timeout fails, the timeout is passed on', async () => {
    const f = new FakeRuntime();
    await f.start({ containerId: 'c1', appName: 'app' } as never);
    f.execHandler = (_id, argv) => ({
      exitCode: argv[0] === 'good' ? 0 : 3,
      stdout: argv[0] === 'good' ? 'yes\n' : 'no\n',
      stderr: '',
      timedOut: argv[0] === 'slow',
    });
    expect(await runHandler(f, { exec: { command: ['good'] } }, target(1), T)).toEqual({ ok: true, message: 'yes\n' });
    expect(await runHandler(f, { exec: { command: ['bad'] } }, target(1), T)).toEqual({ ok: false, message: 'no' });
    expect(await runHandler(f, { exec: { command: ['slow'] } }, target(1), T)).toEqual({
      ok: false,
      message: 'command ["slow"] timed out',
    });
    expect(f.execs[0]).toMatchObject({ containerId: 'c1', argv: ['good'], opts: { timeoutMs: 2000 } });
    expect(await runHandler(f, { exec: { command: ['x'] } }, target(1, { containerId: 'gone' }), T)).toMatchObject({
      ok: false,
      message: expect.stringContaining('not running'),
    });
  });

  it('sleep waits and is ok; an abort cancels it; exactly one action is needed', async () => {
    expect(await runHandler(rt, { sleep: { seconds: 0 } }, target(1), T)).toEqual({ ok: true, message: '' });
    const ac = new AbortController();
    const p = runHandler(rt, { sleep: { seconds: 60 } }, target(1), { ...T, signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'Canceled' });
    expect(await runHandler(rt, {}, target(1), T)).toMatchObject({ ok: false, message: expect.stringContaining('exactly one') });
  });
});
