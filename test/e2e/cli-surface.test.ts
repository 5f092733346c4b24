/** The operator's surface that needs no pods: version, completion, the manual, errors and exit codes. */
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, closeSandbox, createSandbox, LOOP, podYaml, REPO, shortId, type Sandbox } from '../helpers/berth-cli.js';

const berth = (...args: string[]) => execa(CLI, args, { reject: false, env: { NO_COLOR: '1' } });

describe('berth version, completion, man, errors', () => {
  it('version names berth, node, the runtimes, conmon and the CNI plugin dirs; -o json for scripts', async () => {
    const text = await berth('version');
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^berth \d+\.\d+\.\d+ \(commit [0-9a-f]{12}|unknown\)/);
    expect(text.stdout).toMatch(/\ncrun: crun version \d/);
    const json = JSON.parse((await berth('version', '-o', 'json')).stdout) as {
      berth: { version: string };
      node: string;
      conmon: { version: string | null };
    };
    expect(json.node).toBe(process.version);
    expect(json.conmon.version).toMatch(/^conmon version/);
    expect((await berth('version', '-o', 'yaml')).exitCode).toBe(2);
  });

  it('completion scripts ask berth itself: commands, flags, flag values', async () => {
    const bash = await berth('completion', 'bash');
    expect(bash.stdout).toContain('complete -o default -F _berth berth');
    expect((await execa('bash', ['-n'], { input: bash.stdout })).exitCode).toBe(0);
    expect((await berth('__complete', '--', 'st')).stdout).toBe('status');
    expect((await berth('__complete', '--', 'status', '--sel')).stdout).toBe('--selector');
    expect((await berth('__complete', '--', '--runtime', '')).stdout).toBe('crun\nrunc');
    expect((await berth('completion', 'tcsh')).exitCode).toBe(3);
  });

  it('the build writes berth(1) from the same definitions', async () => {
    const page = await readFile(join(REPO, 'dist/man/berth.1'), 'utf8');
    expect(page).toContain('.SS berth reconcile');
    expect(page).toContain('.SH EXIT STATUS');
    const rendered = await execa('man', ['-l', join(REPO, 'dist/man/berth.1')], {
      reject: false,
      env: { MANPAGER: 'cat', MANWIDTH: '80' },
    });
    expect(rendered.stdout).toContain('EXIT STATUS');
  });

  it("errors are one line with a reason word and the table's exit code; --debug adds the stack", async () => {
    const missing = await berth('image', 'inspect', 'oci:/nonexistent/layout:x', '--state-dir', '/tmp/berth-surface-nonexistent');
    expect(missing.stderr).toMatch(/^berth: (NotFound|InvalidArgument): /);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const usage = await berth('status', '--no-such-flag');
    expect(usage.exitCode).toBe(3);
  });
});

describe('reconcile --once summary', () => {
  let sb: Sandbox | undefined;
  const uids = new Set<string>();
  afterAll(async () => {
    if (!sb) return;
    const { leaks } = await closeSandbox(sb, [...uids].map(shortId));
    expect(leaks).toEqual([]);
  });

  it('says pod by pod what changed, where it ended and why not; -o json for CI, a log record when piped', async () => {
    sb = await createSandbox('berth-e2e-summary');
    const image = 'oci:/opt/berth/images/busybox:latest';
    await sb.writeSpec('good.yaml', podYaml('good', image, [{ name: 'main', script: LOOP }], '  hostNetwork: true\n'));
    await sb.writeSpec(
      'bad.yaml',
      podYaml('bad', 'oci:/nonexistent/berth-summary:x', [{ name: 'main', script: LOOP }], '  hostNetwork: true\n'),
    );
    type Summary = { exitCode: number; pods: Array<{ name: string; change: string; converged: boolean; why: string | null }> };
    const first = await sb.run(['reconcile', '--once', '--timeout', '20s', '-o', 'json']);
    expect(first.exitCode, first.stderr).toBe(1);
    const s1 = JSON.parse(first.stdout) as Summary;
    expect(s1.exitCode).toBe(1);
    const byName = (s: Summary) => Object.fromEntries(s.pods.map((p) => [p.name, p]));
    expect(byName(s1).good).toMatchObject({ change: 'created', converged: true, why: null });
    expect(byName(s1).bad).toMatchObject({ change: 'created', converged: false });
    expect(byName(s1).bad!.why).toMatch(/ErrImagePull|ImagePullBackOff/);
    for (const p of (await sb.status()).pods) if (p.uid) uids.add(p.uid);

    await sb.removeSpec('bad.yaml');
    const second = await sb.run(['reconcile', '--once', '--timeout', '20s']);
    expect(second.exitCode, second.stderr).toBe(0);
    // stdout is not a terminal: NDJSON, the summary is its last record
    const last = JSON.parse(second.stdout.trim().split('\n').at(-1)!) as { msg: string; summary: Summary };
    expect(last.msg).toBe('reconcile summary');
    expect(byName(last.summary)).toMatchObject({ good: { change: 'unchanged', converged: true }, bad: { change: 'deleted' } });

    const human = await sb.run(['reconcile', '--once', '--timeout', '20s', '--log-format', 'text']);
    expect(human.stdout).toMatch(
      /NAMESPACE\s+NAME\s+CHANGE\s+STATUS\s+READY\ndefault\s+good\s+unchanged\s+Running\s+1\/1\n\nconverged: 1 unchanged$/,
    );
  });
});
