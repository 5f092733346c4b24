/**
 * appc end to end (issue 4): one pod mixing an ACI app and an OCI app through the built CLI.
 * The ACI (built by hand, gpg-signed, its key trusted in rkt's layout under --config-dir)
 * runs as `nobody:nogroup` in its working directory with its environment and AC_APP_NAME;
 * it reaches the OCI app over the pod's shared loopback.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { buildBusyboxImage, CLI, closeSandbox, createSandbox, isRoot, networkYaml, shortId, type Sandbox } from '../helpers/berth-cli.js';
import { buildAci, makeGpgKey, trustKey } from '../integration/appc/aci-helpers.js';

const BRIDGE = 'berth-taci0';

describe.skipIf(!isRoot)('appc apps through berth reconcile --once', () => {
  let sb: Sandbox;
  let ociImage = '';
  let aci = '';
  const ids = new Set<string>([BRIDGE]);

  beforeAll(async () => {
    sb = await createSandbox('berth-taci-e2e');
    ociImage = await buildBusyboxImage(join(sb.root, 'oci'));
    const configDir = join(sb.root, 'config');
    await mkdir(configDir, { recursive: true });
    const key = await makeGpgKey(sb.root, 'berth-taci e2e <e2e@example.com>');
    await trustKey(configDir, 'example.com/taci', key.fingerprint, key.armoredPublic);
    const script = [
      'echo "app=$AC_APP_NAME ids=$(id -u):$(id -g) groups=$(id -G) cwd=$(pwd) greeting=$GREETING container=$container path=$PATH"',
      'echo "volume=$(cat /data/shared.txt)"',
      'i=0; until wget -q -O - http://127.0.0.1:8080/hello.txt; do i=$((i+1)); [ $i -gt 50 ] && echo no-answer && break; sleep 0.2; done',
      'trap "exit 0" TERM; while true; do sleep 1 & wait $!; done',
    ].join('; ');
    aci = join(sb.root, 'client.aci');
    await buildAci(aci, {
      manifest: {
        acKind: 'ImageManifest',
        acVersion: '0.8.11',
        name: 'example.com/taci/client',
        labels: [
          { name: 'version', value: '1.0.0' },
          { name: 'os', value: 'linux' },
          { name: 'arch', value: 'amd64' },
        ],
        app: {
          exec: ['sh', '-c', script],
          user: 'nobody',
          group: 'nogroup',
          supplementaryGids: [50],
          workingDirectory: '/srv/work',
          mountPoints: [{ name: 'data', path: '/data', readOnly: true }],
          environment: [{ name: 'GREETING', value: 'hello-appc' }],
          isolators: [
            { name: 'resource/memory', value: { limit: '64Mi' } },
            { name: 'os/linux/seccomp-retain-set', value: { set: ['@rkt/default-whitelist'] } },
          ],
        },
      },
      dirs: { 'srv/work': 0o755 },
    });
    await key.sign(aci);
    await sb.writeSpec('00-net.yaml', networkYaml('tacinet', BRIDGE, '10.231.0.0/16', join(sb.root, 'ipam')));
  });

  afterAll(async () => {
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('runs an ACI app next to an OCI app in one pod: user, group, working directory, environment, AC_APP_NAME, mountPoints, shared netns', async () => {
    await mkdir(join(sb.root, 'data'), { recursive: true });
    await writeFile(join(sb.root, 'data', 'shared.txt'), 'from-pod-volume\n');
    await sb.writeSpec(
      'mixed.yaml',
      `apiVersion: v1
kind: Pod
metadata: {name: mixed}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: web
      image: ${ociImage}
      command: [sh, -c, "mkdir -p /tmp/www && echo shared-netns > /tmp/www/hello.txt && exec httpd -f -p 8080 -h /tmp/www"]
    - name: client
      image: aci:${aci}
  volumes:
    - name: data
      hostPath: {path: ${join(sb.root, 'data')}}
`,
    );
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    for (const p of (await sb.status()).pods) if (p.uid) ids.add(shortId(p.uid));
    expect(r.exitCode, r.stdout.slice(-3000) + r.stderr).toBe(0);
    const pod = (await sb.status()).pods.find((p) => p.name === 'mixed')!;
    expect(pod).toMatchObject({ status: 'Running', ready: '2/2' });
    expect(pod.apps.find((a) => a.name === 'client')?.imageDigest).toMatch(/^sha512:[0-9a-f]{128}$/);
    // the ignored isolator is reported with the pod and app
    expect(r.stdout).toMatch(/"ignoredIsolators":\["os\/linux\/seccomp-retain-set"\]/);
    let out = '';
    for (let i = 0; i < 50 && !out.includes('shared-netns') && !out.includes('no-answer'); i++) {
      await new Promise((res) => setTimeout(res, 200));
      out = (await sb.run(['logs', 'mixed', '-c', 'client'])).stdout;
    }
    expect(out).toContain('app=client ids=65534:65534');
    expect(out).toMatch(/groups=65534 50\b/);
    expect(out).toContain(
      'cwd=/srv/work greeting=hello-appc container=berth path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    );
    expect(out).toContain('shared-netns');
    expect(out).toContain('volume=from-pod-volume'); // the image's mountPoint "data", bound to the pod volume "data"
  });

  it('an agent that adopts the running pod serves its metadata again, without restarting the app', async () => {
    const before = (await sb.status()).pods.find((p) => p.name === 'mixed')!;
    const clientPid = before.apps.find((a) => a.name === 'client')!.pid;
    // the app's AC_METADATA_URL, fetched from inside the pod's network namespace (the service answers the pod's IP only)
    const url = (
      await execa('node', [CLI, ...sb.args, 'exec', 'mixed', '-c', 'client', '--', 'sh', '-c', 'echo "$AC_METADATA_URL"'], {
        stdin: 'ignore',
      })
    ).stdout.trim();
    expect(url).toMatch(/^http:\/\/10\.231\.0\.1:\d+\/[0-9a-f]{32}$/);
    const fetchJs = `fetch(process.argv[1], { headers: { 'Metadata-Flavor': 'AppContainer' }, signal: AbortSignal.timeout(2000) }).then(async (r) => { const t = await r.text(); if (!r.ok) { console.error(r.status, t); process.exit(1); } process.stdout.write(t); }, (e) => { console.error(String(e.cause ?? e)); process.exit(1); })`;
    const uuid = () =>
      execa('nsenter', [`--net=${before.netns}`, 'node', '-e', fetchJs, `${url}/acMetadata/v1/pod/uuid`], {
        reject: false,
        timeout: 30_000,
      });
    // the --once agent that started the pod is gone, and its metadata service with it
    expect((await uuid()).exitCode).not.toBe(0);
    const daemon = sb.spawn(['reconcile', '--resync', '1h', '--cni-check', '0s']);
    let out = '';
    daemon.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    try {
      let r = await uuid();
      for (const end = Date.now() + 60_000; r.exitCode !== 0 && Date.now() < end; r = await uuid())
        await new Promise((res) => setTimeout(res, 500));
      expect(r.exitCode, `${r.stderr}\n${out.slice(-1500)}`).toBe(0);
      expect(r.stdout.trim()).toBe(before.uid);
    } finally {
      daemon.kill('SIGTERM');
      await daemon;
    }
    const after = (await sb.status()).pods.find((p) => p.name === 'mixed')!;
    expect(after.apps.find((a) => a.name === 'client')!.pid).toBe(clientPid);
  });

  it('refuses a tampered ACI with a clear reason (ErrImagePull)', async () => {
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(aci);
    bytes[bytes.length - 50]! ^= 0xff;
    const bad = join(sb.root, 'tampered.aci');
    await writeFile(bad, bytes);
    await writeFile(`${bad}.asc`, await readFile(`${aci}.asc`));
    await sb.writeSpec(
      'bad.yaml',
      `apiVersion: v1
kind: Pod
metadata: {name: tampered}
spec:
  containers:
    - name: client
      image: aci:${bad}
`,
    );
    const r = await sb.run(['reconcile', '--once', '--timeout', '20s']);
    expect(r.exitCode).toBe(1);
    const pod = (await sb.status()).pods.find((p) => p.name === 'tampered')!;
    expect(pod.status).toBe('ErrImagePull');
    expect(pod.message ?? '').toMatch(/tampered\.aci.*bad signature/);
    await sb.removeSpec('bad.yaml');
  });
});
