/**
 * `berth validate` applies every rule `reconcile` applies (issue 12 item 4): one bad set of
 * specs — a hostPort two pods ask for, a pod defined twice, a network nobody defines, image
 * references that cannot be pulled as written (bad syntax, an unknown containers-transport,
 * a bad appc name) — fed to both `validate -o json` and `reconcile --once --dry-run`; the
 * issues they report must be the same, and validate's JSON has every field for a machine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIssue, type SpecIssue } from '../../src/api/index.js';
import { createSandbox, type Sandbox } from '../helpers/berth-cli.js';

const pod = (name: string, extra: { image?: string; hostPort?: number; networks?: string } = {}) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
${extra.networks ? `  annotations: { k8s.v1.cni.cncf.io/networks: ${extra.networks} }\n` : ''}spec:
  containers:
    - name: main
      image: "${extra.image ?? 'oci:/opt/berth/images/busybox:latest'}"
      command: [sleep, '3600']
${extra.hostPort ? `      ports: [{ containerPort: 80, hostPort: ${extra.hostPort} }]\n` : ''}`;

interface JsonIssue {
  severity: 'error' | 'warning';
  reason: string | null;
  file: string;
  line: number | null;
  column: number | null;
  path: string;
  message: string;
  key: string | null;
}

const asSpecIssue = (i: JsonIssue): SpecIssue => ({
  severity: i.severity,
  file: i.file,
  path: i.path,
  message: i.message,
  ...(i.line !== null ? { line: i.line } : {}),
  ...(i.column !== null ? { column: i.column } : {}),
});

describe('validate and reconcile see the same problems', () => {
  let sb: Sandbox;

  beforeAll(async () => {
    sb = await createSandbox('berth-e2e-cli-validate');
    await sb.writeSpec('a-web.yaml', pod('cli-v-web', { hostPort: 18480 }));
    await sb.writeSpec('b-web2.yaml', pod('cli-v-web2', { hostPort: 18480 }));
    await sb.writeSpec('c-dup.yaml', pod('cli-v-web'));
    await sb.writeSpec('d-img.yaml', pod('cli-v-img', { image: 'Busy Box:latest!!' }));
    await sb.writeSpec('e-transport.yaml', pod('cli-v-cs', { image: 'containers-storage:busybox' }));
    await sb.writeSpec('f-appc.yaml', pod('cli-v-appc', { image: 'appc:Not A Name,os=linux' }));
    await sb.writeSpec('g-net.yaml', pod('cli-v-net', { networks: 'nosuch' }));
  });

  afterAll(async () => {
    await sb?.dispose();
  });

  it('reports each cross-document problem, with every JSON field, and exits 2', async () => {
    const v = await sb.run(['validate', '-o', 'json', sb.specDir]);
    expect(v.exitCode, v.stderr).toBe(2);
    const doc = JSON.parse(v.stdout) as { valid: boolean; files: string[]; pods: string[]; issues: JsonIssue[] };
    expect(doc.valid).toBe(false);
    expect(doc.files).toHaveLength(7);
    expect(doc.pods).toEqual(['default/cli-v-web']);
    for (const i of doc.issues)
      expect(Object.keys(i).sort()).toEqual(['column', 'file', 'key', 'line', 'message', 'path', 'reason', 'severity']);
    const by = (key: string) => doc.issues.filter((i) => i.key === key);
    expect(by('default/cli-v-web2')).toEqual([
      expect.objectContaining({
        severity: 'error',
        reason: 'InvalidSpec',
        line: expect.any(Number),
        column: expect.any(Number),
        message: expect.stringMatching(/hostPort|18480/),
      }),
    ]);
    expect(by('default/cli-v-web')).toEqual([expect.objectContaining({ reason: 'Conflict', file: expect.stringMatching(/c-dup\.yaml$/) })]);
    expect(by('default/cli-v-img')[0]).toMatchObject({ reason: 'InvalidSpec', path: 'spec.containers[0].image' });
    expect(by('default/cli-v-cs')[0]).toMatchObject({
      reason: 'InvalidSpec',
      path: 'spec.containers[0].image',
      message: expect.stringContaining('containers-storage'),
    });
    expect(by('default/cli-v-appc')[0]).toMatchObject({ reason: 'InvalidSpec', path: 'spec.containers[0].image' });
    expect(by('default/cli-v-net')[0]).toMatchObject({ reason: 'InvalidSpec', message: expect.stringContaining('nosuch') });
  });

  it('reconcile --once --dry-run reports exactly the issues validate reports', async () => {
    const v = await sb.run(['validate', '-o', 'json', sb.specDir]);
    const fromValidate = (JSON.parse(v.stdout) as { issues: JsonIssue[] }).issues.map((i) => formatIssue(asSpecIssue(i))).sort();
    const r = await sb.run(['reconcile', '--once', '--dry-run', '--log-format', 'json']);
    expect(r.exitCode, r.stderr).toBe(2);
    // the issue lines on stderr (not the NDJSON log records)
    const fromReconcile = r.stderr
      .split('\n')
      .filter((l) => l && !l.startsWith('{'))
      .sort();
    expect(fromReconcile).toEqual(fromValidate);
    expect(fromValidate.length).toBeGreaterThanOrEqual(6);
  });
});
