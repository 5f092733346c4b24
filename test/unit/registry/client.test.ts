/**
 * The registry client against an in-process node:http "registry" on 127.0.0.1: challenge
 * parsing, the Bearer token flow (DST-08..10), Basic, redirects without Authorization
 * (DST-07), Retry-After, Docker-Content-Digest and digest checks (DST-04/06), the error
 * document (DST-12), and one download per digest for concurrent pulls.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsContentStore } from '../../../src/image/content-store.js';
import { checkRealm, fetchToken, parseChallenges, TokenCache } from '../../../src/image/registry/auth.js';
import { RegistryClient } from '../../../src/image/registry/client.js';
import { registryError, retryAfterMs } from '../../../src/image/registry/http.js';
import { BlobFetcher, pullFromRegistry, verifyManifestDigest } from '../../../src/image/registry/pull.js';
import { tempDirs } from './tmp.js';

const tmp = tempDirs();

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('WWW-Authenticate challenges', () => {
  it('parses Bearer with quoted params, several challenges, and Basic', () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' },
      },
    ]);
    expect(parseChallenges('Basic realm="Registry Realm", Bearer realm="https://x/t",error="insufficient_scope"')).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://x/t', error: 'insufficient_scope' } },
    ]);
    expect(parseChallenges('Bearer realm="a\\"b", service=unquoted')).toEqual([
      { scheme: 'bearer', params: { realm: 'a"b', service: 'unquoted' } },
    ]);
    expect(parseChallenges(undefined)).toEqual([]);
  });

  it('DST-11: the realm must be https unless the registry is insecure', () => {
    expect(checkRealm('https://auth.example.com/token', false).host).toBe('auth.example.com');
    expect(() => checkRealm('http://auth.example.com/token', false)).toThrow(/must use https/);
    expect(checkRealm('http://127.0.0.1:1/token', true).protocol).toBe('http:');
    expect(() => checkRealm('not a url', true)).toThrow(/not a URL/);
  });
});

describe('registry errors (DST-12) and Retry-After', () => {
  it.each([
    [
      401,
      { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
      'PermissionDenied',
      'UNAUTHORIZED: authentication required',
    ],
    [404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }, 'NotFound', 'MANIFEST_UNKNOWN'],
    [404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] }, 'NotFound', 'NAME_UNKNOWN'],
    [400, { errors: [{ code: 'TAG_INVALID', message: 'legacy' }] }, 'InvalidArgument', 'TAG_INVALID'],
    [429, { errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }, 'Unavailable', 'TOOMANYREQUESTS'],
    [503, '<html>gateway</html>', 'Unavailable', 'HTTP 503'],
    [500, 'plain text failure', 'Unavailable', 'plain text failure'],
    [403, '', 'PermissionDenied', 'HTTP 403'],
  ])('%i %j → %s', (status, body, code, text) => {
    const err = registryError('x', status, {}, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
    expect(err.code).toBe(code);
    expect(err.message).toContain(text);
  });

  it('Retry-After as seconds or a date, bounded', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs('999999')).toBe(60_000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 5_000)).toBe(5000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });

  it('manifest digests: the asked digest and Docker-Content-Digest must match the body', () => {
    const body = Buffer.from('{"a":1}');
    expect(verifyManifestDigest(body, undefined, undefined, 'x')).toBe(sha(body));
    expect(verifyManifestDigest(body, sha(body), sha(body), 'x')).toBe(sha(body));
    expect(() => verifyManifestDigest(body, sha('other'), undefined, 'x')).toThrow(expect.objectContaining({ code: 'FailedPrecondition' }));
    expect(() => verifyManifestDigest(body, undefined, sha('other'), 'x')).toThrow(/Docker-Content-Digest/);
  });
});

interface FakeRegistry {
  host: string;
  blobHost: string;
  seen: Array<{ path: string; auth?: string; server: 'registry' | 'blobs' }>;
  tokenRequests: Array<{ scope: string[]; auth?: string; account?: string }>;
  busy: number;
}

describe('client against an in-process registry', () => {
  let reg: FakeRegistry;
  const servers: Server[] = [];
  const layer = gzipSync(Buffer.from('not really a tar, but bytes'));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha('x')] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
    }),
  );
  const corruptLayer = Buffer.from(layer);
  corruptLayer[5] = (corruptLayer[5] as number) ^ 0xff;

  const listen = (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
    new Promise<string>((resolve) => {
      const s = createServer(handler);
      servers.push(s);
      s.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(s.address() as AddressInfo).port}`));
    });

  beforeAll(async () => {
    reg = { host: '', blobHost: '', seen: [], tokenRequests: [], busy: 0 };
    reg.blobHost = await listen((req, res) => {
      reg.seen.push({ path: req.url ?? '', server: 'blobs', ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
      const d = (req.url ?? '').split('/').pop();
      if (d === sha(layer)) {
        res.writeHead(200, { 'Content-Length': layer.length });
        if (req.url?.includes('/slow/')) {
          res.write(layer.subarray(0, 4));
          setTimeout(() => res.end(layer.subarray(4)), 300);
          return;
        }
        res.end(req.url?.includes('corrupt') ? corruptLayer : layer);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    reg.host = await listen((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const auth = req.headers.authorization;
      reg.seen.push({ path: url.pathname, server: 'registry', ...(auth ? { auth } : {}) });
      if (url.pathname === '/token-get-only') {
        res.writeHead(req.method === 'POST' ? 404 : 200, { 'Content-Type': 'application/json' });
        res.end(req.method === 'POST' ? '' : JSON.stringify({ token: 'T-anon' }));
        return;
      }
      if (url.pathname === '/token' && req.method === 'POST') {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          const form = new URLSearchParams(body);
          reg.tokenRequests.push({ scope: form.getAll('scope'), auth: `refresh:${form.get('refresh_token')}` });
          const ok = form.get('grant_type') === 'refresh_token' && form.get('refresh_token') === 'R1';
          res.writeHead(ok ? 200 : 401, { 'Content-Type': 'application/json' });
          res.end(ok ? JSON.stringify({ access_token: 'T1', expires_in: 300 }) : '{"errors":[{"code":"UNAUTHORIZED"}]}');
        });
        return;
      }
      if (url.pathname === '/token') {
        const basic = auth?.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : undefined;
        reg.tokenRequests.push({
          scope: url.searchParams.getAll('scope'),
          ...(basic ? { auth: basic } : {}),
          ...(url.searchParams.get('account') ? { account: url.searchParams.get('account')! } : {}),
        });
        if (basic !== 'u:p') {
          res.writeHead(401, { 'Content-Type': 'application/json' });
          res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ access_token: 'T1', expires_in: 300 }));
        return;
      }
      if (auth !== 'Bearer T1') {
        res.writeHead(401, {
          'WWW-Authenticate': `Bearer realm="http://${reg.host}/token",service="fake"`,
          'Content-Type': 'application/json',
        });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
      if (url.pathname === '/v2/') {
        res.writeHead(200);
        res.end('{}');
        return;
      }
      const m = /^\/v2\/(.+)\/(manifests|blobs)\/(.+)$/.exec(url.pathname);
      if (!m) {
        res.writeHead(404);
        res.end();
        return;
      }
      const [, repo, kind, ref] = m as unknown as [string, string, string, string];
      if (kind === 'manifests') {
        if (!(req.headers.accept ?? '').includes('application/vnd.oci.image.manifest.v1+json')) {
          res.writeHead(404, { 'Content-Type': 'application/json' });
          res.end(
            '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"OCI manifest found, but accept header does not support OCI manifests"}]}',
          );
          return;
        }
        if (ref === 'busy' && reg.busy++ < 1) {
          res.writeHead(429, { 'Retry-After': '0', 'Content-Type': 'application/json' });
          res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
          return;
        }
        if (ref === 'v1' || ref === 'busy' || ref === sha(manifest) || ref === 'baddigest') {
          res.writeHead(200, {
            'Content-Type': 'application/vnd.oci.image.manifest.v1+json; charset=utf-8',
            'Docker-Content-Digest': ref === 'baddigest' ? sha('nope') : sha(manifest),
          });
          res.end(manifest);
          return;
        }
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
        return;
      }
      if (ref === sha(config)) {
        res.writeHead(200);
        res.end(config);
        return;
      }
      if (ref === sha(layer)) {
        // blob storage elsewhere: a redirect to another host (port)
        res.writeHead(307, {
          Location: `http://${reg.blobHost}/${repo.includes('corrupt') ? 'corrupt' : repo.includes('slow') ? 'slow' : 'ok'}/${ref}`,
        });
        res.end();
        return;
      }
      res.writeHead(404);
      res.end();
    });
  });
  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(() => r(undefined)));
  });

  const client = (
    repo = 'ns/app',
    creds: { username: string; password: string } | undefined = { username: 'u', password: 'p' },
    tokens = new TokenCache(),
  ) =>
    new RegistryClient(
      { host: reg.host, insecure: true, repository: repo },
      { tokens, credentials: async () => creds, sleep: async () => undefined },
    );

  it('follows the token flow once, then pulls manifest, config and the redirected layer without leaking Authorization', async () => {
    const store = new FsContentStore(await tmp());
    const before = reg.tokenRequests.length;
    const img = await pullFromRegistry(
      [client()],
      { raw: `${reg.host}/ns/app:v1`, tag: 'v1' },
      { store, blobs: new BlobFetcher(store), platform: { os: 'linux', architecture: 'amd64' } },
    );
    expect(img.manifestDigest).toBe(sha(manifest));
    expect(img.sourceDigest).toBe(sha(manifest));
    expect(reg.tokenRequests.slice(before)).toEqual([{ scope: ['repository:ns/app:pull'], auth: 'u:p', account: 'u' }]);
    const blobGets = reg.seen.filter((s) => s.server === 'blobs');
    expect(blobGets.length).toBeGreaterThan(0);
    for (const g of blobGets) expect(g.auth).toBeUndefined();
    expect(await store.has(sha(layer))).toBe(true);
    expect(await store.has(sha(manifest))).toBe(true);
  });

  it('an identity token is exchanged with a POST (refresh_token grant); a GET-only token server is asked with GET', async () => {
    const tokens = new TokenCache();
    const c = new RegistryClient(
      { host: reg.host, insecure: true, repository: 'ns/app' },
      { tokens, credentials: async () => ({ identityToken: 'R1' }) },
    );
    expect((await c.getManifest('v1')).mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(reg.tokenRequests.at(-1)).toEqual({ scope: ['repository:ns/app:pull'], auth: 'refresh:R1' });
    const t = await fetchToken(
      { scheme: 'bearer', params: { realm: `http://${reg.host}/token-get-only`, service: 'fake' } },
      ['repository:x:pull'],
      { identityToken: 'R1' },
      { insecure: true },
    );
    expect(t).toEqual({ token: 'T-anon', expiresIn: 60 });
  });

  it('wrong credentials: PermissionDenied naming the user', async () => {
    await expect(client('ns/app', { username: 'u', password: 'bad' }).getManifest('v1')).rejects.toMatchObject({
      code: 'PermissionDenied',
      message: expect.stringContaining('refused user "u"'),
    });
  });

  it('honours Retry-After on 429', async () => {
    const m = await client().getManifest('busy');
    expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
  });

  it('refuses a Docker-Content-Digest that does not match, and a missing tag is NotFound', async () => {
    const store = new FsContentStore(await tmp());
    const ctx = { store, blobs: new BlobFetcher(store), platform: { os: 'linux', architecture: 'amd64' } };
    await expect(pullFromRegistry([client()], { raw: 'x', tag: 'baddigest' }, ctx)).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: expect.stringContaining('Docker-Content-Digest'),
    });
    await expect(pullFromRegistry([client()], { raw: 'x', tag: 'nope' }, ctx)).rejects.toMatchObject({
      code: 'NotFound',
      message: expect.stringContaining('MANIFEST_UNKNOWN: manifest unknown'),
    });
  });

  it('a corrupted blob is refused and not stored', async () => {
    const store = new FsContentStore(await tmp());
    await expect(
      pullFromRegistry(
        [client('ns/corrupt')],
        { raw: 'x', tag: 'v1' },
        { store, blobs: new BlobFetcher(store), platform: { os: 'linux', architecture: 'amd64' } },
      ),
    ).rejects.toMatchObject({ code: 'FailedPrecondition', message: expect.stringContaining('digest mismatch') });
    expect(await store.has(sha(layer))).toBe(false);
  });

  it('a shared download canceled by its first requester is fetched again for the others', async () => {
    const store = new FsContentStore(await tmp());
    const blobs = new BlobFetcher(store);
    const ac = new AbortController();
    const ctx = { store, blobs, platform: { os: 'linux', architecture: 'amd64' } };
    const seen = () => reg.seen.filter((s) => s.server === 'blobs' && s.path.includes('/slow/')).length;
    const before = seen();
    const first = pullFromRegistry([client('ns/slow')], { raw: 'x', tag: 'v1' }, { ...ctx, signal: ac.signal });
    const second = pullFromRegistry([client('ns/slow')], { raw: 'x', tag: 'v1' }, ctx);
    while (seen() === before) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await expect(first).rejects.toMatchObject({ code: 'Canceled' });
    expect((await second).manifestDigest).toBe(sha(manifest));
    expect(await store.has(sha(layer))).toBe(true);
  });

  it('concurrent pulls share one download per digest; the policy hook sees the manifest before any blob', async () => {
    const store = new FsContentStore(await tmp());
    const blobs = new BlobFetcher(store);
    const tokens = new TokenCache();
    const before = reg.seen.filter((s) => s.server === 'blobs').length;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        pullFromRegistry(
          [client('ns/app', { username: 'u', password: 'p' }, tokens)],
          { raw: 'x', tag: 'v1' },
          { store, blobs, platform: { os: 'linux', architecture: 'amd64' } },
        ),
      ),
    );
    expect(reg.seen.filter((s) => s.server === 'blobs').length - before).toBe(1);
    expect(blobs.downloads).toBe(2); // config + layer

    const store2 = new FsContentStore(await tmp());
    await expect(
      pullFromRegistry(
        [client()],
        { raw: 'x', tag: 'v1' },
        {
          store: store2,
          blobs: new BlobFetcher(store2),
          platform: { os: 'linux', architecture: 'amd64' },
          checkTopLevel: async () => {
            throw Object.assign(new Error('refused by policy'), { code: 'PermissionDenied' });
          },
        },
      ),
    ).rejects.toThrow('refused by policy');
    expect(await store2.has(sha(config))).toBe(false);
    expect(await store2.has(sha(layer))).toBe(false);
  });
});
