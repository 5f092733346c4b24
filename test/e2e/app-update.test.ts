/**
 * Issue 13 item 2 on the real host (crun, conmon, CNI bridge): a change of one container's
 * env restarts only that app — the pod keeps its uid, netns and IP, the other app its PID —
 * `--dry-run` says so first, the summary counts the pod as updated, `events` shows the
 * kubelet's Killing message; the same content again changes nothing; a pod-level change
 * (a label) is a new pod.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSandbox, createSandbox, isRoot, LOOP, networkYaml, shortId, type Sandbox } from '../helpers/berth-cli.js';

const IMAGE = 'oci:/opt/berth/images/busybox:latest';

const spec = (opts: { greeting: string; rev?: string }) => `apiVersion: v1
kind: Pod
metadata: {name: upd, labels: {rev: "${opts.rev ?? '1'}"}}
spec:
  terminationGracePeriodSeconds: 5
  containers:
    - name: web
      image: ${IMAGE}
      env: [{name: GREETING, value: "${opts.greeting}"}]
      command: [sh, -c, ${JSON.stringify(`echo "$GREETING"; ${LOOP}`)}]
    - name: db
      image: ${IMAGE}
      command: [sh, -c, ${JSON.stringify(LOOP)}]
`;

describe.skipIf(!isRoot)('smallest change: one container changed restarts only that app (built CLI, crun)', () => {
  let sb: Sandbox;
  const ids = new Set<string>(['berthupd0']);

  beforeAll(async () => {
    sb = await createSandbox('berth-e2eupd');
    await sb.writeSpec('net.yaml', networkYaml('upd', 'berthupd0', '10.231.7.0/24', join(sb.root, 'ipam')));
  });

  afterAll(async () => {
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  const pod = async () => {
    const p = (await sb.status()).pods.find((x) => x.name === 'upd');
    if (!p?.uid) throw new Error('pod upd has no uid');
    ids.add(shortId(p.uid));
    return p;
  };
  const app = (p: Awaited<ReturnType<typeof pod>>, name: string) => p.apps.find((a) => a.name === name)!;

  it('restarts only the changed app, keeps the pod, its network and the other app', async () => {
    await sb.writeSpec('upd.yaml', spec({ greeting: 'hello' }));
    expect((await sb.run(['reconcile', '--once', '--timeout', '60s'])).exitCode).toBe(0);
    const before = await pod();
    expect(before.status).toBe('Running');

    await sb.writeSpec('upd.yaml', spec({ greeting: 'bonjour' }));
    const plan = await sb.run(['reconcile', '--dry-run']);
    expect(plan.exitCode).toBe(1); // changes planned
    expect(plan.stdout).toContain('restart app  default/upd/web  (container spec changed: env; the pod and its other apps keep running)');
    expect(plan.stdout).not.toContain('update  default/upd');

    const r = await sb.run(['reconcile', '--once', '--timeout', '60s', '-o', 'json']);
    expect(r.exitCode).toBe(0);
    expect((JSON.parse(r.stdout) as { pods: Array<{ name: string; change: string }> }).pods.find((x) => x.name === 'upd')?.change).toBe(
      'updated',
    );
    const after = await pod();
    expect(after.uid).toBe(before.uid);
    expect(after.netns).toBe(before.netns);
    expect(after.ips).toEqual(before.ips);
    expect(app(after, 'db').pid).toBe(app(before, 'db').pid);
    expect(app(after, 'db').restartCount).toBe(0);
    expect(app(after, 'web').pid).not.toBe(app(before, 'web').pid);
    expect(app(after, 'web').restartCount).toBe(1);

    const logs = await sb.run(['logs', 'upd', '-c', 'web']);
    expect(logs.stdout.trim()).toBe('bonjour');
    const previous = await sb.run(['logs', 'upd', '-c', 'web', '--previous']);
    expect(previous.stdout.trim()).toBe('hello');
    const events = await sb.run(['events', 'upd']);
    expect(events.stdout).toContain('Container web definition changed, will be restarted');

    // the same content again changes nothing
    expect((await sb.run(['reconcile', '--dry-run'])).exitCode).toBe(0);
    expect((await sb.run(['reconcile', '--once', '--timeout', '60s'])).exitCode).toBe(0);
    const again = await pod();
    expect(app(again, 'web').pid).toBe(app(after, 'web').pid);
    expect(app(again, 'db').pid).toBe(app(before, 'db').pid);
  });

  it('a pod-level change (a label) replaces the pod', async () => {
    const before = await pod();
    await sb.writeSpec('upd.yaml', spec({ greeting: 'bonjour', rev: '2' }));
    const plan = await sb.run(['reconcile', '--dry-run']);
    expect(plan.stdout).toContain('update  default/upd  (pod-level spec changed: metadata.labels;');
    expect((await sb.run(['reconcile', '--once', '--timeout', '60s'])).exitCode).toBe(0);
    const after = await pod();
    expect(after.uid).not.toBe(before.uid);
    expect(app(after, 'db').pid).not.toBe(app(before, 'db').pid);
  });
});
