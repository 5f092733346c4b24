/**
 * Probe and lifecycle handler actions (contract C2) with the kubelet prober's semantics
 * (pkg/probe): exec inside the app (exit 0 = ok, a timeout is a failure), httpGet (200–399,
 * redirects followed only on the same host, HTTPS without certificate checks), tcpSocket
 * (connect), grpc (grpc.health.v1.Health/Check over HTTP/2 without TLS, SERVING = ok) and
 * sleep. Network handlers go from the host to the pod IP (127.0.0.1 for hostNetwork pods),
 * as the kubelet does; `host` overrides it for httpGet and tcpSocket.
 */
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { BerthError, errorMessage, safeTimeout, timeoutSignal } from '../common/index.js';
import type { Container } from '../api/pod.js';
import type { AppRuntime } from '../runtime/types.js';

type ProbeSpec = NonNullable<Container['livenessProbe']>;
type LifecycleSpec = NonNullable<NonNullable<Container['lifecycle']>['preStop']>;
export type HttpGetAction = NonNullable<ProbeSpec['httpGet']>;
export type TcpSocketAction = NonNullable<ProbeSpec['tcpSocket']>;
export type GrpcAction = NonNullable<ProbeSpec['grpc']>;

export interface HandlerAction {
  exec?: { command: string[] };
  httpGet?: HttpGetAction;
  tcpSocket?: TcpSocketAction;
  grpc?: GrpcAction;
  sleep?: NonNullable<LifecycleSpec['sleep']>;
}

export interface HandlerTarget {
  containerId: string;
  container: Container;
  podIP?: string;
  hostNetwork: boolean;
}

export interface HandlerResult {
  ok: boolean;
  /** kubelet-like: "HTTP probe failed with statuscode: 500"; for exec, the command's output */
  message: string;
}

export interface HandlerOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /**
   * 'probe' (default) or 'lifecycle': a lifecycle httpGet hook succeeds on any HTTP response
   * (the kubelet's lifecycle handler only fails on a request error) and says `kube-lifecycle`
   * as its User-Agent.
   */
  purpose?: 'probe' | 'lifecycle';
}

/** The kubelet keeps this much of a response body or command output. */
const MAX_BODY = 10 * 1024;
const MAX_REDIRECTS = 10;

/** Run one handler action; never throws for a failing check (ok: false), only for a canceled call. */
export async function runHandler(
  runtime: AppRuntime,
  action: HandlerAction,
  target: HandlerTarget,
  opts: HandlerOptions,
): Promise<HandlerResult> {
  const kinds = (['exec', 'httpGet', 'tcpSocket', 'grpc', 'sleep'] as const).filter((k) => action[k] !== undefined);
  if (kinds.length !== 1)
    return { ok: false, message: `a handler needs exactly one action, got ${kinds.length ? kinds.join(', ') : 'none'}` };
  if (opts.signal?.aborted) throw new BerthError('Canceled', 'handler canceled', { cause: opts.signal.reason });
  try {
    if (action.exec) return await runExecAction(runtime, action.exec.command, target, opts);
    if (action.sleep) return await runSleep(action.sleep.seconds, opts);
    const host = target.hostNetwork ? '127.0.0.1' : target.podIP;
    if (action.httpGet) return await runHttpGet(action.httpGet, { ...target, defaultHost: host }, opts);
    if (action.tcpSocket) return await runTcp(action.tcpSocket, { ...target, defaultHost: host }, opts);
    return await runGrpc(action.grpc!, host, opts);
  } catch (err) {
    if (opts.signal?.aborted) throw new BerthError('Canceled', 'handler canceled', { cause: opts.signal.reason });
    return { ok: false, message: errorMessage(err) };
  }
}

async function runExecAction(runtime: AppRuntime, command: string[], target: HandlerTarget, opts: HandlerOptions): Promise<HandlerResult> {
  try {
    const r = await runtime.exec(target.containerId, command, {
      timeoutMs: opts.timeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (r.timedOut) return { ok: false, message: `command ${JSON.stringify(command)} timed out` };
    const output = `${r.stdout}${r.stderr}`.slice(0, MAX_BODY);
    if (r.exitCode === 0) return { ok: true, message: output };
    return { ok: false, message: output.trim() || `command ${JSON.stringify(command)} exited with code ${r.exitCode}` };
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    return { ok: false, message: errorMessage(err) };
  }
}

function runSleep(seconds: number, opts: HandlerOptions): Promise<HandlerResult> {
  return new Promise((resolve, reject) => {
    const ms = Math.max(0, seconds * 1000);
    const done = () => {
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ ok: true, message: '' });
    };
    const timer = safeTimeout(done, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new BerthError('Canceled', 'sleep canceled', { cause: opts.signal?.reason }));
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A port number, or a name looked up in the container's ports (the kubelet's findPortByName). */
export function resolvePort(port: number | string, container: Container): number {
  let n: number | undefined;
  if (typeof port === 'number') n = port;
  else if (/^\d+$/.test(port)) n = Number(port);
  else n = container.ports?.find((p) => p.name === port && (p.protocol ?? 'TCP') === 'TCP')?.containerPort;
  if (n === undefined)
    throw new BerthError('InvalidArgument', `couldn't find port ${JSON.stringify(port)} in container ${container.name}'s ports`);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new BerthError('InvalidArgument', `invalid port number: ${n}`);
  return n;
}

function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function deadlineSignal(opts: HandlerOptions): { signal: AbortSignal; timedOut: () => boolean } {
  const timeout = timeoutSignal(opts.timeoutMs);
  return { signal: opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout, timedOut: () => timeout.aborted };
}

async function runHttpGet(
  a: HttpGetAction,
  t: HandlerTarget & { defaultHost: string | undefined },
  opts: HandlerOptions,
): Promise<HandlerResult> {
  const host = a.host || t.defaultHost;
  if (!host) return { ok: false, message: 'the pod has no IP to probe' };
  const port = resolvePort(a.port, t.container);
  const scheme = (a.scheme ?? 'HTTP').toLowerCase();
  let path = a.path ?? '';
  if (path !== '' && !path.startsWith('/')) path = `/${path}`;
  let url = new URL(`${scheme}://${hostPort(host, port)}${path}`);
  const lifecycle = opts.purpose === 'lifecycle';
  const headers: Record<string, string> = {};
  const given = new Map<string, { name: string; values: string[] }>();
  for (const h of a.httpHeaders ?? []) {
    const k = h.name.toLowerCase();
    const e = given.get(k) ?? { name: h.name, values: [] };
    e.values.push(h.value);
    given.set(k, e);
  }
  if (!given.has('user-agent')) headers['User-Agent'] = lifecycle ? 'kube-lifecycle/berth' : 'kube-probe/berth';
  if (!given.has('accept')) headers.Accept = '*/*';
  // repeated headers are joined, as Go's Header.Add would send them; `Host` sets the request's host
  for (const e of given.values()) headers[e.name] = e.values.join(', ');
  const d = deadlineSignal(opts);
  const firstHost = url.hostname;
  for (let hop = 0; ; hop++) {
    let res: { status: number; location?: string; body: string };
    try {
      res = await httpRequest(url, headers, d.signal);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const why = d.timedOut() ? 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)' : errorMessage(err);
      return { ok: false, message: `Get "${url.href}": ${why}` };
    }
    if (lifecycle && !(res.status >= 300 && res.status < 400 && res.location)) return { ok: true, message: '' };
    if (res.status >= 300 && res.status < 400 && res.location) {
      const next = new URL(res.location, url);
      if (next.hostname !== firstHost) {
        // the kubelet stops there and counts it a success with a warning
        return { ok: true, message: `Probe terminated redirects, Response body: ${res.body}` };
      }
      if (hop + 1 >= MAX_REDIRECTS) return { ok: false, message: `Get "${next.href}": stopped after ${MAX_REDIRECTS} redirects` };
      url = next;
      continue;
    }
    if (res.status >= 200 && res.status < 400) return { ok: true, message: res.body };
    return { ok: false, message: `HTTP probe failed with statuscode: ${res.status}` };
  }
}

function httpRequest(
  url: URL,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(
      url,
      {
        method: 'GET',
        headers,
        agent: false,
        signal,
        ...(url.protocol === 'https:'
          ? { rejectUnauthorized: false, ...(net.isIP(url.hostname) ? {} : { servername: url.hostname }) }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (b: Buffer) => {
          if (size < MAX_BODY) chunks.push(b.subarray(0, MAX_BODY - size));
          size += b.length;
        });
        res.on('end', () => {
          const loc = res.headers.location;
          resolve({ status: res.statusCode ?? 0, ...(loc ? { location: loc } : {}), body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function runTcp(a: TcpSocketAction, t: HandlerTarget & { defaultHost: string | undefined }, opts: HandlerOptions): Promise<HandlerResult> {
  const host = a.host || t.defaultHost;
  if (!host) return Promise.resolve({ ok: false, message: 'the pod has no IP to probe' });
  const port = resolvePort(a.port, t.container);
  const d = deadlineSignal(opts);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const finish = (r: HandlerResult | Error) => {
      d.signal.removeEventListener('abort', onAbort);
      sock.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const onAbort = () => {
      if (opts.signal?.aborted) finish(new BerthError('Canceled', 'tcp probe canceled'));
      else finish({ ok: false, message: `dial tcp ${hostPort(host, port)}: i/o timeout` });
    };
    d.signal.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => finish({ ok: true, message: '' }));
    sock.once('error', (e) => finish({ ok: false, message: `dial tcp ${hostPort(host, port)}: ${e.message}` }));
  });
}

const GRPC_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** protobuf `HealthCheckRequest { string service = 1; }` in a gRPC length-prefixed frame. */
export function encodeHealthCheckRequest(service: string): Buffer {
  const s = Buffer.from(service, 'utf8');
  const msg = s.length ? Buffer.concat([Buffer.from([0x0a]), varint(s.length), s]) : Buffer.alloc(0);
  const head = Buffer.alloc(5);
  head.writeUInt8(0, 0);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** `HealthCheckResponse { ServingStatus status = 1; }` from the first gRPC frame; absent field = UNKNOWN (0). */
export function decodeHealthCheckResponse(body: Buffer): number {
  if (body.length < 5) throw new BerthError('Internal', 'grpc health response: short frame');
  if (body.readUInt8(0) !== 0) throw new BerthError('Internal', 'grpc health response: compressed messages are not supported');
  const len = body.readUInt32BE(1);
  const msg = body.subarray(5, 5 + len);
  let status = 0;
  for (let i = 0; i < msg.length;) {
    let key = 0;
    let shift = 0;
    let b: number;
    do {
      b = msg[i++]!;
      key |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80 && i < msg.length);
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) {
      let v = 0;
      shift = 0;
      do {
        b = msg[i++]!;
        v += (b & 0x7f) * 2 ** shift;
        shift += 7;
      } while (b & 0x80 && i < msg.length);
      if (field === 1) status = v;
    } else if (wire === 2) {
      let l = 0;
      shift = 0;
      do {
        b = msg[i++]!;
        l |= (b & 0x7f) << shift;
        shift += 7;
      } while (b & 0x80 && i < msg.length);
      i += l;
    } else if (wire === 5) i += 4;
    else if (wire === 1) i += 8;
    else break;
  }
  return status;
}

function runGrpc(a: GrpcAction, host: string | undefined, opts: HandlerOptions): Promise<HandlerResult> {
  if (!host) return Promise.resolve({ ok: false, message: 'the pod has no IP to probe' });
  const service = a.service ?? '';
  const addr = hostPort(host, a.port);
  const d = deadlineSignal(opts);
  return new Promise((resolve, reject) => {
    let settled = false;
    const client = http2.connect(`http://${addr}`);
    const finish = (r: HandlerResult | Error) => {
      if (settled) return;
      settled = true;
      d.signal.removeEventListener('abort', onAbort);
      client.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const onAbort = () => {
      if (opts.signal?.aborted) finish(new BerthError('Canceled', 'grpc probe canceled'));
      else finish({ ok: false, message: `timeout: health rpc did not complete within ${opts.timeoutMs}ms` });
    };
    d.signal.addEventListener('abort', onAbort, { once: true });
    client.on('error', (e) =>
      finish({ ok: false, message: `failed to connect service ${JSON.stringify(addr)} within ${opts.timeoutMs / 1000}s: ${e.message}` }),
    );
    const req = client.request({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'kube-probe/berth',
    });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    let grpcMessage: string | undefined;
    let httpStatus = 0;
    const takeStatus = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) grpcMessage = decodeURIComponent(String(h['grpc-message']));
    };
    req.on('response', (h) => {
      httpStatus = Number(h[':status'] ?? 0);
      takeStatus(h);
    });
    req.on('trailers', takeStatus);
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('error', (e) => finish({ ok: false, message: `health rpc failed: ${e.message}` }));
    req.on('end', () => {
      if (httpStatus !== 200) return finish({ ok: false, message: `health rpc failed: HTTP status ${httpStatus}` });
      if (grpcStatus === '12')
        return finish({
          ok: false,
          message: `this server does not implement the grpc health protocol (grpc.health.v1.Health): ${grpcMessage ?? 'unimplemented'}`,
        });
      if (grpcStatus !== '0')
        return finish({
          ok: false,
          message: `health rpc failed: rpc error: code = ${grpcStatus ?? 'missing'} desc = ${grpcMessage ?? ''}`,
        });
      let status: number;
      try {
        status = decodeHealthCheckResponse(Buffer.concat(chunks));
      } catch (err) {
        return finish({ ok: false, message: errorMessage(err) });
      }
      if (status === 1) return finish({ ok: true, message: '' });
      finish({ ok: false, message: `service unhealthy (responded with ${JSON.stringify(GRPC_STATUS[status] ?? String(status))})` });
    });
    req.end(encodeHealthCheckRequest(service));
  });
}
