/** Whether crun and runc make idmapped mounts, asked of the real runtimes (features, then the probe), as root. */
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveOciRuntime, type OciRuntime } from '../../../src/runtime/index.js';
import { runtimeIdmapProblem } from '../../../src/runtime/idmap-support.js';

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('idmap support of the OCI runtimes on this host', () => {
  let tmp = '';
  const ids: Array<[OciRuntime, string]> = [];
  beforeAll(async () => {
    tmp = await mkdtemp('/tmp/leftovers-idmap-');
  });
  afterAll(async () => {
    for (const [oci, id] of ids) await oci.delete(id, true).catch(() => undefined);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });
  // tmp is 0700, as a run dir may be: crun walks down to the probe's bundle before it enters the user namespace
  const probe = (oci: OciRuntime, what: string) => {
    const containerId = `lo-idmap-${what}-${process.pid}`;
    ids.push([oci, containerId]);
    return { dir: join(tmp, what, 'probe'), containerId };
  };
  const leftovers = async (oci: OciRuntime, what: string, id: string) => {
    expect(await oci.state(id)).toBeUndefined();
    expect(await readdir(join(tmp, what)).catch(() => [])).toEqual([]);
  };

  it('crun (no features command): the probe container shows the mapped owner, so it is supported; nothing is left', async () => {
    const crun = await resolveOciRuntime({ name: 'crun', runDir: join(tmp, 'run-crun') });
    expect(await crun.features()).toBeUndefined();
    const o = probe(crun, 'crun');
    expect(await runtimeIdmapProblem(crun, o)).toBeUndefined();
    await leftovers(crun, 'crun', o.containerId);
  });

  it('runc 1.1.5: its features (spec 1.0.2-dev, no mountExtensions) refuse, naming the runtime and its version', async () => {
    const runc = await resolveOciRuntime({ name: 'runc', runDir: join(tmp, 'run-runc') });
    const problem = await runtimeIdmapProblem(runc, probe(runc, 'runc'));
    expect(problem).toMatch(/^the OCI runtime runc version 1\.1\.5\S* makes no idmapped mounts \(OCI mounts\[\]\.uidMappings/);
    expect(problem).toContain('no linux.mountExtensions.idmap');
  });

  it('runc asked by the probe alone: the bind mount comes unmapped (owner 0), which is a refusal; nothing is left', async () => {
    const runc = await resolveOciRuntime({ name: 'runc', runDir: join(tmp, 'run-runc') });
    // the same runtime without its features document, as a runtime that has no such command
    const silent: OciRuntime = Object.assign(Object.create(runc) as OciRuntime, { features: async () => undefined });
    const o = probe(runc, 'runc-probe');
    // runc resolves the bundle's paths as the container's root (host ID 65536): its way down must be open
    await chmod(tmp, 0o755);
    const problem = await runtimeIdmapProblem(silent, o);
    expect(problem).toContain('showed a directory owned by 0 as owned by 0, not 65536');
    expect(problem).toContain('runc version 1.1.5');
    await leftovers(runc, 'runc-probe', o.containerId);
  });
});
