/**
 * Issue 14.7: a pod with terminationGracePeriodSeconds above 4294967 (where
 * AbortSignal.timeout throws ERR_OUT_OF_RANGE) stayed Terminating for ever, re-sending TERM.
 * Now validation warns, teardown logs that the wait is clamped, sends TERM, and the pod is
 * gone as soon as its app exits.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxImage, closeSandbox, createSandbox, isRoot, shortId, type Sandbox } from '../helpers/berth-cli.js';

describe.skipIf(!isRoot)('terminationGracePeriodSeconds longer than a timer', () => {
  let sb: Sandbox;
  let image = '';
  const ids = new Set<string>();

  beforeAll(async () => {
    sb = await createSandbox('berth-e2egrace');
    image = await buildBusyboxImage(join(sb.root, 'image'));
  });

  afterAll(async () => {
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('warns at validation, and teardown sends TERM, waits for the app and removes the pod', async () => {
    const spec = `apiVersion: v1
kind: Pod
metadata: {name: long-grace}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 5000000
  containers:
    - name: main
      image: ${image}
      command: [sh, -c, "trap 'exit 0' TERM; sleep 765432 & wait"]
`;
    await sb.writeSpec('grace.yaml', spec);
    const v = await sb.run(['validate']);
    expect(v.exitCode, v.stdout).toBe(0);
    expect(v.stdout).toContain(
      'warning: spec.terminationGracePeriodSeconds: 5000000 s is longer than berth can wait (2147483 s, about 24 days)',
    );

    const up = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(up.exitCode, up.stdout.slice(-3000)).toBe(0);
    const pod = (await sb.status()).pods.find((p) => p.name === 'long-grace')!;
    expect(pod).toMatchObject({ status: 'Running' });
    ids.add(shortId(pod.uid!));

    await sb.removeSpec('grace.yaml');
    const down = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(down.exitCode, down.stdout.slice(-3000)).toBe(0);
    expect(down.stdout).toContain('terminationGracePeriodSeconds is longer than berth can wait');
    expect(down.stdout).not.toContain('ERR_OUT_OF_RANGE');
    expect((await sb.status()).pods).toEqual([]);
  });
});
