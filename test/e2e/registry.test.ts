/**
 * Issue 3 end to end with the built CLI: a pod whose image comes from a docker-registry on
 * 127.0.0.1 converges through `berth reconcile --once --config-dir`; `berth image
 * pull|ls|inspect|verify|gc`; `berth trust add|ls|rm`; a pod whose image fails the trust
 * policy reports ErrImagePull with the reason and does not start.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxImage, createSandbox, isRoot, leaksOf, LOOP, podYaml, shortId, type Sandbox } from '../helpers/berth-cli.js';
import { gpgKey, pushOci, skopeo, startRegistry, stopAll, stopGpgAgent } from '../integration/registry/helpers.js';
import type { RunningRegistry } from '../integration/registry/helpers.js';

describe.skipIf(!isRoot)('images from a registry, end to end', () => {
  let sb: Sandbox;
  let reg: RunningRegistry;
  let ref: string;
  let layout: string;
  let gpgHome: string | undefined;
  const ids = new Set<string>();

  beforeAll(async () => {
    sb = await createSandbox('berth-treg-e2e');
    layout = (await buildBusyboxImage(join(sb.root, 'image'))).replace(/^oci:/, '').replace(/:latest$/, '');
    reg = await startRegistry(join(sb.root, 'registry'));
    await pushOci(`${layout}:latest`, `${reg.host}/berth-treg/busybox:v1`);
    await pushOci(`${layout}:latest`, `${reg.host}/berth-treg/signed/busybox:v1`);
    ref = `${reg.host}/berth-treg/busybox:v1`;
    const config = join(sb.root, 'config');
    await mkdir(config, { recursive: true });
    await writeFile(join(config, 'registries.conf'), `[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`);
  });

  afterAll(async () => {
    const code = sb ? await sb.teardown() : 0;
    await stopAll();
    if (gpgHome) await stopGpgAgent(gpgHome);
    const leaks = sb ? await leaksOf([...ids, sb.root]) : [];
    await sb?.dispose();
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('berth image pull / ls / inspect / verify', async () => {
    const pull = await sb.run(['image', 'pull', ref]);
    expect(pull.exitCode, pull.stderr).toBe(0);
    expect(pull.stdout).toMatch(/sha256:[a-f0-9]{64} \(1 layers/);
    expect(pull.stderr).toMatch(/^layer\s+[a-f0-9]{12}\s+done$/m); // plain progress lines without a terminal
    const ls = await sb.run(['image', 'ls', '-o', 'json']);
    expect(JSON.parse(ls.stdout).images).toEqual([expect.objectContaining({ reference: ref, complete: true, rendered: false })]);
    const inspect = JSON.parse((await sb.run(['image', 'inspect', ref])).stdout);
    expect(inspect.config.config.Cmd).toEqual(['/bin/sh']);
    const verify = await sb.run(['image', 'verify']);
    expect(verify.exitCode, verify.stdout).toBe(0);
    expect(verify.stdout).toContain(`ok   ${ref}`);
  });

  it('pods with a registry image by tag and by digest converge through reconcile --once', async () => {
    // imagePullPolicy Always: the agent resolves the tag again (and logs the pull) although the image is stored
    await sb.writeSpec(
      'reg.yaml',
      podYaml('reg-pod', ref, [{ name: 'main', script: `echo from-registry; ${LOOP}` }], '  hostNetwork: true\n').replace(
        /(\n {6}image: [^\n]+\n)/,
        '$1      imagePullPolicy: Always\n',
      ),
    );
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(r.exitCode, r.stderr + r.stdout.slice(-2000)).toBe(0);
    const pod = (await sb.status()).pods.find((p) => p.name === 'reg-pod')!;
    if (pod.uid) ids.add(shortId(pod.uid));
    expect(pod).toMatchObject({ status: 'Running', ready: '1/1' });
    const inspect = JSON.parse((await sb.run(['image', 'inspect', ref])).stdout);
    expect(pod.apps[0]?.imageDigest).toBe(inspect.manifestDigest);
    expect(r.stdout).toContain('"msg":"image pull finished"');
    // by digest: the same image, resolved without the tag
    const byDigest = `${reg.host}/berth-treg/busybox@${inspect.manifestDigest}`;
    await sb.writeSpec('reg-digest.yaml', podYaml('reg-digest-pod', byDigest, [{ name: 'main', script: LOOP }], '  hostNetwork: true\n'));
    const r2 = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(r2.exitCode, r2.stderr + r2.stdout.slice(-2000)).toBe(0);
    const dpod = (await sb.status()).pods.find((p) => p.name === 'reg-digest-pod')!;
    if (dpod.uid) ids.add(shortId(dpod.uid));
    expect(dpod).toMatchObject({ status: 'Running', ready: '1/1' });
    expect(dpod.apps[0]?.imageDigest).toBe(inspect.manifestDigest);
    // gc with no grace keeps what a pod uses
    const gc = await sb.run(['image', 'gc', '--grace', '0s']);
    expect(gc.exitCode, gc.stderr).toBe(0);
    expect(existsSync(inspect.rootfs)).toBe(true);
  });

  it('trust add/ls/rm; a pod signed by skopeo with the trusted key runs, one not signed for its reference reports ErrImagePull and does not start', async () => {
    const key = await gpgKey(join(sb.root, 'gpg'), 'berth-treg e2e <e2e@berth.test>');
    gpgHome = key.home;
    const prefix = `${reg.host}/berth-treg/signed`;
    const add = await sb.run(['trust', 'add', '--prefix', prefix, key.publicKey]);
    expect(add.exitCode, add.stderr).toBe(0);
    const appc = await sb.run(['trust', 'add', '--transport', 'appc', '--prefix', 'example.com/berth-treg', key.publicKey]);
    expect(appc.exitCode, appc.stderr).toBe(0);
    expect(existsSync(join(sb.root, 'config', 'trustedkeys', 'prefix.d', 'example.com', 'berth-treg', key.fingerprint.toLowerCase()))).toBe(
      true,
    );
    const ls = JSON.parse((await sb.run(['trust', 'ls', '-o', 'json'])).stdout);
    expect(ls.trust).toContainEqual({ transport: 'docker', prefix, type: 'signedBy', keys: [key.fingerprint.toLowerCase()] });
    // sign busybox:signed with skopeo --sign-by into a lookaside directory berth is told about in registries.d
    const sigstore = join(sb.root, 'sigstore');
    const skopeoRd = join(sb.root, 'skopeo-registries.d');
    await mkdir(skopeoRd, { recursive: true });
    await writeFile(
      join(skopeoRd, 'default.yaml'),
      `default-docker:\n  lookaside: file://${sigstore}\n  lookaside-staging: file://${sigstore}\n`,
    );
    await skopeo(
      [
        '--registries.d',
        skopeoRd,
        'copy',
        '--dest-tls-verify=false',
        '--sign-by',
        key.fingerprint,
        `oci:${layout}:latest`,
        `docker://${prefix}/busybox:signed`,
      ],
      { GNUPGHOME: key.home },
    );
    await mkdir(join(sb.root, 'config', 'registries.d'), { recursive: true });
    await writeFile(
      join(sb.root, 'config', 'registries.d', 'berth-treg.yaml'),
      `docker:\n  ${prefix}:\n    lookaside: file://${sigstore}\n`,
    );
    await sb.writeSpec(
      'signed.yaml',
      podYaml('signed-pod', `${prefix}/busybox:signed`, [{ name: 'main', script: LOOP }], '  hostNetwork: true\n'),
    );
    await sb.writeSpec(
      'unsigned.yaml',
      podYaml('unsigned-pod', `${prefix}/busybox:v1`, [{ name: 'main', script: LOOP }], '  hostNetwork: true\n'),
    );
    const r = await sb.run(['reconcile', '--once', '--timeout', '15s']);
    expect(r.exitCode).toBe(1);
    const pods = (await sb.status()).pods;
    for (const p of pods) if (p.uid) ids.add(shortId(p.uid));
    expect(pods.find((p) => p.name === 'signed-pod')).toMatchObject({ status: 'Running', ready: '1/1' });
    const pod = pods.find((p) => p.name === 'unsigned-pod')!;
    expect(pod.status).toBe('ErrImagePull');
    // the only signature of this manifest names busybox:signed, not busybox:v1
    expect(pod.message).toMatch(/signedBy not satisfied: signature-1: signature identity .*busybox:signed" does not match/);
    expect(pod.apps[0]?.pid ?? null).toBeNull();
    const rm = await sb.run(['trust', 'rm', '--prefix', prefix]);
    expect(rm.exitCode, rm.stderr).toBe(0);
    await sb.removeSpec('signed.yaml');
    await sb.removeSpec('unsigned.yaml');
  });

  it('gc removes blobs and rendered trees once no pod uses them', async () => {
    await sb.removeSpec('reg.yaml');
    await sb.removeSpec('reg-digest.yaml');
    expect((await sb.run(['reconcile', '--once', '--timeout', '60s'])).exitCode).toBe(0);
    const gc = await sb.run(['image', 'gc', '--grace', '0s']);
    expect(gc.exitCode, gc.stderr).toBe(0);
    expect(gc.stdout).toMatch(/removed [1-9]\d* blob\(s\)/);
    expect((await readdir(join(sb.root, 'state', 'rendered'))).filter((n) => !n.startsWith('.'))).toEqual([]);
    expect(JSON.parse((await sb.run(['image', 'ls', '-o', 'json'])).stdout).images).toEqual([]);
  });
});
