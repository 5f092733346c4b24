import { execa } from 'execa';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { holdFailedSources } from '../../../src/reconciler/desired.js';
import { diff } from '../../../src/reconciler/plan.js';
import type { PodRecord } from '../../../src/reconciler/records.js';
import { firstInvalidUtf8, MAX_SPEC_FILE_BYTES, readSources, readSpecFiles } from '../../../src/reconciler/sources.js';
import { statusRows } from '../../../src/reconciler/status.js';
import { resolveDesired } from '../../../src/api/index.js';
import { SimulatedClock } from '../../fakes/clock.js';

const POD = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers: [{name: a, image: img}]
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-sources-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(file: string): PodRecord {
  return {
    version: 1,
    uid: 'u1',
    key: 'default/web',
    namespace: 'default',
    name: 'web',
    hash: 'h',
    source: { file, doc: 0, line: 1, column: 1 },
    pod: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default' },
      spec: { containers: [{ name: 'a', image: 'img' }], restartPolicy: 'Always', terminationGracePeriodSeconds: 30, hostNetwork: false },
    },
    networks: [],
    createdAt: 1,
    updatedAt: 1,
    phase: 'running',
    lastError: null,
    netns: null,
    attachments: [],
    initDone: true,
    apps: { a: { image: 'img', containerId: 'berth-u1-a', state: 'running', restartCount: 0 } },
  } as PodRecord;
}

describe('spec sources', () => {
  it('a spec dir that does not exist is a failed source, an empty one holds no pods', async () => {
    const missing = join(dir, 'typo');
    const empty = join(dir, 'empty');
    await mkdir(empty);
    const r = await readSources([missing, empty]);
    expect(r.files).toEqual([]);
    expect(r.failed).toEqual([{ path: missing, message: `spec directory ${missing} does not exist` }]);
  });

  it('reads regular files and symlinks to them; reports dangling symlinks as warnings', async () => {
    await writeFile(join(dir, 'real.txt'), POD);
    await symlink(join(dir, 'real.txt'), join(dir, 'b.yaml'));
    await symlink(join(dir, 'nowhere'), join(dir, 'c.yaml'));
    const r = await readSources([dir]);
    expect(r.failed).toEqual([]);
    expect(r.files.map((f) => [f.file, f.pods.length, f.issues.map((i) => `${i.severity}: ${i.message}`)])).toEqual([
      [join(dir, 'b.yaml'), 1, []],
      [join(dir, 'c.yaml'), 0, ['warning: dangling symlink: its target does not exist; not read']],
    ]);
  });

  it('refuses a symlink to a FIFO without blocking, and a symlink to /dev/zero at once', async () => {
    await execa('mkfifo', [join(dir, 'fifo')]);
    await symlink(join(dir, 'fifo'), join(dir, 'z.yaml'));
    await symlink('/dev/zero', join(dir, 'zero.yaml'));
    await execa('mkfifo', [join(dir, 'direct.yaml')]);
    const r = await readSources([dir]);
    const by = Object.fromEntries(r.files.map((f) => [f.file.slice(dir.length + 1), f.issues.map((i) => `${i.severity}: ${i.message}`)]));
    expect(by).toEqual({
      'direct.yaml': ['error: is a FIFO, not a regular file: refused'],
      'z.yaml': ['error: is a FIFO, not a regular file: refused'],
      'zero.yaml': ['error: is a character device, not a regular file: refused'],
    });
  });

  it('refuses a file given directly that is a FIFO, or does not exist', async () => {
    await execa('mkfifo', [join(dir, 'f')]);
    const files = await readSpecFiles([join(dir, 'f'), join(dir, 'gone.yaml')]);
    expect(files.flatMap((f) => f.issues.map((i) => i.message))).toEqual([
      `${join(dir, 'f')} is a FIFO, not a regular file or directory`,
      `spec file ${join(dir, 'gone.yaml')} does not exist`,
    ]);
  });

  it('refuses files above the size limit, naming it', async () => {
    await writeFile(join(dir, 'big.yaml'), Buffer.alloc(MAX_SPEC_FILE_BYTES + 1, 0x20));
    const [f] = (await readSources([dir])).files;
    expect(f!.issues[0]!.message).toBe(
      `is ${MAX_SPEC_FILE_BYTES + 1} bytes, more than the limit of ${MAX_SPEC_FILE_BYTES} bytes (4 MiB) per spec file: refused`,
    );
  });

  it('refuses invalid UTF-8 with the line and column of the first bad byte', async () => {
    const text = Buffer.concat([Buffer.from('apiVersion: v1\nkind: Pod\nmetadata: {name: wé'), Buffer.from([0xff]), Buffer.from('b}\n')]);
    await writeFile(join(dir, 'bad.yaml'), text);
    const [f] = (await readSources([dir])).files;
    expect(f!.issues).toEqual([
      {
        severity: 'error',
        file: join(dir, 'bad.yaml'),
        line: 3,
        column: 20,
        path: '',
        message: `invalid UTF-8: byte 0xff at offset ${text.indexOf(0xff)} is not part of a valid UTF-8 sequence`,
      },
    ]);
  });

  it('takes an empty file as half-written (an error, so its pods are held)', async () => {
    await writeFile(join(dir, 'web.yaml'), '  \n');
    const [f] = (await readSources([dir])).files;
    expect(f!.issues[0]).toMatchObject({ severity: 'error', message: expect.stringContaining('is empty') });
  });

  it('sees every change of a file it read before: at once after a write, and after the file was stable (reused read)', async () => {
    const file = join(dir, 'web.yaml');
    // the racy window is measured against the kernel's file times: a simulated clock from now
    const clock = new SimulatedClock(Date.now());
    const names = async () => (await readSources([dir], clock)).files.flatMap((f) => f.pods.map((p) => p.key));
    await writeFile(file, POD);
    expect(await names()).toEqual(['default/web']);
    // the same size, written right after the read: seen although times may not have moved
    await writeFile(file, POD.replace('web', 'wab'));
    expect(await names()).toEqual(['default/wab']);
    // stable for longer than the racy window: the next reads reuse the parse, and change nothing
    await clock.advance(2100);
    expect(await names()).toEqual(['default/wab']);
    const again = await readSources([dir], clock);
    again.files[0]!.pods.length = 0; // a caller that changes what it got does not change the next read
    expect(await names()).toEqual(['default/wab']);
    await writeFile(file, POD.replace('web', 'wib'));
    expect(await names()).toEqual(['default/wib']);
    // replaced by a FIFO of the same name: refused, not the old content
    await rm(file);
    await execa('mkfifo', [file]);
    const [f] = (await readSources([dir])).files;
    expect(f!.pods).toEqual([]);
    expect(f!.issues[0]!.message).toMatch(/FIFO/);
  });

  it('finds the first invalid UTF-8 byte', () => {
    const at = (...b: number[]) => firstInvalidUtf8(Uint8Array.from(b));
    expect(at(0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80)).toBe(-1);
    expect(at(0x61, 0x80)).toBe(1); // lone continuation byte
    expect(at(0xc0, 0xaf)).toBe(0); // overlong
    expect(at(0xe0, 0x80, 0x80)).toBe(1); // overlong 3-byte
    expect(at(0xed, 0xa0, 0x80)).toBe(1); // surrogate
    expect(at(0xf4, 0x90, 0x80, 0x80)).toBe(1); // above U+10FFFF
    expect(at(0x61, 0xe2, 0x82)).toBe(1); // truncated at the end
    expect(at(0xe2, 0x28, 0xa1)).toBe(1);
  });
});

describe('last known good', () => {
  it('holds the pods of a failed source: kept in the plan, shown with reason SourceError', async () => {
    const specDir = join(dir, 'specs');
    const rec = record(join(specDir, 'web.yaml'));
    const failed = [{ path: specDir, message: `spec directory ${specDir} does not exist` }];
    const desired = resolveDesired([
      {
        file: specDir,
        pods: [],
        networks: [],
        issues: [{ severity: 'error', file: specDir, path: '', message: failed[0]!.message, reason: 'SourceError' }],
      },
    ]);
    expect(diff(desired, [rec], () => 'u1').map((a) => a.action)).toEqual(['delete']);
    const healthy = join(dir, 'healthy');
    holdFailedSources(desired, failed, [healthy], [rec, record(join(healthy, 'x.yaml'))]);
    expect(desired.invalidFiles.sort()).toEqual([specDir, join(specDir, 'web.yaml')].sort());
    expect(diff(desired, [rec], () => 'u1').map((a) => a.action)).toEqual(['keep']);
    const [row] = statusRows([{ rec, live: { a: { containerId: 'x', state: 'running', pid: 7 } } }], desired.issues, []);
    expect(row).toMatchObject({
      status: 'Running',
      reason: 'SourceError',
      message: `spec directory ${specDir} does not exist (the pod is kept as it is)`,
    });
  });

  it('a typo in --spec-dir deletes nothing: pods of no source that was read are held', () => {
    const typo = join(dir, 'typo');
    const rec = record('/etc/podspecs/web.yaml');
    const failed = [{ path: typo, message: `spec directory ${typo} does not exist` }];
    const desired = resolveDesired([
      {
        file: typo,
        pods: [],
        networks: [],
        issues: [{ severity: 'error', file: typo, path: '', message: failed[0]!.message, reason: 'SourceError' }],
      },
    ]);
    holdFailedSources(desired, failed, [], [rec]);
    expect(diff(desired, [rec], () => 'u1').map((a) => a.action)).toEqual(['keep']);
    const [row] = statusRows([{ rec, live: { a: { containerId: 'x', state: 'running', pid: 7 } } }], desired.issues, []);
    expect(row).toMatchObject({
      status: 'Running',
      reason: 'SourceError',
      message: `not deleted while ${typo} cannot be read: the file is in no spec directory that was read (the pod is kept as it is)`,
    });
    // with every source read, a pod of a directory no longer given is deleted (that is how to move or tear down)
    const clean = resolveDesired([]);
    expect(diff(clean, [rec], () => 'u1').map((a) => a.action)).toEqual(['delete']);
  });

  it('a file that fails to parse keeps its pods, shown as InvalidSpec with file:line:column', async () => {
    const file = join(dir, 'web.yaml');
    await writeFile(file, 'apiVersion: v1\nkind: Pod\nmetadata: {name: web\nspec: [\n');
    const desired = resolveDesired((await readSources([dir])).files);
    const rec = record(file);
    expect(diff(desired, [rec], () => 'u1').map((a) => a.action)).toEqual(['keep']);
    const [row] = statusRows([{ rec, live: { a: { containerId: 'x', state: 'running', pid: 7 } } }], desired.issues, []);
    expect(row!.status).toBe('InvalidSpec');
    expect(row!.message).toMatch(new RegExp(`^${file}:\\d+:\\d+: invalid YAML: .*\\(the last good spec keeps running\\)$`));
    expect(row!.apps[0]!.pid).toBe(7);
    // a pod of the same file whose own document loaded this round is not held by the file's error
    const [fine] = statusRows(
      [{ rec, live: { a: { containerId: 'x', state: 'running', pid: 7 } } }],
      desired.issues,
      [],
      ['default/web@h'],
    );
    expect(fine!.status).toBe('Running');
  });
});
