/** One pull policy for every transport, and no render before the verify step (the service over a FakeTransport). */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultPullPolicy, parseImageReference } from '../../../src/image/index.js';
import type { BerthImageService } from '../../../src/image/index.js';
import { FakeTransport } from '../../fakes/transport.js';
import { testImageService } from '../../helpers/image-service.js';
import { file, makeTar } from './helpers.js';

describe('pull policy and verify step (image service)', () => {
  let dir: string;
  let fake: FakeTransport;
  let svc: BerthImageService;
  const REF = 'reg.test/app:1';

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tpolicy-'));
    await mkdir(join(dir, 'config'));
    svc = testImageService({
      stateDir: join(dir, 'state'),
      configDir: join(dir, 'config'),
      transports: (store) => {
        fake = new FakeTransport('docker', store);
        return { docker: fake };
      },
    });
    fake.images.set(REF, { layers: [await makeTar([file('etc/hello', 'hi')])] });
  });
  const reject = () => writeFile(join(dir, 'config', 'policy.json'), JSON.stringify({ default: [{ type: 'reject' }] }));
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('defaults: Always for :latest and files, IfNotPresent for tags, digests and appc names', () => {
    expect(defaultPullPolicy(parseImageReference('reg.test/app'))).toBe('Always');
    expect(defaultPullPolicy(parseImageReference('reg.test/app:1'))).toBe('IfNotPresent');
    expect(defaultPullPolicy(parseImageReference(`reg.test/app@sha256:${'a'.repeat(64)}`))).toBe('IfNotPresent');
    expect(defaultPullPolicy(parseImageReference('oci:/x:1'))).toBe('Always');
    expect(defaultPullPolicy(parseImageReference('aci:/x.aci'))).toBe('Always');
    expect(defaultPullPolicy(parseImageReference('appc:example.com/app:1'))).toBe('IfNotPresent');
  });

  it('Never before any pull is ErrImageNeverPull; IfNotPresent reads the source once; Always every time', async () => {
    await expect(svc.pull(REF, { pullPolicy: 'Never' })).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: expect.stringContaining('ErrImageNeverPull'),
    });
    expect(fake.fetches).toBe(0);
    const first = await svc.pull(REF);
    expect((await svc.pull(REF, { pullPolicy: 'IfNotPresent' })).manifestDigest).toBe(first.manifestDigest);
    expect((await svc.pull(REF, { pullPolicy: 'Never' })).manifestDigest).toBe(first.manifestDigest);
    expect(fake.fetches).toBe(1);
    await svc.pull(REF, { pullPolicy: 'Always' });
    expect(fake.fetches).toBe(2);
    expect((await svc.get(REF))?.manifestDigest).toBe(first.manifestDigest);
  });

  it('verify re-hashes what is stored and applies the policy now; render verifies an image not verified yet', async () => {
    const img = await svc.pull(REF);
    const v = await svc.verify(img);
    expect(v.verified.sourceDigest).toBe(img.manifestDigest);
    // the policy changes after the pull: verify and render refuse, nothing is rendered
    await reject();
    await expect(svc.verify(img)).rejects.toMatchObject({ code: 'PermissionDenied' });
    await expect(svc.render(img)).rejects.toMatchObject({ code: 'PermissionDenied' });
    expect(await svc.listRendered()).toEqual([]);
  });

  it('the policy refuses at pull time before any layer is copied', async () => {
    await reject();
    await expect(svc.pull(REF)).rejects.toMatchObject({ code: 'PermissionDenied' });
    const stored: string[] = [];
    await svc.content.walk((i) => void stored.push(i.digest));
    expect(stored).toHaveLength(1); // the manifest the policy was asked about, nothing else
    expect(await svc.get(REF)).toBeUndefined();
  });
});
