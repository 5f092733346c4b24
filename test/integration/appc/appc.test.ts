/**
 * appc images on the real host (issue 4): ACIs built by hand and compressed four ways, the
 * diamond with a whitelist, and meta discovery from a server on 127.0.0.1 (plain http for a
 * host marked insecure in registries.conf) with gpg-signed images verified against rkt's
 * trustedkeys layout; runs go through the real runtime (crun under conmon).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lstat, mkdir, mkdtemp, readFile, readlink, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BerthImageService } from '../../../src/image/index.js';
import { testImageService } from '../../helpers/image-service.js';
import type { RenderedImage } from '../../../src/image/types.js';
import { ConmonRuntime, readCriLog, resolveOciRuntime } from '../../../src/runtime/index.js';
import { Pod } from '../../../src/api/pod.js';
import { allowUnsigned, buildAci, makeGpgKey, sha512Of, trustKey, type Compression } from './aci-helpers.js';

const isRoot = process.getuid?.() === 0;
const PREFIX = 'berth-taci';

/** Every path below `root`, with a type letter: d, f, l. */
async function tree(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const n of (await readdir(join(root, rel))).sort()) {
    const p = rel ? `${rel}/${n}` : n;
    const st = await lstat(join(root, p));
    if (st.isDirectory()) out.push(`d ${p}`, ...(await tree(root, p)));
    else out.push(`${st.isSymbolicLink() ? 'l' : 'f'} ${p}`);
  }
  return out;
}

describe.skipIf(!isRoot)('appc images', () => {
  let tmp = '';
  let configDir = '';
  let svc: BerthImageService;
  let runtime: ConmonRuntime;
  let server: Server | undefined;
  let port = 0;
  const served = new Map<string, Buffer | string>();
  const ids: string[] = [];

  const newService = (extra: { discoveryPort?: number } = {}) => {
    return testImageService({
      stateDir: join(tmp, 'state'),
      configDir,
      ...(extra.discoveryPort ? { appcDiscoveryPort: extra.discoveryPort } : {}),
    });
  };

  /** Run the image's app once (appc exec) and return its output lines and exit code. */
  async function runOnce(img: RenderedImage, name: string, command?: string[]): Promise<{ exitCode: number; lines: string[] }> {
    const id = `${PREFIX}-${name}`;
    ids.push(id);
    const pod = Pod.parse({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'taci', namespace: 'default', uid: `uid-${id}` },
      spec: { containers: [{ name, image: img.reference, ...(command ? { command } : {}) }] },
    });
    const launch = {
      containerId: id,
      podUid: `uid-${id}`,
      namespace: 'default',
      podName: 'taci',
      appName: name,
      execution: 0,
      bundleDir: join(tmp, 'bundles', id),
      rootfsLower: img.rootfs,
      image: img.config.config ?? {},
      container: pod.spec.containers[0]!,
      pod,
      hostname: 'taci',
      logPath: join(tmp, 'logs', id, '0.log'),
    };
    try {
      await runtime.start(launch);
      const { exitCode } = await runtime.waitExit(id);
      const lines: string[] = [];
      for await (const l of readCriLog(launch.logPath)) lines.push(l);
      return { exitCode, lines };
    } finally {
      await runtime.remove(id);
    }
  }

  beforeAll(async () => {
    tmp = await mkdtemp(`/tmp/${PREFIX}-`);
    configDir = join(tmp, 'config');
    await mkdir(configDir, { recursive: true });
    svc = newService();
    const runDir = join(tmp, 'run');
    runtime = new ConmonRuntime({ runDir, ociRuntime: await resolveOciRuntime({ name: 'crun', runDir }), cgroupParent: PREFIX });
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const key = `${url.pathname}${url.searchParams.has('ac-discovery') ? '?ac-discovery=1' : ''}`;
      const body = served.get(key);
      if (body === undefined) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': key.endsWith('?ac-discovery=1') ? 'text/html' : 'application/octet-stream' }).end(body);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    for (const id of await runtime.list(PREFIX)) await runtime.remove(id).catch(() => undefined);
    await runtime.pruneCgroupParent().catch(() => undefined);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it.each<Compression>(['none', 'gzip', 'bzip2', 'xz'])(
    'pulls an ACI compressed with %s: image ID of the uncompressed tar, rendered, and it runs',
    async (c) => {
      await allowUnsigned(configDir, ['example.com/taci-hello']);
      const app = {
        exec: ['/bin/sh', '-c', 'echo hello from aci $AC_APP_NAME $(id -u):$(id -g) $(pwd) $GREETING container=$container'],
        user: 'nobody',
        group: 'nogroup',
        workingDirectory: '/tmp',
        environment: [{ name: 'GREETING', value: 'hi' }],
      };
      const { aci, tar } = await buildAci(join(tmp, `hello-${c}.aci`), {
        manifest: {
          acKind: 'ImageManifest',
          acVersion: '0.8.11',
          name: 'example.com/taci-hello',
          labels: [{ name: 'version', value: c }],
          app,
        },
        compression: c,
      });
      const id = `sha512-${await sha512Of(tar)}`;
      const pulled = await svc.pull(`aci:${aci}`);
      expect(pulled.appc?.imageId).toBe(id);
      expect(pulled.manifestDigest).toBe(`sha512:${id.slice(7)}`);
      expect(await svc.content.has(pulled.manifestDigest)).toBe(true);
      const rendered = await svc.render(pulled);
      expect((await stat(join(rendered.rootfs, 'bin/busybox'))).isFile()).toBe(true);
      expect(rendered.config.config).toMatchObject({ Entrypoint: app.exec, User: 'nobody:nogroup', WorkingDir: '/tmp' });
      if (c === 'gzip') {
        const r = await runOnce(rendered, 'hello');
        expect(r.exitCode).toBe(0);
        expect(r.lines).toContain('hello from aci hello 65534:65534 /tmp hi container=berth');
      }
    },
  );

  it('renders the diamond A→[B,C], B,C→[D] with a whitelist to exactly the tree appc gives', async () => {
    await allowUnsigned(configDir, ['example.com/taci-d']);
    const m = (name: string, extra: Record<string, unknown> = {}) => ({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: `example.com/taci-d/${name}`,
      ...extra,
    });
    const D = await buildAci(join(tmp, 'd.aci'), {
      manifest: m('d'),
      busybox: false,
      files: { 'etc/os': 'd', 'etc/d-only': 'd', 'junk/x': 'junk', 'lib/x': 'd' },
    });
    const dep = async (name: string, file: string) => ({
      imageName: `example.com/taci-d/${name}`,
      imageID: `sha512-${await sha512Of(file)}`,
    });
    const B = await buildAci(join(tmp, 'b.aci'), {
      manifest: m('b', { dependencies: [await dep('d', D.tar)] }),
      busybox: false,
      files: { 'etc/os': 'b', b: 'b' },
    });
    const C = await buildAci(join(tmp, 'c.aci'), {
      manifest: m('c', { dependencies: [await dep('d', D.tar)] }),
      busybox: false,
      files: { 'etc/os': 'c' },
      links: { lib: '/usr/lib' },
    });
    const A = await buildAci(join(tmp, 'a.aci'), {
      manifest: m('a', {
        dependencies: [await dep('b', B.tar), await dep('c', C.tar)],
        pathWhitelist: ['/a', '/b', '/etc', '/etc/os', '/etc/d-only', '/lib', '/lib/x'],
      }),
      busybox: false,
      files: { a: 'a' },
    });
    // dependencies come from the store: import them first, as `berth image pull aci:…` does
    for (const x of [D, B, C]) await svc.pull(`aci:${x.aci}`);
    const pulled = await svc.pull(`aci:${A.aci}`);
    expect(pulled.appc!.images.map((i) => i.name.split('/').pop()).reverse()).toEqual(['d', 'b', 'd', 'c', 'a']);
    const r = await svc.render(pulled);
    expect(await tree(r.rootfs)).toEqual(['f a', 'f b', 'd etc', 'f etc/d-only', 'f etc/os', 'l lib']);
    expect(await readFile(join(r.rootfs, 'etc/os'), 'utf8')).toBe('c');
    expect(await readlink(join(r.rootfs, 'lib'))).toBe('/usr/lib');
    // the same flattened list renders once: the key is the list of image IDs
    expect((await svc.render(await svc.pull(`aci:${A.aci}`))).rootfs).toBe(r.rootfs);
  });

  describe('discovery and trust', () => {
    const NAME = '127.0.0.1/taci/app';
    let goodKey: Awaited<ReturnType<typeof makeGpgKey>>;
    let otherKey: Awaited<ReturnType<typeof makeGpgKey>>;
    let disc: BerthImageService;

    beforeAll(async () => {
      await writeFile(join(configDir, 'registries.conf'), `[[registry]]\nlocation = "127.0.0.1:${port}"\ninsecure = true\n`);
      await writeFile(join(configDir, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
      goodKey = await makeGpgKey(tmp, 'berth-taci good <good@example.com>');
      otherKey = await makeGpgKey(tmp, 'berth-taci other <other@example.com>');
      await trustKey(configDir, '127.0.0.1/taci', goodKey.fingerprint, goodKey.armoredPublic);
      const page = (prefix: string) => `<!DOCTYPE html><html><head><title>taci</title>
<meta name="ac-discovery" content="${prefix} http://127.0.0.1:${port}/images/{name}-{version}-{os}-{arch}.{ext}">
<meta name="ac-discovery" content="${prefix} http://127.0.0.1:${port}/never/{name}-{unknownlabel}.{ext}">
<meta name="ac-discovery-pubkeys" content="${prefix} http://127.0.0.1:${port}/pubkeys.gpg">
</head><body></body></html>`;
      // no page at /taci/app: discovery falls back to the parent path /taci
      served.set('/taci?ac-discovery=1', page('127.0.0.1/taci'));
      served.set('/pubkeys.gpg', goodKey.armoredPublic);
      const publish = async (name: string, version: string, key: typeof goodKey, exec: string[]) => {
        const file = join(tmp, `${name.replace(/\W/g, '_')}-${version}.aci`);
        await buildAci(file, {
          manifest: {
            acKind: 'ImageManifest',
            acVersion: '0.8.11',
            name,
            labels: [
              { name: 'version', value: version },
              { name: 'os', value: 'linux' },
              { name: 'arch', value: 'amd64' },
            ],
            app: { exec, user: '0', group: '0' },
          },
        });
        const asc = await key.sign(file);
        const base = `/images/${name}-${version}-linux-amd64`;
        served.set(`${base}.aci`, await readFile(file));
        served.set(`${base}.aci.asc`, await readFile(asc));
        return base;
      };
      await publish(NAME, '1.0.0', goodKey, ['/bin/echo', 'discovered and verified']);
      // an image whose dependency is found by discovery too (not in the store)
      const baseFile = join(tmp, 'taci-base.aci');
      await buildAci(baseFile, {
        manifest: {
          acKind: 'ImageManifest',
          acVersion: '0.8.11',
          name: '127.0.0.1/taci/base',
          labels: [
            { name: 'version', value: '2.0.0' },
            { name: 'os', value: 'linux' },
            { name: 'arch', value: 'amd64' },
          ],
        },
        files: { 'etc/base-marker': 'from base' },
      });
      await goodKey.sign(baseFile);
      served.set('/images/127.0.0.1/taci/base-2.0.0-linux-amd64.aci', await readFile(baseFile));
      served.set('/images/127.0.0.1/taci/base-2.0.0-linux-amd64.aci.asc', await readFile(`${baseFile}.asc`));
      const topFile = join(tmp, 'taci-top.aci');
      await buildAci(topFile, {
        manifest: {
          acKind: 'ImageManifest',
          acVersion: '0.8.11',
          name: '127.0.0.1/taci/top',
          labels: [
            { name: 'version', value: '1.0.0' },
            { name: 'os', value: 'linux' },
            { name: 'arch', value: 'amd64' },
          ],
          dependencies: [{ imageName: '127.0.0.1/taci/base', labels: [{ name: 'version', value: '2.0.0' }] }],
          app: { exec: ['/bin/cat', '/etc/base-marker'], user: '0', group: '0' },
        },
        busybox: false,
      });
      await goodKey.sign(topFile);
      served.set('/files/top.aci', await readFile(topFile));
      served.set('/files/top.aci.asc', await readFile(`${topFile}.asc`));
      await publish('127.0.0.1/taci/other', '1.0.0', otherKey, ['/bin/true']);
      const tampered = await publish(NAME, '6.6.6', goodKey, ['/bin/true']);
      const bytes = Buffer.from(served.get(`${tampered}.aci`) as Buffer);
      bytes[bytes.length - 100]! ^= 0xff;
      served.set(`${tampered}.aci`, bytes);
      disc = newService({ discoveryPort: port });
    });

    it('finds the image by name and labels (parent-path fallback), verifies it with the trusted key, and runs it', async () => {
      const pulled = await disc.pull(`appc:${NAME}:1.0.0,os=linux,arch=amd64`);
      expect(pulled.appc?.name).toBe(NAME);
      const { verified } = await disc.verify(pulled);
      expect(verified.appc?.[0]).toMatchObject({ mode: 'signed', fingerprint: goodKey.fingerprint, prefix: '127.0.0.1/taci' });
      const r = await runOnce(await disc.render(pulled), 'disc');
      expect(r).toEqual({ exitCode: 0, lines: ['discovered and verified'] });
      // a second pull of the name is served from the store (no download)
      const page = served.get('/taci?ac-discovery=1')!;
      served.delete('/taci?ac-discovery=1');
      try {
        expect((await disc.pull(`appc:${NAME}:1.0.0`)).appc?.imageId).toBe(pulled.appc!.imageId);
      } finally {
        served.set('/taci?ac-discovery=1', page);
      }
    });

    it('pulls aci+http:// from an insecure host, resolving its dependency by discovery', async () => {
      const pulled = await disc.pull(`aci+http://127.0.0.1:${port}/files/top.aci`);
      expect(pulled.appc!.images.map((i) => i.name)).toEqual(['127.0.0.1/taci/top', '127.0.0.1/taci/base']);
      const r = await disc.render(pulled);
      expect(await readFile(join(r.rootfs, 'etc/base-marker'), 'utf8')).toBe('from base');
    });

    it('refuses plain http for a host that is not marked insecure, and any host marked blocked', async () => {
      const saved = await readFile(join(configDir, 'registries.conf'));
      await writeFile(join(configDir, 'registries.conf'), '');
      try {
        await expect(disc.pull(`aci+http://127.0.0.1:${port}/files/top.aci`)).rejects.toThrow(
          /plain http is allowed only for hosts marked insecure/,
        );
        await writeFile(
          join(configDir, 'registries.conf'),
          `[[registry]]\nlocation = "127.0.0.1:${port}"\ninsecure = true\nblocked = true\n`,
        );
        await expect(disc.pull(`aci+http://127.0.0.1:${port}/files/top.aci`)).rejects.toThrow(/blocked in registries.conf/);
      } finally {
        await writeFile(join(configDir, 'registries.conf'), saved);
      }
    });

    it('refuses an image signed by a key that is not trusted for its name, saying why', async () => {
      const err = await disc.pull('appc:127.0.0.1/taci/other:1.0.0').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PermissionDenied' });
      expect((err as Error).message).toMatch(/not trusted for this name/);
      expect(await disc.get('appc:127.0.0.1/taci/other')).toBeUndefined();
    });

    it('refuses a tampered ACI: the signature does not match', async () => {
      const err = await disc.pull(`appc:${NAME}:6.6.6`).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PermissionDenied' });
      expect((err as Error).message).toMatch(/bad signature/);
    });

    it('refuses an unsigned local ACI unless policy.json allows its prefix under appc', async () => {
      const { aci } = await buildAci(join(tmp, 'unsigned.aci'), {
        manifest: { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/taci-unsigned' },
        busybox: false,
      });
      const err = await svc.pull(`aci:${aci}`).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PermissionDenied' });
      expect((err as Error).message).toMatch(/is not signed/);
      await allowUnsigned(configDir, ['example.com']);
      expect((await svc.pull(`aci:${aci}`)).appc?.name).toBe('example.com/taci-unsigned');
      await writeFile(join(configDir, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    });

    it('fetches a key from ac-discovery-pubkeys only with the confirmed fingerprint', async () => {
      await expect(disc.discoverAppcKey(NAME, undefined)).rejects.toMatchObject({ code: 'PermissionDenied' });
      await expect(disc.discoverAppcKey(NAME, otherKey.fingerprint)).rejects.toThrow(/no key with fingerprint/);
      const k = await disc.discoverAppcKey(NAME, goodKey.fingerprint.toUpperCase());
      expect(k).toMatchObject({ prefix: '127.0.0.1/taci', fingerprint: goodKey.fingerprint });
    });
  });
});
