import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { idmapFromFeatures, runtimeIdmapProblem } from '../../../src/runtime/idmap-support.js';
import { FakeOciRuntime } from '../../fakes/oci-runtime.js';

describe('idmapFromFeatures (runtime-spec features.md)', () => {
  it('linux.mountExtensions.idmap.enabled decides when present', () => {
    expect(idmapFromFeatures({ ociVersionMax: '1.0.2', linux: { mountExtensions: { idmap: { enabled: true } } } })).toBe(true);
    expect(idmapFromFeatures({ ociVersionMax: '1.2.0', linux: { mountExtensions: { idmap: { enabled: false } } } })).toBe(false);
  });
  it('absent: no for a runtime below spec 1.1 (runc 1.1.5), unknown otherwise', () => {
    expect(idmapFromFeatures({ ociVersionMax: '1.0.2-dev', linux: {} })).toBe(false);
    expect(idmapFromFeatures({ ociVersionMax: '1.1.0' })).toBeUndefined();
    expect(idmapFromFeatures({ ociVersionMax: 'weird' })).toBeUndefined();
    expect(idmapFromFeatures({})).toBeUndefined();
    expect(idmapFromFeatures(undefined)).toBeUndefined();
  });
});

describe('runtimeIdmapProblem over the fake runtime', () => {
  let dir = '';
  let oci: FakeOciRuntime;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-idmap-unit-'));
    oci = new FakeOciRuntime();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const opts = () => ({ dir: join(dir, 'probe'), containerId: 'berth-idmap-probe-unit' });

  it('features saying yes: supported, no container is made', async () => {
    oci.featuresResult = { ociVersionMax: '1.2.0', linux: { mountExtensions: { idmap: { enabled: true } } } };
    expect(await runtimeIdmapProblem(oci, opts())).toBeUndefined();
    expect(oci.calls.filter((c) => c.startsWith('create'))).toEqual([]);
  });

  it('features of a spec 1.0 runtime: refused, naming what is missing and the runtime with its version', async () => {
    oci.featuresResult = { ociVersionMax: '1.0.2-dev', linux: {} };
    oci.versionText = 'fake version 1.1.5';
    const problem = await runtimeIdmapProblem(oci, opts());
    expect(problem).toContain('fake version 1.1.5');
    expect(problem).toContain('mounts[].uidMappings');
    expect(problem).toContain('linux.mountExtensions.idmap');
    expect(oci.calls.filter((c) => c.startsWith('create'))).toEqual([]);
  });

  it('no features: a probe container is created, and a probe that cannot read its mount is a refusal that leaves nothing behind', async () => {
    // the fake's pid is no process of this host: /proc/<pid>/root cannot be read
    const problem = await runtimeIdmapProblem(oci, opts());
    expect(problem).toMatch(/^could not tell whether the OCI runtime fake version 0 makes idmapped mounts/);
    expect(oci.calls).toContain('create berth-idmap-probe-unit');
    expect(oci.states.size).toBe(0);
    expect(await readdir(dir)).toEqual([]);
  });
});
