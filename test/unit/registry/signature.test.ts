/**
 * Simple signing (containers-signature(5)) and policy evaluation, with keys and signatures
 * made in-process by openpgp: payload shape, digest and identity checks, wrong keys, and
 * the requirement types.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/image/config/policy.js';
import type { SignedIdentity } from '../../../src/image/config/policy.js';
import { parseImageReference } from '../../../src/image/reference.js';
import { checkPolicy } from '../../../src/image/signature/policy-check.js';
import { identityMatches, parsePayload, readPublicKeys, verifyImageSignature } from '../../../src/image/signature/simple-signing.js';
import { tempDirs } from './tmp.js';

const tmp = tempDirs();

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function payload(ref: string, digest: string, extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': ref },
        image: { 'docker-manifest-digest': digest },
        type: 'atomic container signature',
        ...extra,
      },
      optional: { creator: 'test' },
    }),
  );
}

async function sign(body: Buffer, key: openpgp.PrivateKey): Promise<Uint8Array> {
  return openpgp.sign({ message: await openpgp.createMessage({ binary: body }), signingKeys: key, format: 'binary' });
}

describe('simple signing', () => {
  let trusted: { priv: openpgp.PrivateKey; pub: openpgp.Key; armored: string };
  let other: { priv: openpgp.PrivateKey; pub: openpgp.Key; armored: string };
  const mk = async (name: string) => {
    const k = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name }], format: 'armored' });
    const priv = await openpgp.readPrivateKey({ armoredKey: k.privateKey });
    return { priv, pub: priv.toPublic(), armored: k.publicKey };
  };
  beforeAll(async () => {
    trusted = await mk('berth-treg trusted');
    other = await mk('berth-treg other');
  });

  const expected = (image: string, rule: SignedIdentity = { type: 'matchRepoDigestOrExact' }, manifestDigest = D1) => ({
    image,
    manifestDigest,
    signedIdentity: rule,
  });

  it('accepts a signature by a trusted key for this digest and identity', async () => {
    const sig = await sign(payload('reg.io/ns/app:v1', D1), trusted.priv);
    const ok = await verifyImageSignature(sig, [trusted.pub], expected('reg.io/ns/app:v1'));
    expect(ok).toMatchObject({ dockerReference: 'reg.io/ns/app:v1', manifestDigest: D1, fingerprint: trusted.pub.getFingerprint() });
  });

  it('refuses another key, another digest, another identity', async () => {
    const byOther = await sign(payload('reg.io/ns/app:v1', D1), other.priv);
    await expect(verifyImageSignature(byOther, [trusted.pub], expected('reg.io/ns/app:v1'))).rejects.toMatchObject({
      code: 'PermissionDenied',
      message: expect.stringContaining('trusted key'),
    });
    const otherDigest = await sign(payload('reg.io/ns/app:v1', D2), trusted.priv);
    await expect(verifyImageSignature(otherDigest, [trusted.pub], expected('reg.io/ns/app:v1'))).rejects.toMatchObject({
      code: 'PermissionDenied',
      message: expect.stringContaining(`is for manifest ${D2}`),
    });
    const otherIdentity = await sign(payload('reg.io/ns/evil:v1', D1), trusted.priv);
    await expect(verifyImageSignature(otherIdentity, [trusted.pub], expected('reg.io/ns/app:v1'))).rejects.toMatchObject({
      code: 'PermissionDenied',
      message: expect.stringContaining('does not match'),
    });
    await expect(verifyImageSignature(Buffer.from('garbage'), [trusted.pub], expected('reg.io/ns/app:v1'))).rejects.toMatchObject({
      code: 'PermissionDenied',
    });
  });

  it('payload shape: unknown critical fields, wrong type, missing identity are refused', () => {
    expect(parsePayload(payload('a.io/b:c', D1))).toMatchObject({ dockerReference: 'a.io/b:c', manifestDigest: D1 });
    expect(() => parsePayload(payload('a.io/b:c', D1, { extra: 1 }))).toThrow(/unknown critical field "extra"/);
    expect(() =>
      parsePayload(
        Buffer.from(
          JSON.stringify({ critical: { type: 'other', image: { 'docker-manifest-digest': D1 }, identity: { 'docker-reference': 'a' } } }),
        ),
      ),
    ).toThrow(/signature type/);
    expect(() =>
      parsePayload(
        Buffer.from(JSON.stringify({ critical: { type: 'atomic container signature', image: { 'docker-manifest-digest': D1 } } })),
      ),
    ).toThrow(/identity/);
    expect(() => parsePayload(Buffer.from('nope'))).toThrow(/not JSON/);
  });

  it.each([
    ['matchRepoDigestOrExact', 'reg.io/a:v1', 'reg.io/a:v1', true],
    ['matchRepoDigestOrExact', 'reg.io/a:v2', 'reg.io/a:v1', false],
    ['matchRepoDigestOrExact', `reg.io/a@${D1}`, 'reg.io/a:v1', true],
    ['matchRepoDigestOrExact', `reg.io/a@${D1}`, 'reg.io/b:v1', false],
    ['matchExact', 'reg.io/a:v1', 'reg.io/a:v1', true],
    ['matchExact', `reg.io/a@${D1}`, 'reg.io/a:v1', false],
    ['matchRepository', 'reg.io/a:v2', 'reg.io/a:v1', true],
    ['matchRepository', 'reg.io/a:v1', 'reg.io/b:v1', false],
    ['matchRepository', 'docker.io/library/busybox:1', 'busybox:2', true],
  ])('%s: image %s, signed %s → %s', (type, image, signed, ok) => {
    expect(identityMatches({ type } as SignedIdentity, image, signed)).toBe(ok);
  });

  it('exactReference, exactRepository, remapIdentity', () => {
    expect(identityMatches({ type: 'exactReference', dockerReference: 'reg.io/a:prod' }, 'mirror.io/a:v1', 'reg.io/a:prod')).toBe(true);
    expect(identityMatches({ type: 'exactRepository', dockerRepository: 'reg.io/a' }, 'mirror.io/x:v1', 'reg.io/a:any')).toBe(true);
    expect(
      identityMatches({ type: 'remapIdentity', prefix: 'mirror.io/ns', signedPrefix: 'reg.io/ns' }, 'mirror.io/ns/a:v1', 'reg.io/ns/a:v1'),
    ).toBe(true);
  });

  it('keys armored or binary', async () => {
    expect((await readPublicKeys(trusted.armored, 'x'))[0]?.getFingerprint()).toBe(trusted.pub.getFingerprint());
    expect((await readPublicKeys(trusted.pub.write(), 'x'))[0]?.getFingerprint()).toBe(trusted.pub.getFingerprint());
    await expect(readPublicKeys(Buffer.from('nope'), 'file.gpg')).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  describe('checkPolicy', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await tmp();
      await writeFile(join(dir, 'trusted.asc'), trusted.armored);
    });
    const policy = () =>
      parsePolicy(
        JSON.stringify({
          default: [{ type: 'insecureAcceptAnything' }],
          transports: {
            docker: {
              'reg.io/signed': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: join(dir, 'trusted.asc') }],
              'reg.io/banned': [{ type: 'reject' }],
            },
            oci: { '': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: join(dir, 'trusted.asc') }] },
          },
        }),
        join(dir, 'policy.json'),
      );
    const sigs = (by: Map<string, Uint8Array[]>) => async (name: string, digest: string, n: number) => {
      const list = by.get(`${name}@${digest}`) ?? [];
      const s = list[n - 1];
      return s ? Buffer.from(s) : undefined;
    };

    it('signedBy: any one good signature among several suffices', async () => {
      const bad = await sign(payload('reg.io/signed/app:v1', D1), other.priv);
      const good = await sign(payload('reg.io/signed/app:v1', D1), trusted.priv);
      const v = await checkPolicy(
        { policy: policy(), registriesD: { docker: {} }, fetchSignature: sigs(new Map([[`reg.io/signed/app@${D1}`, [bad, good]]])) },
        { ref: parseImageReference('reg.io/signed/app:v1'), manifestDigest: D1 },
      );
      expect(v).toEqual({ scope: 'reg.io/signed', requirements: ['signedBy'], signedBy: [trusted.pub.getFingerprint()] });
    });

    it('refusals name the scope and every reason', async () => {
      const ctx = { policy: policy(), registriesD: { docker: {} }, fetchSignature: sigs(new Map()) };
      await expect(checkPolicy(ctx, { ref: parseImageReference('reg.io/signed/app:v1'), manifestDigest: D1 })).rejects.toMatchObject({
        code: 'PermissionDenied',
        message: expect.stringMatching(/scope reg.io\/signed.*no signature found/),
      });
      await expect(checkPolicy(ctx, { ref: parseImageReference('reg.io/banned/x:1'), manifestDigest: D1 })).rejects.toMatchObject({
        code: 'PermissionDenied',
        message: expect.stringContaining('rejected'),
      });
      await expect(checkPolicy(ctx, { ref: parseImageReference('oci:/img/x:latest'), manifestDigest: D1 })).rejects.toMatchObject({
        code: 'PermissionDenied',
        message: expect.stringContaining('carry none'),
      });
      await expect(
        checkPolicy(
          { policy: policy(), registriesD: { docker: {} } },
          { ref: parseImageReference('reg.io/signed/app:v1'), manifestDigest: D1 },
        ),
      ).rejects.toMatchObject({
        code: 'PermissionDenied',
        message: expect.stringContaining('no lookaside is configured'),
      });
      expect((await checkPolicy(ctx, { ref: parseImageReference('quay.io/any:1'), manifestDigest: D1 })).requirements).toEqual([
        'insecureAcceptAnything',
      ]);
    });

    it('reads signatures from a file:// lookaside', async () => {
      const store = join(dir, 'sigstore');
      const { mkdir } = await import('node:fs/promises');
      await mkdir(join(store, `signed/app@sha256=${'1'.repeat(64)}`), { recursive: true });
      await writeFile(
        join(store, `signed/app@sha256=${'1'.repeat(64)}`, 'signature-1'),
        await sign(payload('reg.io/signed/app:v1', D1), trusted.priv),
      );
      const v = await checkPolicy(
        { policy: policy(), registriesD: { docker: { 'reg.io/signed': `file://${store}` } } },
        { ref: parseImageReference('reg.io/signed/app:v1'), manifestDigest: D1 },
      );
      expect(v.signedBy).toHaveLength(1);
    });
  });
});
