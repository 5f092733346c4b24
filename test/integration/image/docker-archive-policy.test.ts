/**
 * Issue 10: a docker-archive is judged by the signature policy before any of its layers is
 * copied. The archive is written by `skopeo copy … docker-archive:`; a policy that rejects the
 * docker-archive transport, or asks it for signatures it cannot carry, refuses the pull with
 * no layer blob (and no config) in the content store; the same archive under a policy that
 * accepts it by its transport scope is pulled whole.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testImageService } from '../../helpers/image-service.js';

const isRoot = process.getuid?.() === 0;
const script = fileURLToPath(new URL('../../../scripts/build-busybox-image.sh', import.meta.url));

describe.skipIf(!isRoot)('docker-archive: the policy decides before a layer is copied', () => {
  let base = '';
  let archive = '';

  beforeAll(async () => {
    base = await mkdtemp('/tmp/leftovers-dapolicy-');
    const layout = join(base, 'busybox');
    await execa(script, [layout, 'latest']);
    archive = join(base, 'busybox-docker.tar');
    await execa('skopeo', ['--insecure-policy', 'copy', `oci:${layout}:latest`, `docker-archive:${archive}:localhost/busybox:latest`], {
      timeout: 60_000,
    });
  });
  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  /** An image service whose policy.json gives the docker-archive transport these requirements (everything else accepted). */
  async function service(name: string, requirements: unknown[]) {
    const configDir = join(base, name, 'config');
    await mkdir(configDir, { recursive: true });
    const policy = { default: [{ type: 'insecureAcceptAnything' }], transports: { 'docker-archive': { '': requirements } } };
    await writeFile(join(configDir, 'policy.json'), JSON.stringify(policy));
    return testImageService({ stateDir: join(base, name, 'state'), configDir });
  }

  async function storedDigests(svc: ReturnType<typeof testImageService>): Promise<string[]> {
    const out: string[] = [];
    await svc.content.walk((i) => void out.push(i.digest));
    return out;
  }

  it('accepted by its transport scope: pulled and verified, layers and config stored', async () => {
    const svc = await service('accept', [{ type: 'insecureAcceptAnything' }]);
    const img = await svc.pull(`docker-archive:${archive}`);
    expect(img.layers).toHaveLength(1);
    expect(img.layers[0]?.digest).toBe(img.config.rootfs?.diff_ids[0]); // a plain tar layer: its digest is its DiffID
    const stored = await storedDigests(svc);
    expect(stored).toEqual(expect.arrayContaining([img.manifestDigest, img.configDigest, img.layers[0]!.digest]));
    expect((await svc.verify(img)).verified.policy?.scope).toBe('transports.docker-archive[""]');
  });

  it.each([
    ['rejects the transport', [{ type: 'reject' }], /images are rejected/],
    ['asks it for signatures', [{ type: 'signedBy', keyType: 'GPGKeys', keyData: 'AAAA' }], /docker-archive: images carry none/],
  ])('a policy that %s refuses the pull before any layer blob is written', async (name, requirements, message) => {
    const svc = await service(name.replace(/ /g, '-'), requirements);
    const err = await svc.pull(`docker-archive:${archive}`).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.code).toBe('PermissionDenied');
    expect(err?.message).toMatch(message);
    // what the pull left: the manifest berth wrote from the archive's index, nothing of the image itself
    const accepted = await service(`${name.replace(/ /g, '-')}-ref`, [{ type: 'insecureAcceptAnything' }]);
    const img = await accepted.pull(`docker-archive:${archive}`);
    expect(await storedDigests(svc)).toEqual([img.manifestDigest]);
    expect(await svc.get(`docker-archive:${archive}`)).toBeUndefined();
  });
});
