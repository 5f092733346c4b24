/**
 * `berth image gc`: what pod records use is kept whatever its age; references pulled within
 * the grace period are kept; the rest goes with its blobs and rendered trees.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageGc } from '../../../src/cli/commands/image.js';
import { DEFAULTS, type GlobalOptions } from '../../../src/cli/globals.js';
import { testImageService } from '../../helpers/image-service.js';
import { dir, file, makeTar, writeImage, writeIndex } from '../image/helpers.js';
import { tempDirs } from './tmp.js';

const tmp = tempDirs();

const HOUR = 3_600_000;

describe('image gc', () => {
  it('keeps what pods use and what was pulled recently; collects the rest with its rendered tree', async () => {
    const root = await tmp();
    const state = join(root, 'state');
    const o = {
      ...DEFAULTS,
      specDir: [join(root, 'specs')],
      cniPluginDir: [],
      cniConfDir: [],
      stateDir: state,
      configDir: join(root, 'config'),
      runDir: join(root, 'run'),
      logDir: join(root, 'log'),
    } as unknown as GlobalOptions;
    const images: Record<string, Awaited<ReturnType<typeof writeImage>>> = {};
    for (const name of ['used', 'unused']) {
      const layout = join(root, name);
      images[name] = await writeImage(layout, { layers: [await makeTar([dir('etc'), file(`etc/${name}`, name)])] });
      await writeIndex(layout, [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: images[name].manifestDigest,
          size: images[name].manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': 'v1' },
        },
      ]);
    }
    const svc = testImageService({ stateDir: state, platform: { os: 'linux', architecture: 'amd64' } });
    const used = await svc.pull(`oci:${join(root, 'used')}:v1`);
    const unused = await svc.pull(`oci:${join(root, 'unused')}:v1`);
    await svc.render(used);
    await svc.render(unused);
    await mkdir(join(state, 'pods', 'uid-1'), { recursive: true });
    await writeFile(
      join(state, 'pods', 'uid-1', 'pod.json'),
      JSON.stringify({
        version: 1,
        uid: 'uid-1',
        key: 'default/p',
        pod: { metadata: { name: 'p' }, spec: { containers: [] } },
        apps: { main: { image: `oci:${join(root, 'used')}:v1`, imageDigest: used.manifestDigest, containerId: 'berth-x' } },
      }),
    );

    // within the grace period nothing goes
    const none = await imageGc(o, svc, HOUR, false);
    expect(none).toEqual({ blobs: [], bytes: 0, rendered: [], references: [] });

    // two hours later: the unused image goes (dry run first changes nothing)
    const later = Date.now() + 2 * HOUR;
    const dry = await imageGc(o, svc, HOUR, true, later);
    expect(dry.references).toEqual([`oci:${join(root, 'unused')}:v1`]);
    expect((await svc.listImages()).length).toBe(2);
    const r = await imageGc(o, svc, HOUR, false, later);
    expect(r.blobs.sort()).toEqual([images.unused!.manifestDigest, images.unused!.configDigest, ...images.unused!.layerDigests].sort());
    expect(r.rendered).toEqual([unused.manifestDigest.slice(7)]);
    expect((await svc.listImages()).map((i) => i.reference)).toEqual([`oci:${join(root, 'used')}:v1`]);
    expect(await svc.listRendered()).toEqual([used.manifestDigest.slice(7)]);
    for (const d of [used.manifestDigest, used.configDigest, ...used.layers.map((l) => l.digest)])
      expect(await svc.content.has(d)).toBe(true);
  });

  it('keeps the image of an image volume whatever its age', async () => {
    const root = await tmp();
    const state = join(root, 'state');
    const o = {
      ...DEFAULTS,
      specDir: [join(root, 'specs')],
      cniPluginDir: [],
      cniConfDir: [],
      stateDir: state,
      configDir: join(root, 'config'),
      runDir: join(root, 'run'),
      logDir: join(root, 'log'),
    } as unknown as GlobalOptions;
    const layout = join(root, 'vol');
    const img = await writeImage(layout, { layers: [await makeTar([dir('etc'), file('etc/vol', 'vol')])] });
    await writeIndex(layout, [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: img.manifestDigest,
        size: img.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': 'v1' },
      },
    ]);
    const svc = testImageService({ stateDir: state, platform: { os: 'linux', architecture: 'amd64' } });
    const ref = `oci:${layout}:v1`;
    await svc.render(await svc.pull(ref));
    await mkdir(join(state, 'pods', 'uid-2'), { recursive: true });
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: [], volumes: [{ name: 'v', image: { reference: ref } }] },
    };
    await writeFile(
      join(state, 'pods', 'uid-2', 'pod.json'),
      JSON.stringify({ version: 1, uid: 'uid-2', key: 'default/p', pod, apps: {} }),
    );
    const r = await imageGc(o, svc, HOUR, false, Date.now() + 2 * HOUR);
    expect(r).toEqual({ blobs: [], bytes: 0, rendered: [], references: [] });
    expect((await svc.listImages()).map((i) => i.reference)).toEqual([ref]);
  });

  it('collects nothing while a pod record cannot be read (the held pod may use any image)', async () => {
    const root = await tmp();
    const state = join(root, 'state');
    const o = {
      ...DEFAULTS,
      specDir: [join(root, 'specs')],
      cniPluginDir: [],
      cniConfDir: [],
      stateDir: state,
      configDir: join(root, 'config'),
      runDir: join(root, 'run'),
      logDir: join(root, 'log'),
    } as unknown as GlobalOptions;
    const layout = join(root, 'img');
    const img = await writeImage(layout, { layers: [await makeTar([dir('etc'), file('etc/x', 'x')])] });
    await writeIndex(layout, [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: img.manifestDigest,
        size: img.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': 'v1' },
      },
    ]);
    const svc = testImageService({ stateDir: state, platform: { os: 'linux', architecture: 'amd64' } });
    const ref = `oci:${layout}:v1`;
    await svc.pull(ref);
    await mkdir(join(state, 'pods', 'uid-3'), { recursive: true });
    await writeFile(join(state, 'pods', 'uid-3', 'pod.json'), '{"version":1,"uid":"uid-');
    await expect(imageGc(o, svc, HOUR, false, Date.now() + 2 * HOUR)).rejects.toMatchObject({ code: 'DataLoss' });
    expect((await svc.listImages()).map((i) => i.reference)).toEqual([ref]);
  });
});
