/**
 * `reconcile --once` on a terminal (a pty from util-linux `script`): one line per pod redrawn
 * in place while it is set up, warnings above, then the summary table; piped, no redraw
 * sequences at all (NDJSON, the summary as the last record).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, createSandbox, isRoot, type Sandbox } from '../helpers/berth-cli.js';

const IMAGE = 'oci:/opt/berth/images/busybox:latest';
const pod = (name: string, image: string) => `apiVersion: v1
kind: Pod
metadata: { name: ${name} }
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
    - { name: main, image: "${image}", command: [sleep, '3600'] }
`;

describe.runIf(isRoot)('reconcile --once progress display', () => {
  let sb: Sandbox;

  beforeAll(async () => {
    sb = await createSandbox('berth-e2e-cli-progress');
    await sb.writeSpec('ok.yaml', pod('cli-prog-ok', IMAGE));
    await sb.writeSpec('bad.yaml', pod('cli-prog-bad', 'oci:/nonexistent/cli-progress:latest'));
  });

  afterAll(async () => {
    await sb?.dispose();
  });

  it('on a terminal: pod lines redrawn in place, the warning in words, then the table', async () => {
    const out = join(sb.root, 'tty.out');
    const cmd = ['node', CLI, 'reconcile', '--once', '--timeout', '8s', ...sb.args].map((a) => `'${a}'`).join(' ');
    await execa('script', ['-q', '-e', '-c', `stty cols 120; ${cmd}`, out], { reject: false, timeout: 120_000 });
    const text = await readFile(out, 'utf8');
    const esc = String.fromCharCode(27);
    expect(text).toMatch(new RegExp(`${esc}\\[\\d+F${esc}\\[J`)); // lines taken back and redrawn
    expect(text).toMatch(/default\/cli-prog-ok +(pulling|rendering|sandbox|running|initializing|creating) /);
    expect(text).toMatch(/default\/cli-prog-bad +back-off +ImagePullBackOff: .*does not exist/);
    expect(text).toMatch(/WARN.*default\/cli-prog-bad: pod did not converge.*ImagePullBackOff/);
    expect(text).not.toMatch(/^\{"level"/m);
    const table = text.slice(text.lastIndexOf('NAMESPACE'));
    expect(table).toMatch(/cli-prog-ok +created +Running/);
    expect(table).toMatch(/cli-prog-bad +created +ImagePullBackOff/);
  });

  it('piped: no redraws, NDJSON with the summary last', async () => {
    const r = await sb.run(['reconcile', '--once', '--timeout', '5s']);
    expect(r.stdout).not.toContain('\x1b[');
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      msg: string;
      summary: { pods: Array<{ name: string; reason: string | null }> };
    };
    expect(last.msg).toBe('reconcile summary');
    expect(last.summary.pods.find((p) => p.name === 'cli-prog-bad')).toMatchObject({ reason: 'ImagePullBackOff' });
  });
});
