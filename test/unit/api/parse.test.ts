import { describe, expect, it } from 'vitest';
import { formatIssue, parseFile } from '../../../src/api/index.js';
import { errors, fixtureText, parseFixture, podYaml, warnings } from './helpers.js';

describe('parseFile: valid documents', () => {
  it.each([
    ['valid/web.yaml', ['default/web', 'jobs/worker'], []],
    ['valid/networks.yaml', [], ['podnet', 'storage']],
    ['valid/multi-net.yaml', ['default/db', 'default/host-agent'], []],
  ])('%s loads without issues', (name, pods, networks) => {
    const parsed = parseFixture(name);
    expect(parsed.issues).toEqual([]);
    expect(parsed.pods.map((p) => p.key)).toEqual(pods);
    expect(parsed.networks.map((n) => n.name)).toEqual(networks);
  });

  it('applies defaults and records where each document starts', () => {
    const [web, worker] = parseFixture('valid/web.yaml').pods;
    expect(web).toMatchObject({
      kind: 'Pod',
      namespace: 'default',
      name: 'web',
      source: { file: 'valid/web.yaml', doc: 0, line: 2, column: 1 },
      pod: { metadata: { namespace: 'default' }, spec: { restartPolicy: 'Always', terminationGracePeriodSeconds: 30, hostNetwork: false } },
    });
    expect(web?.pod.spec.containers[0]?.ports?.[0]?.protocol).toBe('TCP');
    expect(worker).toMatchObject({ key: 'jobs/worker', source: { doc: 1, line: 29 }, pod: { spec: { restartPolicy: 'OnFailure' } } });
  });

  it.each([
    ['an empty file', ''],
    ['only comments', '# nothing here\n'],
    ['empty documents', '---\n---\n# c\n---\n'],
  ])('skips %s', (_what, text) => {
    expect(parseFile(text, 'e.yaml')).toEqual({ file: 'e.yaml', pods: [], networks: [], issues: [] });
  });

  it('reads JSON files (JSON is YAML)', () => {
    const json = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'j' },
      spec: { containers: [{ name: 'a', image: 'busybox' }] },
    });
    expect(parseFile(json, 'j.json').pods.map((p) => p.key)).toEqual(['default/j']);
  });

  it('keeps the valid documents of a file whose other documents are invalid', () => {
    const parsed = parseFile(`${podYaml('good')}---\n${podYaml('bad', { spec: '  restartPolicy: Sometimes' })}`, 'm.yaml');
    expect(parsed.pods.map((p) => p.key)).toEqual(['default/good']);
    expect(errors(parsed.issues).map((i) => i.key)).toEqual(['default/bad']);
  });
});

describe('parseFile: positions of errors', () => {
  it('points an unknown field at the key itself', () => {
    const issues = parseFixture('invalid/typo.yaml').issues;
    // containers is then missing too: reported at the mapping that lacks it.
    expect(issues.map((i) => [i.path, i.line, i.column])).toEqual([
      ['spec.containers', 6, 3],
      ['spec.contaners', 6, 3],
    ]);
    const issue = issues.find((i) => i.path === 'spec.contaners');
    expect(issue).toEqual({
      severity: 'error',
      file: 'invalid/typo.yaml',
      line: 6,
      column: 3,
      path: 'spec.contaners',
      message: 'unknown field "contaners" (did you mean "containers"?)',
      key: 'default/typo',
    });
    expect(formatIssue(issue!)).toBe(
      'invalid/typo.yaml:6:3: error: spec.contaners: unknown field "contaners" (did you mean "containers"?)',
    );
  });

  it.each([
    // [what, yaml, path, line, column, message fragment]
    [
      'a nested typo',
      podYaml('p').replace('image: busybox', 'image: busybox\n      imagePullPolcy: Always'),
      'spec.containers[0].imagePullPolcy',
      9,
      7,
      'unknown field "imagePullPolcy"',
    ],
    [
      'a wrong type',
      podYaml('p').replace('image: busybox', 'image: busybox\n      args: "--once"'),
      'spec.containers[0].args',
      9,
      13,
      'expected array, got string',
    ],
    [
      'a bad enum',
      podYaml('p', { spec: '  restartPolicy: always' }),
      'spec.restartPolicy',
      6,
      18,
      'must be one of "Always", "OnFailure", "Never"',
    ],
    [
      'a missing field (at the mapping that lacks it)',
      podYaml('p').replace('      image: busybox\n', ''),
      'spec.containers[0].image',
      7,
      7,
      'required field is missing',
    ],
    [
      'an empty value (at its key)',
      podYaml('p').replace('image: busybox', 'image:'),
      'spec.containers[0].image',
      8,
      7,
      'is empty: expected string',
    ],
    [
      'a bad quantity',
      podYaml('p').replace('image: busybox', 'image: busybox\n      resources: {limits: {memory: lots}}'),
      'spec.containers[0].resources.limits.memory',
      9,
      36,
      'must be a quantity',
    ],
    ['a bad pod name', podYaml('Web_1'), 'metadata.name', 4, 9, 'DNS-1123'],
  ])('%s', (_what, text, path, line, column, message) => {
    const issues = errors(parseFile(text, 'p.yaml').issues);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path, line, column });
    expect(issues[0]?.message).toContain(message);
  });

  it('reports a YAML syntax error at its position, without a pod key', () => {
    const issues = parseFixture('invalid/syntax.yaml').issues;
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ severity: 'error', file: 'invalid/syntax.yaml', line: 9, column: 1, path: '' });
    expect(issues[0]?.message).toMatch(/^invalid YAML: /);
    expect(issues[0]?.key).toBeUndefined();
  });

  it('reports a half-written file (unterminated string) as a syntax error', () => {
    const parsed = parseFixture('invalid/half-written.yaml');
    expect(parsed.pods).toEqual([]);
    expect(errors(parsed.issues)[0]).toMatchObject({ line: 9, column: 1, message: 'invalid YAML: Missing closing "quote' });
    expect(parsed.issues[0]?.key).toBeUndefined();
  });

  it('reports duplicate keys', () => {
    const issues = parseFile(podYaml('p').replace('image: busybox', 'image: busybox\n      image: nginx'), 'd.yaml').issues;
    expect(issues[0]).toMatchObject({ severity: 'error', line: 9, column: 7 });
    expect(issues[0]?.message).toMatch(/unique/);
  });

  it('names the apiVersion and kind of a document it does not read', () => {
    const text =
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\napiVersion: v2\nkind: Pod\nmetadata: {name: p}\n---\n- a list\n';
    const issues = parseFile(text, 'k.yaml').issues;
    expect(issues.map((i) => [i.line, i.path, i.key])).toEqual([
      [2, 'kind', undefined],
      [5, 'apiVersion', 'default/p'],
      [9, '', undefined],
    ]);
    expect(issues[0]?.message).toContain('apiVersion "apps/v1", kind "Deployment"');
    expect(issues[1]?.message).toContain('unsupported apiVersion "v2" for kind "Pod"');
    expect(issues[2]?.message).toContain('mapping');
  });

  it('keys issues of an invalid pod by namespace/name when it can tell them', () => {
    const issues = parseFile(podYaml('p', { namespace: 'team', spec: '  bogus: 1' }), 'k.yaml').issues;
    expect(issues.map((i) => i.key)).toEqual(['team/p']);
    const nameless = parseFile('apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {containers: []}\n', 'n.yaml').issues;
    expect(nameless.length).toBeGreaterThan(0);
    expect(nameless.every((i) => i.key === undefined)).toBe(true);
  });
});

describe('parseFile: fields berth cannot honour', () => {
  it('rejects every API-server field in the fixture with a reason, and nothing else', () => {
    const issues = parseFixture('invalid/api-server.yaml').issues;
    expect(issues.map((i) => [i.severity, i.path, i.line])).toEqual([
      ['error', 'spec.serviceAccountName', 6],
      ['error', 'spec.imagePullSecrets', 7],
      ['error', 'spec.containers[0].envFrom', 11],
      ['error', 'spec.containers[0].env[0].valueFrom.secretKeyRef', 14],
      ['error', 'spec.volumes[0].secret', 17],
      ['error', 'spec.volumes[1].persistentVolumeClaim', 19],
    ]);
    for (const i of issues)
      expect(i.message).toContain('is not supported by berth: it needs a Kubernetes API server, which berth does not have');
    expect(new Set(issues.map((i) => i.key))).toEqual(new Set(['default/cluster-only']));
  });

  it.each([
    ['serviceAccount', '  serviceAccount: x', 'spec.serviceAccount'],
    ['automountServiceAccountToken: true', '  automountServiceAccountToken: true', 'spec.automountServiceAccountToken'],
    ['configMap volume', '  volumes: [{name: c, configMap: {name: c}}]', 'spec.volumes[0].configMap'],
    ['projected volume', '  volumes: [{name: c, projected: {sources: []}}]', 'spec.volumes[0].projected'],
  ])('%s needs an API server', (_what, spec, path) => {
    const issues = parseFile(podYaml('p', { spec }), 'a.yaml').issues;
    expect(issues.map((i) => i.path)).toEqual([path]);
    expect(issues[0]?.message).toMatch(/needs a Kubernetes API server, which berth does not have/);
  });

  it('rejects configMapKeyRef in env', () => {
    const text = podYaml('p').replace(
      'image: busybox',
      'image: busybox\n      env: [{name: A, valueFrom: {configMapKeyRef: {name: c, key: k}}}]',
    );
    const issues = parseFile(text, 'a.yaml').issues;
    expect(issues.map((i) => i.path)).toEqual(['spec.containers[0].env[0].valueFrom.configMapKeyRef']);
  });

  it('names volume types it has no driver for', () => {
    const issues = parseFile(podYaml('p', { spec: '  volumes: [{name: n, nfs: {server: s, path: /x}}]' }), 'a.yaml').issues;
    expect(issues.map((i) => [i.path, i.message])).toEqual([
      ['spec.volumes[0].nfs', 'nfs volumes are not supported by berth: berth has no driver for them; use a hostPath or emptyDir volume'],
    ]);
  });

  it.each([
    ['nodeSelector', '  nodeSelector: {disk: ssd}'],
    ['affinity', '  affinity: {nodeAffinity: {}}'],
    ['tolerations', '  tolerations: [{key: k, operator: Exists}]'],
    ['priorityClassName', '  priorityClassName: high'],
    ['priority', '  priority: 1000'],
    ['schedulerName', '  schedulerName: default-scheduler'],
    ['nodeName', '  nodeName: node1'],
  ])('accepts %s with a warning', (field, spec) => {
    const parsed = parseFile(podYaml('p', { spec }), 'w.yaml');
    expect(parsed.pods).toHaveLength(1);
    expect(errors(parsed.issues)).toEqual([]);
    expect(warnings(parsed.issues)).toEqual([
      {
        severity: 'warning',
        file: 'w.yaml',
        line: 6,
        column: 3,
        path: `spec.${field}`,
        message: 'ignored: berth runs pods on this host only',
        key: 'default/p',
      },
    ]);
  });
});

describe('parseFile: checks across fields', () => {
  const withContainer = (extra: string): string => podYaml('p').replace('image: busybox', `image: busybox\n${extra}`);
  it.each([
    [
      'duplicate container names across init and app containers',
      podYaml('p', { spec: '  initContainers: [{name: app, image: busybox}]' }),
      'spec.containers[0].name',
      'duplicate container name "app"',
    ],
    [
      'a mount of an undeclared volume',
      withContainer('      volumeMounts: [{name: data, mountPath: /data}]'),
      'spec.containers[0].volumeMounts[0].name',
      'no volume named "data"',
    ],
    [
      'a volume without a source',
      podYaml('p', { spec: '  volumes: [{name: v}]' }),
      'spec.volumes[0]',
      'needs a source: hostPath or emptyDir',
    ],
    [
      'a volume with two sources',
      podYaml('p', { spec: '  volumes: [{name: v, emptyDir: {}, hostPath: {path: /x}}]' }),
      'spec.volumes[0]',
      'more than one source',
    ],
    [
      'duplicate volume names',
      podYaml('p', { spec: '  volumes: [{name: v, emptyDir: {}}, {name: v, emptyDir: {}}]' }),
      'spec.volumes[1].name',
      'duplicate volume name',
    ],
    [
      'hostPort without containerPort',
      withContainer('      ports: [{hostPort: 8080}]'),
      'spec.containers[0].ports[0].containerPort',
      'hostPort alone is not enough',
    ],
    [
      'an unsupported fieldRef',
      withContainer('      env: [{name: A, valueFrom: {fieldRef: {fieldPath: metadata.labels}}}]'),
      'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath',
      'fieldPath "metadata.labels" is only valid in a downwardAPI volume',
    ],
    [
      'value and valueFrom together',
      withContainer('      env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]'),
      'spec.containers[0].env[0]',
      'both value and valueFrom',
    ],
    [
      'hostNetwork with the networks annotation',
      podYaml('p', { annotation: 'podnet', spec: '  hostNetwork: true' }),
      'metadata.annotations["k8s.v1.cni.cncf.io/networks"]',
      'hostNetwork',
    ],
    [
      'hostPort other than containerPort with hostNetwork',
      podYaml('p', { spec: '  hostNetwork: true' }).replace(
        'image: busybox',
        'image: busybox\n      ports: [{containerPort: 80, hostPort: 8080}]',
      ),
      'spec.containers[0].ports[0].hostPort',
      'must equal containerPort',
    ],
    [
      'a hostPort used twice',
      podYaml('p', {
        spec: '  initContainers: [{name: i, image: busybox, ports: [{containerPort: 1, hostPort: 53, protocol: UDP}]}]',
      }).replace('image: busybox\n', 'image: busybox\n      ports: [{containerPort: 53, hostPort: 53, protocol: UDP}]\n'),
      'spec.containers[0].ports[0].hostPort',
      'hostPort 53/UDP is already used by spec.initContainers[0].ports[0]',
    ],
    [
      'a malformed annotation',
      podYaml('p', { annotation: '[{"name": "a"' }),
      'metadata.annotations["k8s.v1.cni.cncf.io/networks"]',
      'not valid JSON',
    ],
  ])('rejects %s', (_what, text, path, message) => {
    const parsed = parseFile(text, 'c.yaml');
    expect(parsed.pods).toEqual([]);
    const issues = errors(parsed.issues);
    expect(issues.map((i) => i.path)).toEqual([path]);
    expect(issues[0]?.message).toContain(message);
    expect(issues[0]?.key).toBe('default/p');
  });

  it.each([
    'metadata.name',
    'metadata.namespace',
    'metadata.uid',
    "metadata.labels['app.kubernetes.io/name']",
    "metadata.annotations['example.com/x']",
    'spec.nodeName',
    'spec.serviceAccountName',
    'status.hostIP',
    'status.hostIPs',
    'status.podIP',
    'status.podIPs',
  ])('supports fieldRef %s', (fieldPath) => {
    const parsed = parseFile(
      podYaml('p').replace(
        'image: busybox',
        `image: busybox\n      env: [{name: A, valueFrom: {fieldRef: {fieldPath: ${JSON.stringify(fieldPath)}}}}]`,
      ),
      'f.yaml',
    );
    expect(parsed.issues).toEqual([]);
  });

  it('points an annotation error at the annotation value', () => {
    const issue = errors(parseFile(podYaml('p', { annotation: 'a@eth0, b@eth0' }), 'c.yaml').issues)[0];
    expect(issue).toMatchObject({ line: 6, column: 34 });
    expect(fixtureText('valid/web.yaml')).toBeTruthy();
  });
});
