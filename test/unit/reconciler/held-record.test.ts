/**
 * Issue 10 item 4: a pod record that exists but cannot be read is DataLoss, and the pod is
 * held: not created again over the file, its host objects kept, shown as Unknown, an event.
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasCode } from '../../../src/common/errors.js';
import { collectStatus, listRecords, readRecord, readRecords, Reconciler, type Layout } from '../../../src/reconciler/index.js';
import { podDir } from '../../../src/reconciler/layout.js';
import { fakeHost } from '../../fakes/host.js';

const pod = (name: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  containers:
    - {name: main, image: "oci:/img:latest", command: [sleep, "1000"]}
`;

describe('a pod whose record cannot be read is held (DataLoss)', () => {
  let root: string;
  let layout: Layout;
  let specs: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-held-'));
    specs = join(root, 'specs');
    await mkdir(specs);
    layout = {
      configDir: join(root, 'config'),
      stateDir: join(root, 'state'),
      runDir: join(root, 'run'),
      logDir: join(root, 'log'),
      specDirs: [specs],
    };
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const reconciler = (f: ReturnType<typeof fakeHost>) => new Reconciler(f.host, { cniConfDirs: [], minReadyMs: 0 });

  /** One running pod, then its pod.json replaced by `text`: the uid and the path. */
  async function corrupted(f: ReturnType<typeof fakeHost>, text: string) {
    await writeFile(join(specs, 'web.yaml'), pod('web'));
    expect((await reconciler(f).once(5000)).exitCode).toBe(0);
    const [rec] = await listRecords(layout);
    const path = join(podDir(layout, rec!.uid), 'pod.json');
    await writeFile(path, text);
    return { uid: rec!.uid, path };
  }

  it('readRecord says DataLoss for a record that is not JSON, names another pod or misses its fields; none is not an error', async () => {
    const f = fakeHost(layout);
    const { uid, path } = await corrupted(f, '{"version":1,"uid":');
    await expect(readRecord(layout, uid)).rejects.toSatisfy((e: unknown) => hasCode(e, 'DataLoss'));
    await writeFile(path, JSON.stringify({ version: 1, uid: 'another', key: 'default/web', pod: {}, apps: {} }));
    await expect(readRecord(layout, uid)).rejects.toThrow(/names pod "another"/);
    await writeFile(path, JSON.stringify({ version: 1, uid }));
    await expect(readRecord(layout, uid)).rejects.toThrow(/not a complete pod record/);
    await writeFile(path, 'null');
    await expect(readRecord(layout, uid)).rejects.toThrow(/not a JSON object/);
    expect(await readRecord(layout, 'no-such-pod')).toBeUndefined();
    const { records, held } = await readRecords(layout);
    expect(records).toEqual([]);
    expect(held).toMatchObject([{ uid, path, error: { code: 'DataLoss' } }]);
  });

  it('after an agent restart: no re-create over the file, the apps, netns and attachments kept, Unknown with the reason, one event', async () => {
    const f = fakeHost(layout);
    const corrupt = '{"version":1,"uid":"trunc';
    const { uid, path } = await corrupted(f, corrupt);
    const running = f.runtime.running();
    const calls = f.cni.calls.length;
    const res = await reconciler(f).once(1500);
    expect(res.exitCode).toBe(1);
    expect(await readFile(path, 'utf8')).toBe(corrupt);
    expect(f.runtime.running()).toEqual(running);
    expect(f.runtime.starts).toHaveLength(1);
    expect(f.netns.live.size).toBe(1);
    // the first pass's CNI GC ran and kept the held pod's attachments
    expect(f.cni.calls.slice(calls)).toEqual([]);
    const row = res.rows.find((r) => r.uid === uid);
    expect(row).toMatchObject({ status: 'Unknown', reason: 'DataLoss', message: expect.stringContaining(path) });
    expect((await collectStatus(f.host)).find((r) => r.uid === uid)).toMatchObject({ status: 'Unknown', reason: 'DataLoss' });
    expect(f.events.events.filter((e) => e.uid === uid && e.reason === 'DataLoss')).toHaveLength(1);
  });
});
