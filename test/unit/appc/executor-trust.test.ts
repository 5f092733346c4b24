/** The ACE mapping of an ACI app into the OCI bundle, `/path` owners, and OpenPGP trust. */
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseImageManifest } from '../../../src/image/appc/manifest.js';
import { appcProcessConfig, resolveFileOwners } from '../../../src/image/appc/service.js';
import { ignoredIsolators } from '../../../src/image/appc/isolators.js';
import { checkAciTrust, normalizeFingerprint, pickConfirmedKey, trustedKeysFor } from '../../../src/image/appc/trust.js';
import { buildOciSpec } from '../../../src/runtime/oci-spec.js';
import type { AppLaunch } from '../../../src/runtime/types.js';
import { Pod } from '../../../src/api/pod.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-taci-exec-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const app = parseImageManifest(
  JSON.stringify({
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'example.com/app',
    app: {
      exec: ['worker', '--serve'],
      user: 'nobody',
      group: 'nogroup',
      supplementaryGids: [50, 60],
      workingDirectory: '/srv',
      environment: [{ name: 'MODE', value: 'fast' }],
      isolators: [
        { name: 'resource/cpu', value: { request: '250m', limit: '500m' } },
        { name: 'resource/memory', value: { limit: '64Mi' } },
        { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_BIND_SERVICE', 'CAP_KILL'] } },
        { name: 'os/linux/no-new-privileges', value: true },
        { name: 'os/linux/seccomp-remove-set', value: { set: ['reboot'] } },
      ],
    },
  }),
).app;

function launch(container: Record<string, unknown> = {}): AppLaunch {
  const pod = Pod.parse({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'worker-app', image: 'aci:/x.aci', ...container }] },
  });
  return {
    containerId: 'berth-x',
    podUid: 'u',
    namespace: 'default',
    podName: 'p',
    appName: 'worker-app',
    execution: 0,
    bundleDir: '/b',
    rootfsLower: '/r',
    image: appcProcessConfig(app),
    container: pod.spec.containers[0]!,
    pod,
    hostname: 'p',
    logPath: '/l',
  };
}
interface Spec {
  linux: { resources: { cpu?: unknown; memory?: unknown } };
  process: { capabilities: { bounding: string[] }; noNewPrivileges: boolean };
}
const userDb = { passwd: [{ name: 'nobody', uid: 65534, gid: 65534, home: '/' }], group: [{ name: 'nogroup', gid: 65534, members: [] }] };

describe('ACE executor mapping', () => {
  it('exec, user/group, working directory, environment with PATH, AC_APP_NAME and container', () => {
    const spec = buildOciSpec(launch(), { cgroupMode: 'v2', userDb });
    expect(spec.process.args).toEqual(['worker', '--serve']);
    expect(spec.process.user).toEqual({ uid: 65534, gid: 65534, additionalGids: [50, 60] });
    expect(spec.process.cwd).toBe('/srv');
    expect(spec.process.env).toEqual(
      expect.arrayContaining([
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'MODE=fast',
        'AC_APP_NAME=worker-app',
        'container=berth',
      ]),
    );
  });

  it('maps resource, capability and no-new-privileges isolators; reports the others as ignored', () => {
    const spec = buildOciSpec(launch(), { cgroupMode: 'v2', userDb }) as unknown as Spec;
    expect(spec.linux.resources.cpu).toEqual({ period: 100000, quota: 50000, shares: 256 });
    expect(spec.linux.resources.memory).toEqual({ limit: 64 * 1024 * 1024 });
    expect(spec.process.capabilities.bounding).toEqual(['CAP_NET_BIND_SERVICE', 'CAP_KILL']);
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(ignoredIsolators(app)).toEqual(['os/linux/seccomp-remove-set']);
  });

  it('the pod spec wins over isolators', () => {
    const spec = buildOciSpec(launch({ resources: { limits: { memory: '1Gi' } }, securityContext: { capabilities: { drop: ['ALL'] } } }), {
      cgroupMode: 'v2',
      userDb,
    }) as unknown as Spec;
    expect(spec.linux.resources.memory).toEqual({ limit: 1024 ** 3 });
    expect(spec.process.capabilities.bounding).toEqual([]);
  });

  it('a user or group given as /path is the owner of that file in the rendered tree', async () => {
    const root = join(dir, 'rootfs');
    await mkdir(join(root, 'srv'), { recursive: true });
    await writeFile(join(root, 'srv/owned'), 'x');
    const isRoot = process.getuid?.() === 0;
    if (isRoot) await chown(join(root, 'srv/owned'), 1234, 4321);
    const expected = isRoot ? '1234:4321' : `${process.getuid?.()}:${process.getgid?.()}`;
    expect(await resolveFileOwners(root, '/srv/owned', '/srv/owned')).toBe(expected);
    expect(await resolveFileOwners(root, 'nobody', '/srv/owned')).toBe(`nobody:${expected.split(':')[1]}`);
    await expect(resolveFileOwners(root, '/missing', '0')).rejects.toThrow(/no such file in the image/);
  });
});

describe('OpenPGP trust (rkt layout)', () => {
  let config: string;
  let aci: string;
  let good: { fingerprint: string; publicKey: string; privateKey: openpgp.PrivateKey };
  let other: { fingerprint: string; publicKey: string; privateKey: openpgp.PrivateKey };
  const sign = async (key: openpgp.PrivateKey, data: Uint8Array, armor = true) => {
    const message = await openpgp.createMessage({ binary: data });
    const sig = armor
      ? await openpgp.sign({ message, signingKeys: key, detached: true })
      : await openpgp.sign({ message, signingKeys: key, detached: true, format: 'binary' });
    return typeof sig === 'string' ? Buffer.from(sig) : Buffer.from(sig as Uint8Array);
  };
  const gen = async (email: string) => {
    const k = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ email }], format: 'object' });
    return { fingerprint: k.publicKey.getFingerprint(), publicKey: k.publicKey.armor(), privateKey: k.privateKey };
  };

  beforeAll(async () => {
    config = join(dir, 'config');
    good = await gen('good@example.com');
    other = await gen('other@example.com');
    await mkdir(join(config, 'trustedkeys/prefix.d/example.com/app'), { recursive: true });
    await writeFile(join(config, 'trustedkeys/prefix.d/example.com/app', good.fingerprint), good.publicKey);
    // a file named after another fingerprint than the key it holds is not trusted
    await mkdir(join(config, 'trustedkeys/root.d'), { recursive: true });
    await writeFile(join(config, 'trustedkeys/root.d', 'a'.repeat(40)), other.publicKey);
    aci = join(dir, 'x.aci');
    await writeFile(aci, Buffer.from('pretend this is an ACI'));
  });

  const check = (name: string, signature: Uint8Array | undefined, file = aci) =>
    checkAciTrust({ configDir: config, name, aciPath: file, signature, source: file });

  it('keys for a name: its prefixes by whole components, then root keys named by their fingerprint', async () => {
    expect((await trustedKeysFor(config, 'example.com/app/sub')).map((k) => k.prefix)).toEqual(['example.com/app']);
    expect(await trustedKeysFor(config, 'example.com/application')).toEqual([]);
  });

  it('accepts armored and binary signatures by a key trusted for a prefix of the name', async () => {
    const data = Buffer.from('pretend this is an ACI');
    expect(await check('example.com/app/sub', await sign(good.privateKey, data))).toMatchObject({
      mode: 'signed',
      fingerprint: good.fingerprint,
      prefix: 'example.com/app',
    });
    expect(await check('example.com/app', await sign(good.privateKey, data, false))).toMatchObject({ mode: 'signed' });
  });

  it('refuses: unsigned, untrusted signer, a key trusted for another prefix, tampered content', async () => {
    const data = Buffer.from('pretend this is an ACI');
    await expect(check('example.com/app', undefined)).rejects.toThrow(/is not signed/);
    await expect(check('example.com/app', await sign(other.privateKey, data))).rejects.toThrow(/not trusted for this name/);
    await expect(check('example.com/other', await sign(good.privateKey, data))).rejects.toMatchObject({ code: 'PermissionDenied' });
    const tampered = join(dir, 'tampered.aci');
    await writeFile(tampered, Buffer.from('pretend this is an ACJ'));
    await expect(check('example.com/app', await sign(good.privateKey, data), tampered)).rejects.toThrow(/bad signature/);
  });

  it('policy.json under transports.appc: insecureAcceptAnything lets unsigned images through, reject refuses even signed ones; the default does not apply', async () => {
    await writeFile(join(config, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    await expect(check('example.com/app', undefined)).rejects.toMatchObject({ code: 'PermissionDenied' });
    await writeFile(
      join(config, 'policy.json'),
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: { appc: { 'example.com': [{ type: 'insecureAcceptAnything' }], 'example.com/app/bad': [{ type: 'reject' }] } },
      }),
    );
    expect(await check('example.com/app', undefined)).toMatchObject({ mode: 'insecure' });
    await expect(check('example.com/app/bad', await sign(good.privateKey, Buffer.from('pretend this is an ACI')))).rejects.toThrow(
      /rejects/,
    );
    await rm(join(config, 'policy.json'));
  });

  it('a key from ac-discovery-pubkeys is taken only with the confirmed fingerprint', async () => {
    const spaced = good.fingerprint.toUpperCase().replace(/(.{4})/g, '$1 ');
    expect(normalizeFingerprint(spaced)).toBe(good.fingerprint);
    expect((await pickConfirmedKey(Buffer.from(good.publicKey), spaced, 'https://k')).fingerprint).toBe(good.fingerprint);
    await expect(pickConfirmedKey(Buffer.from(good.publicKey), undefined, 'https://k')).rejects.toMatchObject({ code: 'PermissionDenied' });
    await expect(pickConfirmedKey(Buffer.from(good.publicKey), other.fingerprint, 'https://k')).rejects.toThrow(
      /not the confirmed fingerprint/,
    );
  });
});
