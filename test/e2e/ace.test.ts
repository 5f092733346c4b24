/**
 * appc executor conformance (issue 9 item 9): appc/spec's own executor validator, built from
 * Debian's golang-github-appc-spec-dev source by scripts/build-ace-validator.sh (cached by
 * source hash), run under berth as one pod of its two apps through the built CLI. Each mode
 * of the validator prints "<mode> OK" or "<mode> FAIL" plus one line per failed check:
 * main (PATH, working directory, environment, AC_APP_NAME, the /db mount, the metadata
 * service, /prestart present, /poststop absent), sidekick (the shared volume), prestart
 * (ran first, inside the app's rootfs) and poststop (ran after main, in the same rootfs).
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSandbox, createSandbox, isRoot, networkYaml, REPO, shortId, type Sandbox } from '../helpers/berth-cli.js';
import { makeGpgKey, trustKey } from '../integration/appc/aci-helpers.js';

const BRIDGE = 'berth-tace0';
const canBuild =
  isRoot &&
  (await execa('bash', ['-c', 'command -v go && test -f /usr/share/gocode/src/github.com/appc/spec/ace/validator.go'], { reject: false }))
    .exitCode === 0;

describe.skipIf(!canBuild)('the appc ACE validator under berth reconcile --once', () => {
  let sb: Sandbox;
  const acis: Record<'main' | 'sidekick', string> = { main: '', sidekick: '' };
  const ids = new Set<string>([BRIDGE]);

  beforeAll(async () => {
    const built = await execa('bash', [join(REPO, 'scripts/build-ace-validator.sh')], { reject: false, timeout: 540_000 });
    expect(built.exitCode, built.stderr).toBe(0);
    const cache = built.stdout.trim().split('\n').at(-1)!;
    sb = await createSandbox('berth-tace-e2e');
    const configDir = join(sb.root, 'config');
    await mkdir(configDir, { recursive: true });
    const key = await makeGpgKey(sb.root, 'berth-tace e2e <e2e@example.com>');
    await trustKey(configDir, 'coreos.com', key.fingerprint, key.armoredPublic);
    for (const typ of ['main', 'sidekick'] as const) {
      acis[typ] = join(sb.root, `ace-validator-${typ}.aci`);
      await copyFile(join(cache, `ace-validator-${typ}.aci`), acis[typ]);
      await key.sign(acis[typ]);
    }
    await sb.writeSpec('00-net.yaml', networkYaml('tacenet', BRIDGE, '10.237.0.0/16', join(sb.root, 'ipam')));
  }, 600_000);

  afterAll(async () => {
    if (!sb) return;
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('passes every check: main, sidekick, prestart, poststop, metadata', async () => {
    await sb.writeSpec(
      'ace.yaml',
      `apiVersion: v1
kind: Pod
metadata:
  name: ace
  annotations: {example.com/suite: ace-validator, Not_An_ACIdentifier: left-out}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  containers:
    - name: ace-validator-main
      image: aci:${acis.main}
    - name: ace-validator-sidekick
      image: aci:${acis.sidekick}
`,
    );
    // --min-ready longer than the validator runs: --once returns once both apps have completed
    const r = await sb.run(['reconcile', '--once', '--timeout', '90s', '--min-ready', '60s']);
    for (const p of (await sb.status()).pods) if (p.uid) ids.add(shortId(p.uid));
    const out = r.stdout + r.stderr;
    const main = (await sb.run(['logs', 'ace', '-c', 'ace-validator-main'])).stdout;
    const sidekick = (await sb.run(['logs', 'ace', '-c', 'ace-validator-sidekick'])).stdout;
    const why = `main:\n${main}\nsidekick:\n${sidekick}\nagent:\n${out.slice(-4000)}`;
    // the validator's own verdicts, in the order the executor must run them
    expect(
      main.split('\n').filter((l) => / (OK|FAIL)$/.test(l)),
      why,
    ).toEqual(['prestart OK', 'main OK', 'poststop OK']);
    expect(sidekick, why).toContain('sidekick OK');
    expect(`${main}\n${sidekick}`, why).not.toMatch(/FAIL|==>/);
    expect(r.exitCode, why).toBe(0);
    const pod = (await sb.status()).pods.find((p) => p.name === 'ace')!;
    expect(pod.status, why).toBe('Completed');
    // "database" has no pod volume: the implicit per-pod empty volume, said once per app
    expect(out).toMatch(/appc mountPoint \\"database\\" has no pod volume/);
  });
});
