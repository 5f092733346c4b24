/**
 * Real peers for the registry tests, all on 127.0.0.1: `docker-registry serve` (distribution
 * 2.8) with no auth, htpasswd Basic auth or token auth, a token issuer written here (RS256
 * JWTs signed with a key whose certificate the registry trusts through `rootcertbundle`),
 * skopeo to push, gpg to sign. Every process is tracked and killed by PID in `stopAll`.
 */
import { createHash, createSign } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import type { ResultPromise } from 'execa';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface RunningRegistry {
  host: string;
  root: string;
  logPath: string;
  pid: number;
  /** log lines of completed requests: method and uri */
  requests(): Promise<Array<{ method: string; uri: string; status: number }>>;
  stop(): Promise<void>;
}

const procs = new Set<ResultPromise>();
const servers = new Set<Server>();

async function waitUp(url: string, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      return;
    } catch {
      if (Date.now() - t0 > ms) throw new Error(`${url} did not come up`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function startRegistry(
  dir: string,
  auth?: { htpasswd?: string; token?: { realm: string; service: string; issuer: string; certPath: string } },
  fixedPort?: number,
): Promise<RunningRegistry> {
  await mkdir(dir, { recursive: true });
  const port = fixedPort ?? (await freePort());
  const root = join(dir, 'storage');
  const logPath = join(dir, 'registry.log');
  let authYaml = '';
  if (auth?.htpasswd) authYaml = `auth:\n  htpasswd: {realm: berth-treg, path: ${auth.htpasswd}}\n`;
  if (auth?.token) {
    authYaml = `auth:\n  token: {realm: "${auth.token.realm}", service: ${auth.token.service}, issuer: ${auth.token.issuer}, rootcertbundle: ${auth.token.certPath}}\n`;
  }
  const cfg = join(dir, 'config.yml');
  await writeFile(
    cfg,
    `version: 0.1\nlog: {level: info, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: ${root}}, delete: {enabled: true}}\nhttp: {addr: 127.0.0.1:${port}}\n${authYaml}`,
  );
  const p = execa('docker-registry', ['serve', cfg], {
    stdin: 'ignore',
    stdout: { file: logPath, append: true },
    stderr: { file: logPath, append: true },
    reject: false,
  });
  procs.add(p);
  const pid = p.pid as number;
  await waitUp(`http://127.0.0.1:${port}/v2/`);
  return {
    host: `127.0.0.1:${port}`,
    root,
    logPath,
    pid,
    async requests() {
      const text = await readFile(logPath, 'utf8');
      return text
        .split('\n')
        .filter((l) => l.includes('msg="response completed"'))
        .map((l) => ({
          method: /http\.request\.method=(\S+)/.exec(l)?.[1] ?? '',
          uri: /http\.request\.uri="?([^"\s]+)/.exec(l)?.[1] ?? '',
          status: Number(/http\.response\.status=(\d+)/.exec(l)?.[1] ?? 0),
        }));
    },
    async stop() {
      if (!p.killed && p.exitCode === null) p.kill('SIGTERM');
      await p;
      procs.delete(p);
    },
  };
}

/** Kill every registry and close every token server this file started (by PID). */
export async function stopAll(): Promise<void> {
  for (const p of procs) {
    try {
      if (p.pid) process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await p.catch(() => undefined);
  }
  procs.clear();
  for (const s of servers) await new Promise((r) => s.close(() => r(undefined)));
  servers.clear();
}

export async function skopeo(args: string[], env?: Record<string, string>): Promise<void> {
  await execa('skopeo', ['--insecure-policy', ...args], { env, timeout: 60_000 });
}

export async function pushOci(layout: string, dest: string, creds?: string, extra: string[] = []): Promise<void> {
  await skopeo([
    'copy',
    '--dest-tls-verify=false',
    ...(creds ? ['--dest-creds', creds] : []),
    ...extra,
    `oci:${layout}`,
    `docker://${dest}`,
  ]);
}

/** libtrust's key id of a certificate's public key (what distribution matches a JWT `kid` against). */
function libtrustKeyId(spkiDer: Buffer): string {
  const sum = createHash('sha256').update(spkiDer).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of sum) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return (out.match(/.{1,4}/g) ?? []).join(':');
}

export interface TokenIssuer {
  realm: string;
  service: string;
  issuer: string;
  certPath: string;
  /** token requests seen: account and scope */
  seen: Array<{ account?: string; scope: string[]; authorized: boolean }>;
}

/** A token server (distribution token spec) checking Basic credentials `user:pass`. */
export async function startTokenIssuer(dir: string, users: Record<string, string>): Promise<TokenIssuer> {
  await mkdir(dir, { recursive: true });
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  await execa('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '2',
    '-subj',
    '/CN=berth-treg-issuer',
  ]);
  const { createPrivateKey, X509Certificate } = await import('node:crypto');
  const key = createPrivateKey(await readFile(keyPath));
  const cert = new X509Certificate(await readFile(certPath));
  const kid = libtrustKeyId(cert.publicKey.export({ type: 'spki', format: 'der' }));
  const service = 'berth-treg';
  const issuer = 'berth-treg-issuer';
  const seen: TokenIssuer['seen'] = [];
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scope = url.searchParams.getAll('scope');
    const auth = req.headers.authorization ?? '';
    let account: string | undefined;
    let ok = true;
    if (auth.startsWith('Basic ')) {
      const [u, p] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      account = u;
      ok = u !== undefined && users[u] === p;
    } else ok = false;
    seen.push({ ...(account ? { account } : {}), scope, authorized: ok });
    if (!ok) {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = scope.map((s) => {
      const [type, name, actions] = s.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    });
    const header = b64({ alg: 'RS256', typ: 'JWT', kid });
    const claims = b64({
      iss: issuer,
      sub: account,
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: `${now}-${Math.random()}`,
      access,
    });
    const sig = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key).toString('base64url');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token: `${header}.${claims}.${sig}`, expires_in: 300 }));
  });
  servers.add(server);
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { realm: `http://127.0.0.1:${port}/token`, service, issuer, certPath, seen };
}

export async function htpasswdFile(path: string, user: string, pass: string): Promise<void> {
  const r = await execa('htpasswd', ['-Bbn', user, pass]);
  await writeFile(path, `${r.stdout}\n`);
}

/** A throwaway GNUPGHOME with one fresh key; returns its fingerprint and the exported public key path. */
export async function gpgKey(home: string, uid: string): Promise<{ home: string; fingerprint: string; publicKey: string }> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  const env = { GNUPGHOME: home };
  await execa('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', uid, 'default', 'default', 'never'], { env });
  const list = await execa('gpg', ['--batch', '--with-colons', '--list-keys', uid], { env });
  const fpr =
    list.stdout
      .split('\n')
      .find((l) => l.startsWith('fpr:'))
      ?.split(':')[9] ?? '';
  const publicKey = join(home, `${fpr}.pub.gpg`);
  await execa('gpg', ['--batch', '--export', '--output', publicKey, fpr], { env });
  return { home, fingerprint: fpr, publicKey };
}

export async function stopGpgAgent(home: string): Promise<void> {
  await execa('gpgconf', ['--kill', 'all'], { env: { GNUPGHOME: home }, reject: false });
}
