/**
 * `berth status` with kubectl get's conventions (issue 12 item 3), through the built CLI on
 * real pods: three pods in two namespaces with labels and a hostPort on a bridge of this
 * file's own (berthst0, 10.234.0.0/24). Each flag as an operator would use it; `-w` prints a
 * row when a pod is added; a script parses `-o json`; status creates nothing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, closeSandbox, createSandbox, isRoot, LOOP, networkYaml, shortId, type Sandbox } from '../helpers/berth-cli.js';

const BRIDGE = 'berthst0';
const IMAGE = 'oci:/opt/berth/images/busybox:latest';
const HOST_PORT = 18_481;

function pod(name: string, namespace: string, labels: Record<string, string>, ports = ''): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${namespace}
  labels: ${JSON.stringify(labels)}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: main
      image: ${IMAGE}
      command: [sh, -c, ${JSON.stringify(LOOP)}]
${ports}`;
}

interface Row {
  namespace: string;
  name: string;
  status: string;
  uid: string | null;
  labels: Record<string, string>;
  ports: Array<{ containerPort: number; hostPort: number | null; protocol: string }>;
  createdAt: string | null;
  restarts: number;
}

/** Resolve once `test` holds for the text the process printed so far (bounded, not timed). */
async function waitFor(text: () => string, test: (s: string) => boolean, what: string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!test(text())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; got:\n${text()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!isRoot)('berth status (kubectl get conventions)', () => {
  let sb: Sandbox;
  const ids = new Set<string>([BRIDGE]);
  const watchers: ResultPromise[] = [];
  const status = async (...args: string[]) => sb.run(['status', ...args]);
  /** stdout exactly as printed (sb.run strips the final newline) */
  const raw = async (...args: string[]) =>
    (await execa('node', [CLI, 'status', ...args, ...sb.args], { reject: false, stripFinalNewline: false })).stdout;
  const remember = async () => {
    const r = await sb.run(['status', '-A', '-o', 'json']);
    if (r.exitCode === 0) for (const p of (JSON.parse(r.stdout) as { pods: Row[] }).pods) if (p.uid) ids.add(shortId(p.uid));
  };
  const names = (stdout: string) =>
    stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(/\s+/));

  beforeAll(async () => {
    sb = await createSandbox('berth-st');
    await sb.writeSpec('00-net.yaml', networkYaml('stnet', BRIDGE, '10.234.0.0/24', join(sb.root, 'ipam')));
    await sb.writeSpec(
      'web.yaml',
      pod(
        'web',
        'default',
        { app: 'web', tier: 'front' },
        `      ports: [{containerPort: 80, hostPort: ${HOST_PORT}}, {containerPort: 53, protocol: UDP}]\n`,
      ),
    );
    await sb.writeSpec('db.yaml', pod('db', 'data', { app: 'db', tier: 'back' }));
    await sb.writeSpec('cache.yaml', pod('cache', 'data', { app: 'cache' }));
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    await remember();
    expect(r.exitCode, r.stderr).toBe(0);
  });

  afterAll(async () => {
    for (const w of watchers) if (w.pid && w.exitCode === null) process.kill(w.pid, 'SIGKILL');
    if (!sb) return;
    await remember();
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  });

  it('shows only -n NS (default: default), every namespace with -A and a NAMESPACE column, one pod by name', async () => {
    const def = await status();
    expect(def.exitCode, def.stderr).toBe(0);
    expect(names(def.stdout)).toEqual([
      ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'],
      ['web', '1/1', 'Running', '0', expect.stringMatching(/^\d+s$/)],
    ]);
    const data = await status('-n', 'data');
    expect(names(data.stdout).map((c) => c[0])).toEqual(['NAME', 'cache', 'db']);
    const all = await status('-A');
    expect(names(all.stdout).map((c) => c.slice(0, 2))).toEqual([
      ['NAMESPACE', 'NAME'],
      ['data', 'cache'],
      ['data', 'db'],
      ['default', 'web'],
    ]);
    expect(names((await status('db', '-n', 'data')).stdout).map((c) => c[0])).toEqual(['NAME', 'db']);
    expect(names((await status('data/db')).stdout).map((c) => c[0])).toEqual(['NAME', 'db']);
    expect((await status('db')).exitCode).toBe(1); // db is not in default
    const none = await status('-n', 'nothing-here');
    expect(none).toMatchObject({ exitCode: 0, stdout: '' });
    expect(none.stderr).toContain('No pods found in nothing-here namespace');
  });

  it('gives a script -o json (every spelling), yaml of the same document, names, and jsonpath', async () => {
    const json = await status('-A', '-o', 'json');
    expect(json.exitCode, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as { pods: Row[] };
    const web = doc.pods.find((p) => p.name === 'web')!;
    expect(web).toMatchObject({ namespace: 'default', status: 'Running', restarts: 0, labels: { app: 'web', tier: 'front' } });
    expect(web.ports).toEqual([
      { app: 'main', name: null, containerPort: 80, hostPort: HOST_PORT, hostIP: null, protocol: 'TCP' },
      { app: 'main', name: null, containerPort: 53, hostPort: null, hostIP: null, protocol: 'UDP' },
    ]);
    expect(Date.parse(web.createdAt!)).toBeGreaterThan(0);
    for (const spelling of [['-o=json'], ['--output', 'json'], ['--output=json'], ['-ojson']]) {
      const r = await status('-A', ...spelling);
      expect(r.exitCode, `${spelling.join(' ')}: ${r.stderr}`).toBe(0);
      expect((JSON.parse(r.stdout) as { pods: Row[] }).pods.map((p) => p.name)).toEqual(doc.pods.map((p) => p.name));
    }
    const yaml = await status('-A', '-o', 'yaml');
    expect(yaml.exitCode).toBe(0);
    const fromYaml = YAML.parse(yaml.stdout) as { pods: Row[] };
    expect(fromYaml.pods.map((p) => [p.namespace, p.name, p.status, p.labels])).toEqual(
      doc.pods.map((p) => [p.namespace, p.name, p.status, p.labels]),
    );
    expect(await raw('-A', '-o', 'name')).toBe('pod/cache\npod/db\npod/web\n');
    expect(await raw('-n', 'data', '-o', 'jsonpath={.pods[*].name}')).toBe('cache db');
    expect((await status('-A', '-o', 'jsonpath={.pods[0].status}')).stdout).toBe('Running');
    expect(await raw('-A', '-o', 'jsonpath={range .pods[*]}{.namespace}/{.name}{"\\t"}{.status}{"\\n"}{end}')).toBe(
      'data/cache\tRunning\ndata/db\tRunning\ndefault/web\tRunning\n',
    );
  });

  it('refuses an unknown output format, a bad selector or template, and -A with a pod name: exit 3', async () => {
    const xyz = await status('-o', 'xyz');
    expect(xyz).toMatchObject({ exitCode: 3, stdout: '' });
    expect(xyz.stderr.trim()).toBe('berth: error: unknown output format "xyz" (wide, json, yaml, name, jsonpath=…)');
    for (const args of [
      ['-l', 'app in (web'],
      ['-l', 'a b'],
      ['-o', 'jsonpath={.pods[*'],
      ['--sort-by', '.pods[x]'],
      ['-A', 'web'],
    ]) {
      const r = await status(...args);
      expect(r.exitCode, args.join(' ')).toBe(3);
      expect(r.stderr).toMatch(/^berth: error: /);
    }
  });

  it('filters by label selector: equality, inequality, set-based, existence', async () => {
    const sel = async (s: string) => (await status('-A', '-l', s, '-o', 'name')).stdout.trim().split('\n').filter(Boolean);
    expect(await sel('tier=back')).toEqual(['pod/db']);
    expect(await sel('tier!=back')).toEqual(['pod/cache', 'pod/web']);
    expect(await sel('app in (web,cache)')).toEqual(['pod/cache', 'pod/web']);
    expect(await sel('app notin (web),tier')).toEqual(['pod/db']);
    expect(await sel('!tier')).toEqual(['pod/cache']);
    expect(await sel('app==nothing')).toEqual([]);
    expect(names((await status('-n', 'data', '-l', 'app=db')).stdout).map((c) => c[0])).toEqual(['NAME', 'db']);
  });

  it('leaves the header out with --no-headers, sorts with --sort-by, shows PORTS in -o wide', async () => {
    const plain = await status('-A', '--no-headers', '--sort-by', '.name');
    expect(names(plain.stdout).map((c) => c.slice(0, 2))).toEqual([
      ['data', 'cache'],
      ['data', 'db'],
      ['default', 'web'],
    ]);
    const byNs = await status('-A', '--no-headers', '--sort-by', '{.labels.app}');
    expect(names(byNs.stdout).map((c) => c[1])).toEqual(['cache', 'db', 'web']);
    const byNamespace = await status('-A', '--sort-by=.namespace', '-o', 'name');
    expect(byNamespace.stdout).toBe('pod/cache\npod/db\npod/web'); // execa strips the final newline
    const wide = await status('-o', 'wide');
    const [head, row] = wide.stdout.split('\n');
    expect(head).toMatch(/^NAME +READY +STATUS +RESTARTS +AGE +IP +NETWORKS +PORTS +IMAGE +REVISION$/);
    expect(row).toMatch(
      new RegExp(
        `^web .* 10\\.234\\.0\\.\\d+ +stnet\\(eth0\\) +${HOST_PORT}->80/TCP,53/UDP +${IMAGE.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} +<none>$`,
      ),
    ); // REVISION: a spec dir has none
  });

  it('-w prints the rows, then a new row when a pod is added, and stops on SIGTERM with exit 0', async () => {
    const table = sb.spawn(['status', '-A', '-w']);
    const json = sb.spawn(['status', '-n', 'data', '-w', '-o', 'json']);
    watchers.push(table, json);
    let tableOut = '';
    let jsonOut = '';
    table.stdout!.on('data', (d: Buffer) => (tableOut += d.toString()));
    json.stdout!.on('data', (d: Buffer) => (jsonOut += d.toString()));
    await waitFor(
      () => tableOut,
      (s) => s.split('\n').length > 4,
      'the first table',
    );
    await waitFor(
      () => jsonOut,
      (s) => s.split('\n').length > 2,
      'the first JSON lines',
    );
    const first = tableOut.split('\n').filter(Boolean);
    expect(first.map((l) => l.split(/\s+/).slice(0, 2))).toEqual([
      ['NAMESPACE', 'NAME'],
      ['data', 'cache'],
      ['data', 'db'],
      ['default', 'web'],
    ]);

    await sb.writeSpec('queue.yaml', pod('queue', 'data', { app: 'queue' }));
    const r = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(r.exitCode, r.stderr).toBe(0);
    await waitFor(
      () => tableOut,
      (s) => /^data +queue +1\/1 +Running /m.test(s),
      'a Running row for the new pod',
    );
    await waitFor(
      () => jsonOut,
      (s) =>
        s.includes('"name":"queue"') &&
        /"status":"Running"/.test(
          s
            .split('\n')
            .filter((l) => l.includes('"name":"queue"'))
            .pop() ?? '',
        ),
      'a JSON line for the new pod',
    );
    // every line of the JSON stream is one pod's row; the old pods did not change
    const lines = jsonOut
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Row);
    expect(lines.slice(0, 2).map((p) => p.name)).toEqual(['cache', 'db']);
    expect(new Set(lines.slice(2).map((p) => p.name)), JSON.stringify(lines.filter((p) => p.name !== 'queue'))).toEqual(new Set(['queue']));
    // the added rows line up under the first table's columns
    const header = first[0]!;
    const added = tableOut.split('\n').find((l) => /^data +queue /.test(l))!;
    expect(added.indexOf('queue')).toBe(header.search(/\bNAME\b/));

    for (const w of [table, json]) process.kill(w.pid!, 'SIGTERM');
    const [t, j] = await Promise.all([table, json]);
    expect(t.exitCode, String(t.stderr)).toBe(0);
    expect(j.exitCode, String(j.stderr)).toBe(0);
    await remember();
  });

  it('shows RESTARTS as "N (AGE ago)" for a crashing app, sorts it last by .restarts', async () => {
    await sb.writeSpec(
      'crash.yaml',
      pod('crash', 'crashns', { app: 'crash' }).replace(JSON.stringify(LOOP), JSON.stringify('echo bye; exit 1')),
    );
    const r = await sb.run(['reconcile', '--once', '--timeout', '8s', '--min-ready', '1s']);
    await remember();
    expect(r.exitCode, r.stderr).toBe(1); // a crash loop does not converge
    const rows = names((await status('-n', 'crashns', '--no-headers')).stdout);
    expect(rows).toHaveLength(1);
    const line = (await status('-n', 'crashns', '--no-headers')).stdout;
    expect(line).toMatch(/^crash +0\/1 +(CrashLoopBackOff|Error|ContainerCreating) +[1-9]\d* \(\d+s ago\) +\d+s$/);
    const doc = JSON.parse((await status('-n', 'crashns', '-o', 'json')).stdout) as { pods: Array<Row & { lastRestartAt: string | null }> };
    expect(doc.pods[0]!.restarts).toBeGreaterThan(0);
    expect(Date.parse(doc.pods[0]!.lastRestartAt!)).toBeGreaterThan(Date.parse(doc.pods[0]!.createdAt!) - 1);
    expect((await status('-A', '--sort-by', '.restarts', '-o', 'name')).stdout.split('\n').pop()).toBe('pod/crash');
    await sb.removeSpec('crash.yaml');
  });

  it('creates nothing: status on fresh directories leaves them absent', async () => {
    const state = join(sb.root, 'fresh-state');
    const run = join(sb.root, 'fresh-run');
    for (const args of [[], ['-A', '-o', 'wide'], ['-o', 'json'], ['-o', 'yaml']]) {
      const dirs = [
        '--spec-dir',
        sb.specDir,
        '--state-dir',
        state,
        '--run-dir',
        run,
        '--log-dir',
        join(sb.root, 'fresh-log'),
        '--config-dir',
        join(sb.root, 'fresh-config'),
      ];
      const r = await execa('node', [CLI, 'status', ...args, ...dirs], { reject: false });
      expect(r.exitCode, r.stderr).toBe(0);
    }
    for (const d of ['fresh-state', 'fresh-run', 'fresh-log', 'fresh-config']) expect(existsSync(join(sb.root, d)), d).toBe(false);
  });
});
