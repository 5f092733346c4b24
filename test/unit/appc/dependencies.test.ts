/** Dependency resolution from the store of imported ACIs: labels, imageID, size, cycles. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/index.js';
import { importAci } from '../../../src/image/appc/import.js';
import { AppcIndex } from '../../../src/image/appc/index-store.js';
import { FsContentStore } from '../../../src/image/content-store.js';
import type { BerthImageService } from '../../../src/image/index.js';
import { testImageService } from '../../helpers/image-service.js';
import { imageIdOf, makeAci, manifest } from './helpers.js';

let dir: string;
let svc: BerthImageService;
let stateDir: string;
let configDir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-taci-deps-'));
  configDir = join(dir, 'config');
  await mkdir(configDir);
  await writeFile(
    join(configDir, 'policy.json'),
    JSON.stringify({ default: [{ type: 'reject' }], transports: { appc: { 'example.com': [{ type: 'insecureAcceptAnything' }] } } }),
  );
  stateDir = join(dir, 'state');
  svc = testImageService({ stateDir, configDir });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function aci(file: string, name: string, extra: Record<string, unknown> = {}): Promise<{ path: string; id: string; size: number }> {
  const buf = await makeAci(manifest(name, extra), [{ name: 'rootfs/x', content: name }]);
  const path = join(dir, file);
  await writeFile(path, buf);
  return { path, id: imageIdOf(buf), size: buf.length };
}

describe('dependencies from the store', () => {
  it('resolves by name and labels (the newest match), by imageID prefix, and enforces size', async () => {
    const v1 = await aci('base1.aci', 'example.com/base', { labels: [{ name: 'version', value: '1' }] });
    const v2 = await aci('base2.aci', 'example.com/base', { labels: [{ name: 'version', value: '2' }] });
    await svc.pull(`aci:${v1.path}`);
    await svc.pull(`aci:${v2.path}`);
    const byLabel = await aci('app1.aci', 'example.com/app', {
      dependencies: [{ imageName: 'example.com/base', labels: [{ name: 'version', value: '1' }] }],
    });
    expect((await svc.pull(`aci:${byLabel.path}`)).appc!.images[1]!.imageId).toBe(v1.id);
    const byId = await aci('app2.aci', 'example.com/app', {
      dependencies: [{ imageName: 'example.com/base', imageID: v2.id.slice(0, 7 + 40), size: v2.size }],
    });
    expect((await svc.pull(`aci:${byId.path}`)).appc!.images[1]!.imageId).toBe(v2.id);
    const badSize = await aci('app3.aci', 'example.com/app', {
      dependencies: [{ imageName: 'example.com/base', imageID: v2.id, size: v2.size - 1 }],
    });
    await expect(svc.pull(`aci:${badSize.path}`)).rejects.toThrow(/size \d+ bytes, the manifest says/);
    const badName = await aci('app4.aci', 'example.com/app', { dependencies: [{ imageName: 'example.com/other', imageID: v2.id }] });
    await expect(svc.pull(`aci:${badName.path}`)).rejects.toMatchObject({ code: 'FailedPrecondition' });
  });

  it('stops a dependency cycle through names', async () => {
    const a = await aci('cyc-a.aci', 'example.com/cyc-a', { dependencies: [{ imageName: 'example.com/cyc-b' }] });
    const b = await aci('cyc-b.aci', 'example.com/cyc-b', { dependencies: [{ imageName: 'example.com/cyc-a' }] });
    // import both without resolving (a pull resolves dependencies): import the files directly
    const store = new FsContentStore(stateDir);
    const ctx = { configDir, store, index: new AppcIndex(stateDir, store), log: silentLogger() };
    await importAci({ file: a.path, signature: undefined, source: a.path }, ctx);
    await importAci({ file: b.path, signature: undefined, source: b.path }, ctx);
    await expect(svc.pull(`aci:${a.path}`)).rejects.toThrow(/more than 256 dependencies \(or a dependency cycle\)/);
  });

  it('imagePullPolicy: IfNotPresent and Never use what was imported from the same file; Never refuses the rest', async () => {
    const x = await aci('policy.aci', 'example.com/policy');
    const ref = `aci:${x.path}`;
    await expect(svc.pull(ref, { pullPolicy: 'Never' })).rejects.toThrow(/ErrImageNeverPull/);
    const first = await svc.pull(ref);
    await rm(x.path);
    expect((await svc.pull(ref, { pullPolicy: 'IfNotPresent' })).appc!.imageId).toBe(first.appc!.imageId);
    expect((await svc.pull(ref, { pullPolicy: 'Never' })).appc!.imageId).toBe(first.appc!.imageId);
    await expect(svc.pull(ref, { pullPolicy: 'Always' })).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('refuses an image for another platform', async () => {
    const other = await aci('arm.aci', 'example.com/arm', {
      labels: [
        { name: 'os', value: 'linux' },
        { name: 'arch', value: process.arch === 'arm64' ? 'amd64' : 'aarch64' },
      ],
    });
    await expect(svc.pull(`aci:${other.path}`)).rejects.toThrow(/this host is linux/);
  });
});
