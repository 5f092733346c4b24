/**
 * The Transport contract against each real transport on real sources: a docker-registry on
 * 127.0.0.1:5071, an OCI layout, an OCI archive, a docker-archive written by skopeo, an ACI
 * file. Everything lives in one temp directory; the registry is stopped by PID.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { AppcImages } from '../../../src/image/appc/service.js';
import { FsContentStore, hostPlatform, parseImageReference } from '../../../src/image/index.js';
import { RegistrySource } from '../../../src/image/registry/source.js';
import { AppcTransport } from '../../../src/image/transport/appc.js';
import { DockerArchiveTransport } from '../../../src/image/transport/docker-archive.js';
import { OciLayoutTransport } from '../../../src/image/transport/oci-layout.js';
import { RefIndex } from '../../../src/image/transport/ref-index.js';
import { RegistryTransport } from '../../../src/image/transport/registry.js';
import type { Transport } from '../../../src/image/transport/types.js';
import { transportContract, type TransportHarness } from '../../contract/transport.js';
import { makeAci, manifest } from '../../unit/appc/helpers.js';
import { file, makeTar, tarDirectory, writeImage, writeIndex } from '../../unit/image/helpers.js';
import { pushOci, skopeo, startRegistry, stopAll, type RunningRegistry } from '../registry/helpers.js';

const PORT = 5071;
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('real transports', () => {
  let base = '';
  let configDir = '';
  let layout = '';
  let reg: RunningRegistry | undefined;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'berth-tcontract-'));
    configDir = join(base, 'config');
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'registries.conf'), `[[registry]]\nlocation = "127.0.0.1:${PORT}"\ninsecure = true\n`);
    await writeFile(
      join(configDir, 'policy.json'),
      JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }], transports: { appc: { '': [{ type: 'insecureAcceptAnything' }] } } }),
    );
    layout = join(base, 'layout');
    const layers = [await makeTar([file('etc/one', 'one')]), await makeTar([file('etc/two', 'two')])];
    const built = await writeImage(layout, { layers });
    await writeIndex(layout, [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: built.manifestDigest,
        size: built.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': 'latest' },
      },
    ]);
    await writeFile(join(base, 'layout.tar'), await tarDirectory(layout));
    await skopeo(['copy', `oci:${layout}:latest`, `docker-archive:${join(base, 'docker.tar')}:berth-tcontract/app:1`]);
    await writeFile(
      join(base, 'app.aci'),
      await makeAci(manifest('example.com/berth-tcontract'), [{ name: 'rootfs/etc/hello', content: 'hello' }]),
    );
    reg = await startRegistry(join(base, 'reg'), undefined, PORT);
    await pushOci(`${layout}:latest`, `127.0.0.1:${PORT}/berth-tcontract/app:1`);
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
    await stopAll();
    await rm(base, { recursive: true, force: true });
  });

  /** A fresh store for each test; `make` builds the transport over it. */
  const harness =
    (
      present: () => string,
      absent: () => string,
      sourceCheck: TransportHarness['sourceCheck'],
      make: (store: FsContentStore, refs: RefIndex, stateDir: string) => Transport,
    ) =>
    async (): Promise<TransportHarness> => {
      const stateDir = await mkdtemp(join(base, 'state-'));
      const store = new FsContentStore(stateDir);
      const transport = make(store, new RefIndex(stateDir, store), stateDir);
      return {
        transport,
        store,
        present: parseImageReference(present()),
        absent: parseImageReference(absent()),
        sourceCheck,
        cleanup: () => rm(stateDir, { recursive: true, force: true }),
      };
    };

  transportContract(
    'RegistryTransport (docker-registry)',
    harness(
      () => `127.0.0.1:${PORT}/berth-tcontract/app:1`,
      () => `127.0.0.1:${PORT}/berth-tcontract/missing:1`,
      'before-layers',
      (store, refs) => new RegistryTransport(new RegistrySource({ configDir, store, platform: hostPlatform() }), refs),
    ),
  );
  transportContract(
    'OciLayoutTransport (oci:)',
    harness(
      () => `oci:${layout}:latest`,
      () => `oci:${join(base, 'missing')}:latest`,
      'before-layers',
      (store, refs) => new OciLayoutTransport('oci', store, hostPlatform(), refs),
    ),
  );
  transportContract(
    'OciLayoutTransport (oci-archive:)',
    harness(
      () => `oci-archive:${join(base, 'layout.tar')}:latest`,
      () => `oci-archive:${join(base, 'missing.tar')}:latest`,
      'before-layers',
      (store, refs) => new OciLayoutTransport('oci-archive', store, hostPlatform(), refs),
    ),
  );
  transportContract(
    'DockerArchiveTransport',
    harness(
      () => `docker-archive:${join(base, 'docker.tar')}`,
      () => `docker-archive:${join(base, 'missing.tar')}`,
      'before-layers',
      (store, refs) => new DockerArchiveTransport(store, refs),
    ),
  );
  transportContract(
    'AppcTransport (aci:)',
    harness(
      () => `aci:${join(base, 'app.aci')}`,
      () => `aci:${join(base, 'missing.aci')}`,
      'on-import',
      (store, refs, stateDir) =>
        new AppcTransport(
          'aci',
          new AppcImages({ stateDir, configDir, store, renderedDir: join(stateDir, 'rendered'), log: silentLogger() }),
          refs,
        ),
    ),
  );
});
