/**
 * The appc metadata service over real HTTP on 127.0.0.1 (the hostNetwork case: the token is
 * the only identity; the source check of pods on a bridge is exercised by test/e2e/ace.test.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { AppcMetadataServer, hostAddressFor } from '../../../src/appc-metadata/service.js';
import { buildPodManifest, mergeAnnotations } from '../../../src/appc-metadata/pod-manifest.js';

const UID = '2d3b5bb4-63f0-8d67-bdb6-da1df898fbb3';
const ID = `sha512-${'ab'.repeat(64)}`;
const H = { 'Metadata-Flavor': 'AppContainer' };

describe('AppcMetadataServer', () => {
  let dir = '';
  let svc: AppcMetadataServer;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-appcmd-'));
    svc = new AppcMetadataServer({ stateDir: dir, log: silentLogger() });
  });
  afterEach(async () => {
    await svc.close();
    await rm(dir, { recursive: true, force: true });
  });

  const register = () =>
    svc.register({
      uid: UID,
      manifest: { acKind: 'PodManifest', acVersion: '0.8.11', apps: [] },
      annotations: [{ name: 'example.com/a', value: '1' }],
      apps: [
        {
          name: 'web',
          imageId: ID,
          imageManifestText: '{"acKind":"ImageManifest"}',
          imageAnnotations: [{ name: 'lorem', value: 'ipsum' }],
          appAnnotations: [{ name: 'lorem', value: 'dolor' }],
        },
      ],
    });

  it('answers the pod and app endpoints with the spec content types, and only with the token and the flavor header', async () => {
    const url = await register();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32}$/);
    const get = (p: string, headers: Record<string, string> = H) => fetch(`${url}/acMetadata/v1/${p}`, { headers });
    const uuid = await get('pod/uuid');
    expect([uuid.status, uuid.headers.get('content-type'), await uuid.text()]).toEqual([200, 'text/plain; charset=us-ascii', UID]);
    const ann = await get('pod/annotations');
    expect(ann.headers.get('content-type')).toBe('application/json');
    expect(await ann.json()).toEqual([{ name: 'example.com/a', value: '1' }]);
    expect(await (await get('pod/manifest')).json()).toMatchObject({ acKind: 'PodManifest' });
    expect(await (await get('apps/web/annotations')).json()).toEqual([{ name: 'lorem', value: 'dolor' }]);
    expect(await (await get('apps/web/image/id')).text()).toBe(ID);
    expect(await (await get('apps/web/image/manifest')).text()).toBe('{"acKind":"ImageManifest"}');
    expect((await get('apps/other/image/id')).status).toBe(404);
    expect((await get('pod/uuid', {})).status).toBe(400);
    const wrong = url.replace(/[0-9a-f]{32}$/, '0'.repeat(32));
    expect((await fetch(`${wrong}/acMetadata/v1/pod/uuid`, { headers: H })).status).toBe(403);
  });

  it('signs for the pod and verifies a signature against the pod named by uuid', async () => {
    const url = await register();
    const post = (p: string, form: Record<string, string>) =>
      fetch(`${url}/acMetadata/v1/pod/hmac/${p}`, {
        method: 'POST',
        headers: { ...H, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      });
    const sig = await post('sign', { content: 'Old MacDonald Had A Farm' });
    expect(sig.headers.get('content-type')).toBe('text/plain; charset=us-ascii');
    const signature = await sig.text();
    const ok = await post('verify', { content: 'Old MacDonald Had A Farm', uuid: UID, signature });
    expect([ok.status, ok.headers.get('content-type')]).toEqual([200, 'text/plain; charset=us-ascii']);
    expect((await post('verify', { content: 'something else', uuid: UID, signature })).status).toBe(403);
    expect(
      (await post('verify', { content: 'Old MacDonald Had A Farm', uuid: '00000000-0000-0000-0000-000000000000', signature })).status,
    ).toBe(403);
  });

  it('keeps the token across agents (one secret per state dir) and stops answering a pod once unregistered', async () => {
    const url = await register();
    const again = new AppcMetadataServer({ stateDir: dir, log: silentLogger() });
    try {
      expect((await again.register({ uid: UID, manifest: {}, annotations: [], apps: [] })).split('/').at(-1)).toBe(url.split('/').at(-1));
    } finally {
      await again.close();
    }
    await svc.unregister(UID);
    await expect(fetch(`${url}/acMetadata/v1/pod/uuid`, { headers: H })).rejects.toThrow(); // its listener closed with its last pod
  });
});

describe('reified pod manifest', () => {
  it('keeps appc-valid annotations, maps hostPath and emptyDir volumes and adds implicit ones', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', annotations: { 'example.com/ok': 'y', Not_Valid: 'n' } },
      spec: {
        containers: [{ name: 'main', image: 'aci:/x.aci' }],
        volumes: [
          { name: 'data', hostPath: { path: '/srv' } },
          { name: 'tmp', emptyDir: {} },
        ],
      },
    } as never;
    const m = buildPodManifest(pod, [
      {
        container: { name: 'main', image: 'aci:/x.aci' } as never,
        imageId: ID,
        imageName: 'example.com/x',
        labels: { os: 'linux' },
        manifest: { app: { exec: ['/x'], user: '0', group: '0', mountPoints: [{ name: 'db', path: '/db' }] } },
        implicit: ['db'],
      },
    ]);
    expect(m.annotations).toEqual([{ name: 'example.com/ok', value: 'y' }]);
    expect(m.volumes).toEqual([
      { name: 'data', kind: 'host', source: '/srv' },
      { name: 'tmp', kind: 'empty', mode: '0777', uid: 0, gid: 0 },
      { name: 'db', kind: 'empty', mode: '0777', uid: 0, gid: 0 },
    ]);
    expect((m.apps as Array<Record<string, unknown>>)[0]).toMatchObject({
      name: 'main',
      image: { id: ID, name: 'example.com/x', labels: [{ name: 'os', value: 'linux' }] },
      mounts: [{ volume: 'db', path: '/db' }],
    });
    expect(
      mergeAnnotations(
        [{ name: 'a', value: '1' }],
        [
          { name: 'a', value: '2' },
          { name: 'b', value: '3' },
        ],
      ),
    ).toEqual([
      { name: 'a', value: '2' },
      { name: 'b', value: '3' },
    ]);
    expect(hostAddressFor('not-an-ip')).toBeUndefined();
  });
});

describe('metadata worker source check', () => {
  it('answers a pod only from its own address', async () => {
    const { Worker } = await import('node:worker_threads');
    const { request } = await import('node:http');
    const { METADATA_WORKER_SOURCE } = await import('../../../src/appc-metadata/worker.js');
    const w = new Worker(METADATA_WORKER_SOURCE, { eval: true });
    const call = (msg: Record<string, unknown>) =>
      new Promise<{ port?: number; error?: string }>((resolve) => {
        w.once('message', resolve);
        w.postMessage(msg);
      });
    try {
      const { port } = await call({ id: 1, op: 'listen', address: '127.0.0.1', port: 0 });
      const token = 'c'.repeat(32);
      await call({
        id: 2,
        op: 'set',
        pod: {
          uid: UID,
          token,
          key: '00',
          podIP: '127.0.0.2',
          address: '127.0.0.1',
          get: { 'pod/uuid': { type: 'text/plain; charset=us-ascii', body: UID } },
        },
      });
      const from = (localAddress: string) =>
        new Promise<number>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, path: `/${token}/acMetadata/v1/pod/uuid`, headers: H, localAddress }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          req.end();
        });
      expect(await from('127.0.0.2')).toBe(200);
      expect(await from('127.0.0.3')).toBe(403); // another pod (or the host) with the right token
      await call({ id: 3, op: 'close' });
    } finally {
      await w.terminate();
    }
  });
});
