/**
 * The kubelet's volume features as an app sees them (issue 9 item 5), with the built CLI,
 * crun and conmon: an emptyDir medium Memory is a tmpfs of its sizeLimit, an on-disk
 * sizeLimit refuses writes over it, emptyDirs are 0777 and, with fsGroup, owned by that
 * group with setgid; `id` shows fsGroup and supplementalGroups; downwardAPI files hold the
 * pod's metadata and resources and are read-only; an image volume shows the image's files
 * read-only and noexec. Nothing is left mounted after the teardown.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSandbox, isRoot, leaksOf, LOOP, shortId, type Sandbox } from '../helpers/berth-cli.js';
import { mountsAtOrBelow, unmountAtOrBelow } from '../../src/runtime/volume-paths.js';

const IMAGE = 'oci:/opt/berth/images/busybox:latest';

const SCRIPT = [
  'echo "MEM=$(grep " /mem " /proc/mounts)"',
  'echo "DISK=$(grep " /disk " /proc/mounts | cut -d" " -f3)"',
  'echo "MODES=$(stat -c %a:%g /plain /mem /disk | tr "\\n" " ")"',
  'touch /plain/mine; echo "MINE=$(stat -c %g /plain/mine)"',
  'echo "ID=$(id)"',
  'dd if=/dev/zero of=/disk/fill bs=1M count=4 2>/dev/null && echo FILL4=ok',
  'dd if=/dev/zero of=/disk/over bs=1M count=16 2>&1 | grep -q "No space left" && echo OVER=refused',
  'echo "LABELS=$(cat /info/labels | tr "\\n" ",")"',
  'echo "ANNOTATIONS=$(cat /info/annotations)"',
  'echo "NAME=$(cat /info/name) NS=$(cat /info/namespace) UIDLEN=$(cat /info/uid | wc -c)"',
  'echo "CPU=$(cat /info/cpu_limit) MEMMI=$(cat /info/mem_limit)"',
  'echo "INFOMODE=$(stat -L -c %a:%g /info/name)"',
  'touch /info/x 2>/dev/null || echo INFO=ro',
  'test -x /img/bin/busybox && echo IMG=has-busybox',
  'touch /img/x 2>/dev/null || echo IMG=ro',
  '/img/bin/busybox true 2>/dev/null || echo IMG=noexec',
  'echo "ETC=$(ls /imgetc/passwd)"',
  'echo DONE',
  LOOP,
].join('; ');

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: vols
  labels: {app: vols, tier: back}
  annotations: {note: 'say "hi"'}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  securityContext: {fsGroup: 2345, supplementalGroups: [3456], fsGroupChangePolicy: OnRootMismatch}
  volumes:
    - {name: mem, emptyDir: {medium: Memory, sizeLimit: 16Mi}}
    - {name: disk, emptyDir: {sizeLimit: 8Mi}}
    - {name: plain, emptyDir: {}}
    - name: info
      downwardAPI:
        items:
          - {path: labels, fieldRef: {fieldPath: metadata.labels}}
          - {path: annotations, fieldRef: {fieldPath: metadata.annotations}}
          - {path: name, fieldRef: {fieldPath: metadata.name}}
          - {path: namespace, fieldRef: {fieldPath: metadata.namespace}}
          - {path: uid, fieldRef: {fieldPath: metadata.uid}}
          - {path: cpu_limit, resourceFieldRef: {containerName: app, resource: limits.cpu, divisor: 1m}}
          - {path: mem_limit, resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}}
    - {name: img, image: {reference: "${IMAGE}", pullPolicy: IfNotPresent}}
  containers:
    - name: app
      image: ${IMAGE}
      command: [sh, -c, ${JSON.stringify(SCRIPT)}]
      securityContext: {runAsUser: 1000, runAsGroup: 1000}
      resources: {limits: {cpu: 250m, memory: 64Mi}}
      volumeMounts:
        - {name: mem, mountPath: /mem}
        - {name: disk, mountPath: /disk}
        - {name: plain, mountPath: /plain}
        - {name: info, mountPath: /info}
        - {name: img, mountPath: /img}
        - {name: img, mountPath: /imgetc, subPath: etc}
`;

describe.skipIf(!isRoot)('volumes as the kubelet sets them up', () => {
  let sb: Sandbox;
  const ids = new Set<string>();

  beforeEach(async () => {
    sb = await createSandbox('berth-vole2e');
  });

  afterEach(async () => {
    try {
      for (const p of (await sb.status().catch(() => ({ pods: [] }))).pods) if (p.uid) ids.add(shortId(p.uid));
      expect(await sb.teardown()).toBe(0);
      expect(await leaksOf([...ids, sb.root])).toEqual([]);
      expect(await mountsAtOrBelow(sb.root)).toEqual([]);
    } finally {
      await unmountAtOrBelow(sb.root).catch(() => undefined);
      if ((await mountsAtOrBelow(sb.root)).length === 0) await sb.dispose();
      ids.clear();
    }
  });

  it('tmpfs, size limit, 0777, fsGroup, supplementalGroups, downwardAPI and image volumes inside the app', async () => {
    await sb.writeSpec('vols.yaml', POD);
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    const st = await sb.status();
    const p = st.pods.find((x) => x.name === 'vols')!;
    expect(r.exitCode, `${r.stderr}\n${JSON.stringify(p)}`).toBe(0);
    expect(p.status).toBe('Running');
    let log = '';
    for (let i = 0; i < 100 && !log.includes('DONE'); i++) {
      log = (await sb.run(['logs', 'vols', '-c', 'app'])).stdout;
      if (!log.includes('DONE')) await new Promise((res) => setTimeout(res, 100));
    }
    const line = (key: string) => log.split('\n').find((l) => l.startsWith(`${key}=`)) ?? `(no ${key} in ${log})`;
    // medium Memory: a tmpfs of its sizeLimit, nosuid,nodev
    expect(line('MEM')).toMatch(/^MEM=tmpfs \/mem tmpfs rw,nosuid,nodev,.*size=16384k/);
    // sizeLimit on disk: its own filesystem, writes over the limit refused
    expect(line('DISK')).toBe('DISK=ext4');
    expect(log).toContain('FILL4=ok');
    expect(log).toContain('OVER=refused');
    // 0777 as the kubelet makes them, fsGroup's group and setgid (new files inherit the group)
    expect(line('MODES')).toBe('MODES=2777:2345 2777:2345 2777:2345 ');
    expect(line('MINE')).toBe('MINE=2345');
    // the process's groups: its own, fsGroup and supplementalGroups
    expect(line('ID')).toMatch(/^ID=uid=1000 gid=1000 groups=.*2345.*3456|^ID=uid=1000 gid=1000 groups=.*3456.*2345/);
    // downwardAPI: the kubelet's formats, read-only, fsGroup's group
    expect(line('LABELS')).toBe('LABELS=app="vols",tier="back"'); // no newline after the last, as the kubelet writes it
    expect(line('ANNOTATIONS')).toBe('ANNOTATIONS=note="say \\"hi\\""');
    expect(line('NAME')).toBe(`NAME=vols NS=default UIDLEN=${p.uid!.length}`);
    expect(line('CPU')).toBe('CPU=250 MEMMI=64');
    expect(line('INFOMODE')).toBe('INFOMODE=644:2345');
    expect(log).toContain('INFO=ro');
    // image volume: the image's files, read-only, noexec; a subPath of it
    expect(log).toContain('IMG=has-busybox');
    expect(log).toContain('IMG=ro');
    expect(log).toContain('IMG=noexec');
    expect(line('ETC')).toBe('ETC=/imgetc/passwd');
    // the volumes' own mounts are below the pod dir
    const podDir = join(sb.root, 'state', 'pods', p.uid!);
    const mounts = await mountsAtOrBelow(join(podDir, 'volumes'));
    expect(mounts.sort()).toEqual([join(podDir, 'volumes', 'disk'), join(podDir, 'volumes', 'mem')]);
  });

  it('a hostPath of type File that is missing is retried and the app starts once the file appears', async () => {
    const path = join(sb.root, 'host-file');
    await sb.writeSpec(
      'wait.yaml',
      [
        'apiVersion: v1',
        'kind: Pod',
        'metadata: {name: waits}',
        'spec:',
        '  hostNetwork: true',
        '  terminationGracePeriodSeconds: 2',
        `  volumes: [{name: f, hostPath: {path: ${path}, type: File}}]`,
        '  containers:',
        `    - {name: app, image: "${IMAGE}", command: [sh, -c, ${JSON.stringify(`cat /f; ${LOOP}`)}], volumeMounts: [{name: f, mountPath: /f}]}`,
        '',
      ].join('\n'),
    );
    const daemon = sb.spawn(['reconcile']);
    try {
      const waitFor = async (ok: (p: Awaited<ReturnType<Sandbox['status']>>['pods'][number] | undefined) => boolean) => {
        for (let i = 0; i < 240; i++) {
          const p = (await sb.status().catch(() => ({ pods: [] as never[] }))).pods.find((x) => x.name === 'waits');
          if (ok(p)) return p;
          await new Promise((res) => setTimeout(res, 250));
        }
        throw new Error('timed out');
      };
      const waiting = await waitFor((p) => !!p?.message?.includes('does not exist'));
      expect(waiting!.message).toContain(`hostPath ${path} of volume "f" does not exist (type File needs a file there)`);
      expect(waiting!.apps[0]!.state).not.toBe('running');
      await writeFile(path, 'arrived\n');
      const running = await waitFor((p) => p?.apps[0]?.state === 'running');
      expect(running!.status).toBe('Running');
      let log = '';
      for (let i = 0; i < 50 && !log.includes('arrived'); i++) {
        log = (await sb.run(['logs', 'waits', '-c', 'app'])).stdout;
        if (!log.includes('arrived')) await new Promise((res) => setTimeout(res, 100));
      }
      expect(log).toContain('arrived');
    } finally {
      daemon.kill('SIGTERM');
      await daemon;
    }
  });
});
