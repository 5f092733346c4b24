/**
 * Volumes cannot be turned against the host (issue 8 item 1, issue 14 item 3), tried as an
 * attacker would with the built CLI, crun/runc and conmon: a symlink to `/` planted in an
 * emptyDir by an init container or by a sidecar before a restart, `..` in a subPath, and
 * hostPath types. Every case leaves no mount, container or file behind.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSandbox, isRoot, leaksOf, LOOP, REPO, shortId, type Sandbox } from '../helpers/berth-cli.js';
import { mountsAtOrBelow, unmountAtOrBelow } from '../../src/runtime/volume-paths.js';

const IMAGE = 'oci:/opt/berth/images/busybox:latest';
const LEAKS_TOOL = resolve(REPO, '../shared/tools/berth-leaks');

/** A hostNetwork pod (no CNI needed here) with the given volumes, init containers and apps. */
function pod(name: string, opts: { volumes: string; init?: string[]; apps: string[]; restartPolicy?: string }): string {
  return [
    'apiVersion: v1',
    'kind: Pod',
    `metadata: {name: ${name}}`,
    'spec:',
    '  hostNetwork: true',
    '  terminationGracePeriodSeconds: 2',
    ...(opts.restartPolicy ? [`  restartPolicy: ${opts.restartPolicy}`] : []),
    `  volumes: ${opts.volumes}`,
    ...(opts.init?.length ? ['  initContainers:', ...opts.init] : []),
    '  containers:',
    ...opts.apps,
    '',
  ].join('\n');
}

/** One container entry: name, shell script, volumeMounts (flow YAML). */
const container = (name: string, script: string, mounts: string) =>
  [
    `    - name: ${name}`,
    `      image: ${IMAGE}`,
    `      command: [sh, -c, ${JSON.stringify(script)}]`,
    `      volumeMounts: ${mounts}`,
  ].join('\n');

describe.skipIf(!isRoot)('volumes cannot be turned against the host', () => {
  let sb: Sandbox;
  const ids = new Set<string>();
  /** host paths an escaped app would have created: none may exist afterwards */
  const canaries: string[] = [];

  beforeEach(async () => {
    sb = await createSandbox('berth-volconf');
  });

  afterEach(async () => {
    try {
      for (const p of (await sb.status().catch(() => ({ pods: [] }))).pods) if (p.uid) ids.add(shortId(p.uid));
      expect(await sb.teardown()).toBe(0);
      expect(await leaksOf([...ids, sb.root])).toEqual([]);
      if (existsSync(LEAKS_TOOL)) {
        const r = await execa('bash', [LEAKS_TOOL, '--state-dir', join(sb.root, 'state')], { reject: false });
        expect(r.stdout.split('\n').filter((l) => l.includes(sb.root) || [...ids].some((id) => l.includes(id)))).toEqual([]);
      }
      expect(await mountsAtOrBelow(sb.root)).toEqual([]);
      for (const c of canaries) expect(existsSync(c), `host file ${c}`).toBe(false);
    } finally {
      // never remove the sandbox through a mount, whatever the assertions said
      await unmountAtOrBelow(sb.root).catch(() => undefined);
      if ((await mountsAtOrBelow(sb.root)).length === 0) await sb.dispose();
      for (const c of canaries.splice(0)) await execa('rm', ['-f', c], { reject: false });
      ids.clear();
    }
  });

  const podStatus = async (name: string) => (await sb.status()).pods.find((p) => p.name === name)!;

  it('a symlink to / made by an init container is refused as a subPath, with the reason in status', async () => {
    const canary = `/berth-volconf-${randomBytes(4).toString('hex')}`;
    canaries.push(canary);
    await sb.writeSpec(
      'esc.yaml',
      pod('esc', {
        volumes: '[{name: data, emptyDir: {}}]',
        init: [container('plant', 'ln -s / /data/escape', '[{name: data, mountPath: /data}]')],
        apps: [container('victim', `touch /data${canary}; ${LOOP}`, '[{name: data, mountPath: /data, subPath: escape}]')],
      }),
    );
    const r = await sb.run(['reconcile', '--once', '--timeout', '20s']);
    expect(r.exitCode).not.toBe(0);
    const p = await podStatus('esc');
    expect(p.message).toContain('subPath "escape" of volume "data" is a symlink: refused (it could point outside the volume)');
    expect(p.reason).toBe('CreateContainerError');
    expect(p.message).toContain('app victim: ');
    expect(p.apps.find((a) => a.name === 'victim')).toMatchObject({ state: expect.not.stringMatching(/^running$/) });
    expect(existsSync(canary)).toBe(false);
    // the link is still in the volume, the host's / untouched; no pin of the refused mount
    expect(await mountsAtOrBelow(join(sb.root, 'state'))).toEqual([]);
  });

  it('a link swapped in by a sidecar before a restart is refused on the restart', async () => {
    const canary = `/berth-volconf-${randomBytes(4).toString('hex')}`;
    canaries.push(canary);
    await sb.writeSpec(
      'swap.yaml',
      pod('swap', {
        volumes: '[{name: data, emptyDir: {}}]',
        apps: [
          // first run: /data is the real "work" directory; it exits, and the restart must not see the host's /
          container('worker', `touch /data${canary}; sleep 3; exit 1`, '[{name: data, mountPath: /data, subPath: work}]'),
          container(
            'attacker',
            `while [ ! -e /vol/work${canary} ]; do sleep 0.1; done; rm -rf /vol/work; ln -s / /vol/work; ${LOOP}`,
            '[{name: data, mountPath: /vol}]',
          ),
        ],
      }),
    );
    // the daemon drives the restart (a --once run ends as soon as both apps run)
    const daemon = sb.spawn(['reconcile']);
    let p = undefined as Awaited<ReturnType<typeof podStatus>> | undefined;
    try {
      for (let i = 0; i < 120; i++) {
        p = await podStatus('swap').catch(() => undefined);
        if (p?.message?.includes('symlink')) break;
        await new Promise((res) => setTimeout(res, 500));
      }
    } finally {
      daemon.kill('SIGTERM');
      await daemon;
    }
    p = await podStatus('swap');
    const worker = p.apps.find((a) => a.name === 'worker')!;
    expect(worker.state, JSON.stringify(p)).not.toBe('running');
    expect(p.message, JSON.stringify(p)).toContain('subPath "work" of volume "data" is a symlink: refused');
    expect(existsSync(canary)).toBe(false);
  });

  it('berth validate refuses subPath ../../../etc, naming file:line and the field', async () => {
    await sb.writeSpec(
      'dots.yaml',
      pod('dots', {
        volumes: '[{name: data, emptyDir: {}}]',
        apps: [container('app', LOOP, '[{name: data, mountPath: /data, subPath: ../../../etc}]')],
      }),
    );
    const file = join(sb.specDir, 'dots.yaml');
    const r = await sb.run(['validate', file]);
    expect(r.exitCode).toBe(2);
    expect(`${r.stdout}\n${r.stderr}`).toMatch(
      new RegExp(
        `${file.replace(/[.]/g, '\\.')}:12:\\d+: error: spec\\.containers\\[0\\]\\.volumeMounts\\[0\\]\\.subPath: must not contain '\\.\\.'`,
      ),
    );
    const abs = await sb.run(['reconcile', '--once', '--timeout', '10s']);
    expect(abs.exitCode).toBe(2);
    expect((await podStatus('dots')).status).toBe('InvalidSpec');
  });

  it('a subPath that is a real directory in the emptyDir works, and the app sees only that directory', async () => {
    await sb.writeSpec(
      'ok.yaml',
      pod('ok', {
        volumes: '[{name: data, emptyDir: {}}]',
        init: [
          container(
            'prep',
            'mkdir -p /data/only && echo inside > /data/only/f && echo outside > /data/top',
            '[{name: data, mountPath: /data}]',
          ),
        ],
        apps: [
          container(
            'app',
            `L=$(ls /data | tr '\\n' ' '); touch /data/made /expr/made; echo "LS=$L"; cat /data/f; test -e /data/top || echo NO-TOP; ${LOOP}`,
            '[{name: data, mountPath: /data, subPath: only}, {name: data, mountPath: /expr, subPathExpr: "by-pod/$(POD)"}]',
          ) + '\n      env: [{name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]',
        ],
      }),
    );
    const r = await sb.run(['reconcile', '--once', '--timeout', '40s']);
    expect(r.exitCode, r.stderr).toBe(0);
    const p = await podStatus('ok');
    expect(p.status).toBe('Running');
    const vol = join(sb.root, 'state', 'pods', p.uid!, 'volumes', 'data');
    expect((await stat(vol)).mode & 0o777).toBe(0o777);
    // the app's mount is pinned under the pod dir while it runs
    const pins = await mountsAtOrBelow(join(sb.root, 'state', 'pods', p.uid!, 'volume-subpaths'));
    expect(pins.sort()).toEqual([0, 1].map((i) => join(sb.root, 'state', 'pods', p.uid!, 'volume-subpaths', 'data', 'app', String(i))));
    let log = '';
    for (let i = 0; i < 50 && !log.includes('NO-TOP'); i++) {
      log = (await sb.run(['logs', 'ok', '-c', 'app'])).stdout;
      if (!log.includes('NO-TOP')) await new Promise((res) => setTimeout(res, 100));
    }
    expect(log).toContain('LS=f ');
    expect(log).toContain('inside');
    expect(log).toContain('NO-TOP');
    expect(await readFile(join(vol, 'only', 'made'), 'utf8')).toBe('');
    expect(await readFile(join(vol, 'top'), 'utf8')).toBe('outside\n');
    // subPathExpr expanded from the container's env (a fieldRef), created inside the volume
    expect(await readFile(join(vol, 'by-pod', 'ok', 'made'), 'utf8')).toBe('');
  });

  it('hostPath type File on a missing path fails clearly; DirectoryOrCreate creates the directory', async () => {
    const missing = join(sb.root, 'host', 'missing-file');
    const made = join(sb.root, 'host', 'made', 'dir');
    await sb.writeSpec(
      'hp.yaml',
      pod('hp-file', {
        volumes: `[{name: h, hostPath: {path: ${missing}, type: File}}]`,
        apps: [container('app', LOOP, '[{name: h, mountPath: /h}]')],
      }),
    );
    await sb.writeSpec(
      'hp2.yaml',
      pod('hp-dir', {
        volumes: `[{name: h, hostPath: {path: ${made}, type: DirectoryOrCreate}}]`,
        apps: [container('app', `touch /h/from-app; ${LOOP}`, '[{name: h, mountPath: /h}]')],
      }),
    );
    const r = await sb.run(['reconcile', '--once', '--timeout', '10s']);
    expect(r.exitCode).toBe(1);
    const bad = await podStatus('hp-file');
    expect(bad.message).toContain(`hostPath ${missing} of volume "h" does not exist (type File needs a file there)`);
    expect(existsSync(missing)).toBe(false);
    const good = await podStatus('hp-dir');
    expect(good.status).toBe('Running');
    const st = await stat(made);
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o777).toBe(0o755);
    for (let i = 0; i < 50 && !existsSync(join(made, 'from-app')); i++) await new Promise((res) => setTimeout(res, 100));
    expect(existsSync(join(made, 'from-app'))).toBe(true);
  });
});
