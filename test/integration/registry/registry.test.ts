/**
 * Pulls from a real registry (docker-registry 2.8 on 127.0.0.1), images pushed by skopeo:
 * by tag and digest, OCI and Docker schema2, a multi-platform index, Basic and token auth
 * (with wrong credentials), a corrupted blob, resume after an interrupted pull, 10
 * concurrent pulls (each blob downloaded once, counted in the registry's log), and the
 * signedBy trust policy with signatures made by `skopeo copy --sign-by`.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform } from '../../../src/image/index.js';
import { testImageService } from '../../helpers/image-service.js';
import type { BerthImageService } from '../../../src/image/index.js';
import { freePort, gpgKey, htpasswdFile, pushOci, skopeo, startRegistry, startTokenIssuer, stopAll, stopGpgAgent } from './helpers.js';
import type { RunningRegistry, TokenIssuer } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const script = fileURLToPath(new URL('../../../scripts/build-busybox-image.sh', import.meta.url));

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function blobGets(reg: RunningRegistry, repo: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const r of await reg.requests()) {
    const m = new RegExp(`^/v2/${repo}/blobs/(sha256:[a-f0-9]{64})$`).exec(r.uri);
    if (m && r.method === 'GET' && r.status === 200) counts.set(m[1] as string, (counts.get(m[1] as string) ?? 0) + 1);
  }
  return counts;
}

describe.skipIf(!isRoot)('registry pulls against docker-registry (root)', () => {
  let base: string;
  let layout: string;
  let reg: RunningRegistry;
  let configDir: string;
  let manifestDigest: string;
  const services: BerthImageService[] = [];

  const service = (name: string, extra: { configDir?: string; env?: NodeJS.ProcessEnv } = {}) => {
    const s = testImageService({
      stateDir: join(base, 'state', name),
      configDir: extra.configDir ?? configDir,
      env: extra.env ?? { HOME: join(base, 'home') },
    });
    services.push(s);
    return s;
  };

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'berth-treg-'));
    layout = join(base, 'busybox');
    manifestDigest = (await execa(script, [layout, 'latest'])).stdout.trim();
    reg = await startRegistry(join(base, 'reg'));
    configDir = join(base, 'config');
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'registries.conf'), `[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`);
    await pushOci(`${layout}:latest`, `${reg.host}/berth-treg/busybox:v1`);
    await pushOci(`${layout}:latest`, `${reg.host}/berth-treg/busybox:v2s2`, undefined, ['--format', 'v2s2']);
  });
  afterAll(async () => {
    await stopAll();
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('pulls by tag and by digest and renders the same tree as the oci: layout', async () => {
    const svc = service('tag');
    const img = await svc.pull(`${reg.host}/berth-treg/busybox:v1`);
    expect(img.manifestDigest).toBe(manifestDigest);
    expect(img.config.config?.Cmd).toEqual(['/bin/sh']);
    const byDigest = await svc.pull(`${reg.host}/berth-treg/busybox@${manifestDigest}`);
    expect(byDigest.manifestDigest).toBe(manifestDigest);
    const tagAndDigest = await svc.pull(`${reg.host}/berth-treg/busybox:nonexistent@${manifestDigest}`);
    expect(tagAndDigest.manifestDigest).toBe(manifestDigest);
    const r = await svc.render(img);
    const { stdout } = await execa(join(r.rootfs, 'bin/busybox'), ['echo', 'ok']);
    expect(stdout).toBe('ok');
    const refs = JSON.parse(await readFile(join(base, 'state', 'tag', 'images', 'refs.json'), 'utf8'));
    expect(refs.images[`${reg.host}/berth-treg/busybox:v1`].manifestDigest).toBe(manifestDigest);
  });

  it('pulls a Docker schema2 image', async () => {
    const svc = service('v2s2');
    const img = await svc.pull(`${reg.host}/berth-treg/busybox:v2s2`);
    expect(img.layers[0]?.mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
    const r = await svc.render(img);
    expect((await readdir(join(r.rootfs, 'bin'))).includes('busybox')).toBe(true);
  });

  it('a missing tag and an unreachable registry give clear errors', async () => {
    const svc = service('errors');
    await expect(svc.pull(`${reg.host}/berth-treg/busybox:nope`)).rejects.toMatchObject({
      code: 'NotFound',
      message: expect.stringContaining('MANIFEST_UNKNOWN'),
    });
    const port = await freePort();
    await expect(service('errors2', { configDir: join(base, 'none') }).pull(`127.0.0.1:${port}/x/y:1`)).rejects.toMatchObject({
      code: 'Unavailable',
      message: expect.stringContaining('insecure in registries.conf'),
    });
  });

  it('registries.conf: mirrors first (a dead mirror is skipped), unqualified-search-registries, blocked prefixes', async () => {
    const empty = await startRegistry(join(base, 'reg-empty'));
    const dead = await freePort();
    const dir = join(base, 'mirror-conf');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'registries.conf'),
      [
        `unqualified-search-registries = ["${empty.host}", "${reg.host}"]`,
        '[[registry]]',
        'prefix = "primary.berth-treg.test/mirrored"',
        `location = "${empty.host}/berth-treg"`,
        'insecure = true',
        '[[registry.mirror]]',
        `location = "127.0.0.1:${dead}"`,
        'insecure = true',
        '[[registry.mirror]]',
        `location = "${reg.host}/berth-treg"`,
        'insecure = true',
        '[[registry]]',
        `location = "${reg.host}"`,
        'insecure = true',
        '[[registry]]',
        `location = "${empty.host}"`,
        'insecure = true',
        '[[registry]]',
        'prefix = "blocked.berth-treg.test"',
        'blocked = true',
        '',
      ].join('\n'),
    );
    const svc = service('mirror', { configDir: dir });
    // primary.berth-treg.test/mirrored/busybox → mirror <reg>/berth-treg/busybox (the empty primary never asked)
    const viaMirror = await svc.pull('primary.berth-treg.test/mirrored/busybox:v1');
    expect(viaMirror.manifestDigest).toBe(manifestDigest);
    expect((await empty.requests()).filter((r) => r.uri.includes('/manifests/'))).toEqual([]);
    // an unqualified name: the first search registry lacks it, the second has it
    const searched = await svc.pull('berth-treg/busybox:v1');
    expect(searched.manifestDigest).toBe(manifestDigest);
    await expect(svc.pull('blocked.berth-treg.test/x/y:1')).rejects.toMatchObject({
      code: 'PermissionDenied',
      message: expect.stringContaining('blocked'),
    });
    await empty.stop();
  });

  it('chooses the host platform from a multi-platform index', async () => {
    // An index whose first entry is another platform: the host's must be chosen, not the first.
    const multi = join(base, 'multi');
    await cp(layout, multi, { recursive: true });
    const blobs = join(multi, 'blobs', 'sha256');
    const index = JSON.parse(await readFile(join(multi, 'index.json'), 'utf8'));
    const hostDesc = index.manifests[0];
    const manifest = JSON.parse(await readFile(join(blobs, hostDesc.digest.slice(7)), 'utf8'));
    const config = JSON.parse(await readFile(join(blobs, manifest.config.digest.slice(7)), 'utf8'));
    const host = hostPlatform();
    const other = host.architecture === 'arm64' ? 'amd64' : 'arm64';
    const otherConfig = Buffer.from(JSON.stringify({ ...config, architecture: other }));
    await writeFile(join(blobs, sha(otherConfig).slice(7)), otherConfig);
    const otherManifest = Buffer.from(
      JSON.stringify({ ...manifest, config: { ...manifest.config, digest: sha(otherConfig), size: otherConfig.length } }),
    );
    await writeFile(join(blobs, sha(otherManifest).slice(7)), otherManifest);
    const idx = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: sha(otherManifest),
            size: otherManifest.length,
            platform: { os: 'linux', architecture: other },
          },
          {
            mediaType: hostDesc.mediaType,
            digest: hostDesc.digest,
            size: hostDesc.size,
            platform: { os: 'linux', architecture: host.architecture },
          },
        ],
      }),
    );
    await writeFile(join(blobs, sha(idx).slice(7)), idx);
    await writeFile(
      join(multi, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.index.v1+json',
            digest: sha(idx),
            size: idx.length,
            annotations: { 'org.opencontainers.image.ref.name': 'multi' },
          },
        ],
      }),
    );
    await skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${multi}:multi`, `docker://${reg.host}/berth-treg/multi:v1`]);
    const svc = service('multi');
    const img = await svc.pull(`${reg.host}/berth-treg/multi:v1`);
    expect(img.manifestDigest).toBe(hostDesc.digest);
    const refs = JSON.parse(await readFile(join(base, 'state', 'multi', 'images', 'refs.json'), 'utf8'));
    expect(refs.images[`${reg.host}/berth-treg/multi:v1`].sourceDigest).toBe(sha(idx));
  });

  it('10 concurrent pulls download each blob once; an interrupted pull resumes from stored blobs', async () => {
    await pushOci(`${layout}:latest`, `${reg.host}/berth-treg/conc:v1`);
    const svc = service('conc');
    const refs = [`${reg.host}/berth-treg/conc:v1`, `${reg.host}/berth-treg/conc@${manifestDigest}`];
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => svc.pull(refs[i % 2] as string)));
    expect(new Set(results.map((r) => r.manifestDigest))).toEqual(new Set([manifestDigest]));
    const gets = await blobGets(reg, 'berth-treg/conc');
    const img = results[0]!;
    expect([...gets.keys()].sort()).toEqual([img.configDigest, ...img.layers.map((l) => l.digest)].sort());
    for (const n of gets.values()) expect(n).toBe(1);
    // Resume: lose the layer (as if the pull had died before it), pull again: only it is fetched.
    await svc.content.delete(img.layers[0]!.digest);
    await svc.pull(refs[0] as string);
    const after = await blobGets(reg, 'berth-treg/conc');
    expect(after.get(img.layers[0]!.digest)).toBe(2);
    expect(after.get(img.configDigest)).toBe(1);
  });

  it('refuses a corrupted blob in the registry and renders nothing', async () => {
    await pushOci(`${layout}:latest`, `${reg.host}/berth-treg/corrupt:v1`);
    const manifest = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8'));
    const layer = manifest.layers[0].digest.slice(7) as string;
    const data = join(reg.root, 'docker', 'registry', 'v2', 'blobs', 'sha256', layer.slice(0, 2), layer, 'data');
    const original = await readFile(data);
    const bad = Buffer.from(original);
    bad[bad.length - 100] = (bad[bad.length - 100] as number) ^ 0xff;
    await writeFile(data, bad);
    try {
      const svc = service('corrupt');
      await expect(svc.pull(`${reg.host}/berth-treg/corrupt:v1`)).rejects.toMatchObject({
        code: 'FailedPrecondition',
        message: expect.stringContaining('digest mismatch'),
      });
      expect(await svc.content.has(manifest.layers[0].digest)).toBe(false);
      expect(await svc.listRendered()).toEqual([]);
      expect(await svc.listImages()).toEqual([]);
    } finally {
      await writeFile(data, original);
    }
  });

  describe('Basic auth (htpasswd)', () => {
    let basic: RunningRegistry;
    beforeAll(async () => {
      const dir = join(base, 'basic');
      await mkdir(dir, { recursive: true });
      await htpasswdFile(join(dir, 'htpasswd'), 'berth', 's3cret');
      basic = await startRegistry(dir, { htpasswd: join(dir, 'htpasswd') });
      await pushOci(`${layout}:latest`, `${basic.host}/berth-treg/private:v1`, 'berth:s3cret');
    });

    const conf = async (name: string, auth?: string) => {
      const dir = join(base, `basic-conf-${name}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'registries.conf'), `[[registry]]\nlocation = "${basic.host}"\ninsecure = true\n`);
      if (auth)
        await writeFile(
          join(dir, 'auth.json'),
          JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from(auth).toString('base64') } } }),
        );
      return dir;
    };

    it('pulls with credentials from auth.json', async () => {
      const img = await service('basic-ok', { configDir: await conf('ok', 'berth:s3cret') }).pull(`${basic.host}/berth-treg/private:v1`);
      expect(img.manifestDigest).toBe(manifestDigest);
    });

    it('pulls with credentials from REGISTRY_AUTH_FILE and ~/.docker/config.json', async () => {
      const file = join(base, 'authfile.json');
      await writeFile(
        file,
        JSON.stringify({ auths: { [`${basic.host}/berth-treg`]: { auth: Buffer.from('berth:s3cret').toString('base64') } } }),
      );
      const a = await service('basic-env', {
        configDir: await conf('env'),
        env: { REGISTRY_AUTH_FILE: file, HOME: join(base, 'nohome') },
      }).pull(`${basic.host}/berth-treg/private:v1`);
      expect(a.manifestDigest).toBe(manifestDigest);
      const home = join(base, 'dockerhome');
      await mkdir(join(home, '.docker'), { recursive: true });
      await writeFile(
        join(home, '.docker', 'config.json'),
        JSON.stringify({ auths: { [`http://${basic.host}`]: { auth: Buffer.from('berth:s3cret').toString('base64') } } }),
      );
      const b = await service('basic-docker', { configDir: await conf('docker'), env: { HOME: home } }).pull(
        `${basic.host}/berth-treg/private:v1`,
      );
      expect(b.manifestDigest).toBe(manifestDigest);
    });

    it('wrong or missing credentials give a clear PermissionDenied', async () => {
      await expect(
        service('basic-bad', { configDir: await conf('bad', 'berth:wrong') }).pull(`${basic.host}/berth-treg/private:v1`),
      ).rejects.toMatchObject({
        code: 'PermissionDenied',
        message: expect.stringMatching(/UNAUTHORIZED.*refused the credentials/),
      });
      await expect(
        service('basic-none', { configDir: await conf('none') }).pull(`${basic.host}/berth-treg/private:v1`),
      ).rejects.toMatchObject({
        code: 'PermissionDenied',
        message: expect.stringContaining('requires credentials'),
      });
    });
  });

  describe('token auth', () => {
    let tok: RunningRegistry;
    let issuer: TokenIssuer;
    beforeAll(async () => {
      const dir = join(base, 'token');
      issuer = await startTokenIssuer(join(dir, 'issuer'), { berth: 'tokpass' });
      tok = await startRegistry(dir, { token: issuer });
      await pushOci(`${layout}:latest`, `${tok.host}/berth-treg/tok:v1`, 'berth:tokpass');
    });

    const conf = async (name: string, auth: string) => {
      const dir = join(base, `tok-conf-${name}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'registries.conf'), `[[registry]]\nlocation = "${tok.host}"\ninsecure = true\n`);
      await writeFile(join(dir, 'auth.json'), JSON.stringify({ auths: { [tok.host]: { auth: Buffer.from(auth).toString('base64') } } }));
      return dir;
    };

    it('follows the Bearer challenge with the credentials and the pull scope', async () => {
      const before = issuer.seen.length;
      const img = await service('tok-ok', { configDir: await conf('ok', 'berth:tokpass') }).pull(`${tok.host}/berth-treg/tok:v1`);
      expect(img.manifestDigest).toBe(manifestDigest);
      const asked = issuer.seen.slice(before);
      expect(asked.length).toBe(1); // one token, cached for every request of the pull
      expect(asked[0]).toMatchObject({ account: 'berth', scope: ['repository:berth-treg/tok:pull'], authorized: true });
    });

    it('wrong credentials: the token server refuses, with a clear message', async () => {
      await expect(
        service('tok-bad', { configDir: await conf('bad', 'berth:nope') }).pull(`${tok.host}/berth-treg/tok:v1`),
      ).rejects.toMatchObject({
        code: 'PermissionDenied',
        message: expect.stringContaining('refused user "berth"'),
      });
    });
  });

  describe('signedBy policy with skopeo --sign-by signatures', () => {
    let trusted: { home: string; fingerprint: string; publicKey: string };
    let other: { home: string; fingerprint: string; publicKey: string };
    let sigDir: string;
    let pconf: string;
    beforeAll(async () => {
      trusted = await gpgKey(join(base, 'gpg-trusted'), 'berth-treg trusted <trusted@berth.test>');
      other = await gpgKey(join(base, 'gpg-other'), 'berth-treg other <other@berth.test>');
      sigDir = join(base, 'sigstore');
      const rd = join(base, 'skopeo-registries.d');
      await mkdir(rd, { recursive: true });
      await writeFile(join(rd, 'default.yaml'), `default-docker:\n  lookaside: file://${sigDir}\n  lookaside-staging: file://${sigDir}\n`);
      const sign = (key: typeof trusted, dest: string) =>
        skopeo(
          [
            '--registries.d',
            rd,
            'copy',
            '--dest-tls-verify=false',
            '--sign-by',
            key.fingerprint,
            `oci:${layout}:latest`,
            `docker://${reg.host}/${dest}`,
          ],
          { GNUPGHOME: key.home },
        );
      await sign(trusted, 'berth-treg/signed/app:v1');
      await pushOci(`${layout}:latest`, `${reg.host}/berth-treg/signed/unsigned:v1`);
      await sign(other, 'berth-treg/signed/other:v1');
      // "signed for another digest": a valid signature by the trusted key, of another manifest, put where this image's would be
      const otherLayout = join(base, 'busybox-other');
      await execa(script, [otherLayout, 'latest']);
      await cp(join(layout, 'blobs'), join(otherLayout, 'blobs'), { recursive: true });
      const idx = JSON.parse(await readFile(join(otherLayout, 'index.json'), 'utf8'));
      const m = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8'));
      const m2 = Buffer.from(JSON.stringify({ ...m, annotations: { 'org.opencontainers.image.description': 'another manifest' } }));
      await writeFile(join(otherLayout, 'blobs', 'sha256', sha(m2).slice(7)), m2);
      idx.manifests[0] = { ...idx.manifests[0], digest: sha(m2), size: m2.length };
      await writeFile(join(otherLayout, 'index.json'), JSON.stringify(idx));
      await skopeo(
        [
          '--registries.d',
          rd,
          'copy',
          '--dest-tls-verify=false',
          '--sign-by',
          trusted.fingerprint,
          `oci:${otherLayout}:latest`,
          `docker://${reg.host}/berth-treg/signed/wrongdigest:v1`,
        ],
        { GNUPGHOME: trusted.home },
      );
      await pushOci(`${layout}:latest`, `${reg.host}/berth-treg/signed/wrongdigest:v1`);
      await mkdir(join(sigDir, `berth-treg/signed/wrongdigest@sha256=${manifestDigest.slice(7)}`), { recursive: true });
      await cp(
        join(sigDir, `berth-treg/signed/wrongdigest@sha256=${sha(m2).slice(7)}`, 'signature-1'),
        join(sigDir, `berth-treg/signed/wrongdigest@sha256=${manifestDigest.slice(7)}`, 'signature-1'),
      );
      pconf = join(base, 'policy-conf');
      await mkdir(join(pconf, 'registries.d'), { recursive: true });
      await writeFile(join(pconf, 'registries.conf'), `[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`);
      await writeFile(
        join(pconf, 'registries.d', 'sigs.yaml'),
        `docker:\n  ${reg.host}/berth-treg/signed:\n    lookaside: file://${sigDir}\n`,
      );
      await writeFile(
        join(pconf, 'policy.json'),
        JSON.stringify({
          default: [{ type: 'insecureAcceptAnything' }],
          transports: {
            docker: { [`${reg.host}/berth-treg/signed`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: trusted.publicKey }] },
          },
        }),
      );
    });
    afterAll(async () => {
      if (trusted) await stopGpgAgent(trusted.home);
      if (other) await stopGpgAgent(other.home);
    });

    it('an image signed with the trusted key is pulled and renders', async () => {
      const svc = service('sig-ok', { configDir: pconf });
      const img = await svc.pull(`${reg.host}/berth-treg/signed/app:v1`);
      expect(img.manifestDigest).toBe(manifestDigest);
      const v = await svc.verify(img);
      await svc.render(v);
      expect(v.verified.policy?.signedBy).toEqual([trusted.fingerprint.toLowerCase()]);
    });

    it.each([
      ['unsigned', 'no signature found'],
      ['other', 'not made by a trusted key'],
      ['wrongdigest', `is for manifest sha256:`],
    ])('%s: refused before any layer is downloaded, nothing rendered', async (name, why) => {
      const svc = service(`sig-${name}`, { configDir: pconf });
      await expect(svc.pull(`${reg.host}/berth-treg/signed/${name}:v1`)).rejects.toMatchObject({
        code: 'PermissionDenied',
        message: expect.stringContaining(why),
      });
      const m = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8'));
      expect(await svc.content.has(m.layers[0].digest)).toBe(false);
      expect(await svc.listRendered()).toEqual([]);
      expect(await svc.listImages()).toEqual([]);
    });

    it('the signed identity must match the reference (matchRepoDigestOrExact)', async () => {
      // app:v1's signature names app:v1; the same manifest pushed as app:v2 is not covered by it
      await pushOci(`${layout}:latest`, `${reg.host}/berth-treg/signed/app:v2`);
      const svc = service('sig-ident', { configDir: pconf });
      await expect(svc.pull(`${reg.host}/berth-treg/signed/app:v2`)).rejects.toMatchObject({
        code: 'PermissionDenied',
        message: expect.stringContaining('does not match'),
      });
      // by digest, the repository is enough
      const img = await svc.pull(`${reg.host}/berth-treg/signed/app@${manifestDigest}`);
      expect(img.manifestDigest).toBe(manifestDigest);
    });
  });
});
