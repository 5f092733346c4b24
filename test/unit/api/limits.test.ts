/**
 * Issue 14.12: limits as the API server and the kernel have them, refused (or warned about)
 * with file:line and the field path, at validation rather than at run time.
 */
import { describe, expect, it } from 'vitest';
import { formatIssue, parseFile } from '../../../src/api/index.js';
import {
  checkPodLimits,
  EXEC_ARGS_LIMIT,
  hostPathWarning,
  MAX_ARG_STRLEN,
  MAX_DOCUMENT_BYTES,
  qualifiedNameProblems,
} from '../../../src/api/limits.js';
import { formatPath } from '../../../src/api/path.js';
import { Pod } from '../../../src/api/pod.js';
import { errors, warnings } from './helpers.js';

const pod = (over: { metadata?: Record<string, unknown>; spec?: Record<string, unknown>; container?: Record<string, unknown> } = {}) =>
  JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'lim', ...over.metadata },
      spec: { containers: [{ name: 'app', image: 'busybox', ...over.container }], ...over.spec },
    },
    null,
    2,
  );

const lines = (text: string, file = 'p.json') => parseFile(text, file).issues.map(formatIssue);

describe('size limits', () => {
  it('refuses annotations over 256 KiB in total, as the API server words it, and a document over 1.5 MiB', () => {
    const small = parseFile(pod({ metadata: { annotations: { a: 'x'.repeat(200 * 1024) } } }), 'p.json');
    expect(errors(small.issues)).toEqual([]);
    const r = parseFile(pod({ metadata: { annotations: { a: 'x'.repeat(200 * 1024), b: 'y'.repeat(100 * 1024) } } }), 'p.json');
    expect(r.pods).toEqual([]);
    expect(errors(r.issues).map(formatIssue)).toEqual([
      expect.stringMatching(
        /^p\.json:6:\d+: error: metadata\.annotations: Too long: must have at most 262144 bytes \(keys and values together have 30720\d\)$/,
      ),
    ]);
    const huge = parseFile(pod({ metadata: { annotations: { a: 'x'.repeat(1600 * 1024) } } }), 'p.json');
    expect(huge.pods).toEqual([]);
    expect(errors(huge.issues).map((i) => `${i.path}: ${i.message}`)).toEqual([
      expect.stringMatching(new RegExp(`^: the document is \\d+ bytes as JSON; a document may have at most ${MAX_DOCUMENT_BYTES} bytes`)),
      expect.stringMatching(/^metadata\.annotations: Too long/),
    ]);
    expect(errors(huge.issues)[0]).toMatchObject({ line: 1, key: 'default/lim' });
  });

  it('checks label keys and values and annotation keys like the API server', () => {
    const text = [
      'apiVersion: v1',
      'kind: Pod',
      'metadata:',
      '  name: lab',
      '  labels:',
      '    ok.example.com/app-1: web_1.x',
      '    "-bad": v',
      '    Bad_Prefix/x: v',
      `    long: ${'v'.repeat(64)}`,
      '    empty: ""',
      '  annotations:',
      '    "a/b/c": x',
      'spec:',
      '  containers: [{name: app, image: busybox}]',
    ].join('\n');
    expect(lines(text, 'l.yaml')).toEqual([
      expect.stringMatching(
        /^l\.yaml:7:5: error: metadata\.labels\["-bad"\]: invalid label key: name part must consist of alphanumeric characters/,
      ),
      expect.stringMatching(
        /^l\.yaml:8:5: error: metadata\.labels\["Bad_Prefix\/x"\]: invalid label key: prefix part a lowercase RFC 1123 subdomain/,
      ),
      'l.yaml:9:11: error: metadata.labels.long: invalid label value: must be no more than 63 characters',
      expect.stringMatching(/^l\.yaml:12:5: error: metadata\.annotations\["a\/b\/c"\]: invalid annotation key: a qualified name/),
    ]);
    expect(qualifiedNameProblems('example.com/MyName')).toEqual([]);
    expect(qualifiedNameProblems(`${'a'.repeat(64)}`)).toEqual(['name part must be no more than 63 characters']);
  });
});

describe('what execve(2) takes', () => {
  it('refuses an env value, command or args string over MAX_ARG_STRLEN with the real reason, naming the field', () => {
    const r = parseFile(
      pod({
        container: {
          command: ['sh', 'x'.repeat(MAX_ARG_STRLEN)],
          args: ['ok'],
          env: [
            { name: 'BIG', value: 'v'.repeat(1024 * 1024) },
            { name: 'FITS', value: 'v'.repeat(MAX_ARG_STRLEN - 'FITS='.length - 1) },
          ],
        },
      }),
      'e.json',
    );
    expect(r.pods).toEqual([]);
    expect(errors(r.issues).map((i) => `${i.line}: ${i.path}: ${i.message}`)).toEqual([
      expect.stringMatching(
        /^\d+: spec\.containers\[0\]\.command\[1\]: Argument list too long: this argument is 131073 bytes with its NUL, and the kernel takes at most 131072 bytes/,
      ),
      expect.stringMatching(/^\d+: spec\.containers\[0\]\.env\[0\]\.value: Argument list too long: "BIG=…" is 1048581 bytes/),
    ]);
  });

  it('refuses command, args and env that together exceed what execve takes', () => {
    // many short arguments: 250000 × (2 bytes + an 8-byte pointer) is over 2 MiB, the document is not
    const args = Array.from({ length: 250_000 }, () => 'a');
    // (checked on the Pod directly: the YAML parser takes seconds for a quarter million nodes)
    const issues = checkPodLimits(
      Pod.parse({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'many' },
        spec: { containers: [{ name: 'app', image: 'busybox', args }] },
      }),
    );
    expect(issues.map((i) => `${formatPath(i.path)}: ${i.message}`)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^spec\\.containers\\[0\\]: Argument list too long: command, args and env of this container come to \\d+ bytes .*over the ${EXEC_ARGS_LIMIT} bytes execve\\(2\\) takes`,
        ),
      ),
    ]);
    const env = Array.from({ length: 10 }, (_, i) => ({ name: `E${i}`, value: 'v'.repeat(120 * 1024) }));
    expect(errors(parseFile(pod({ container: { env } }), 'e.json').issues)).toEqual([]);
  });
});

describe('NUL bytes', () => {
  it('refuses a NUL in command, args, env, paths, hostname and keys, naming each field', () => {
    const text = [
      'apiVersion: v1',
      'kind: Pod',
      'metadata: {name: nul}',
      'spec:',
      '  volumes: [{name: d, hostPath: {path: "/tmp/a\\0b"}}]',
      '  containers:',
      '    - name: app',
      '      image: busybox',
      '      command: [sh, "-c", "echo hi\\0; rm -rf /"]',
      '      args: ["a\\0"]',
      '      workingDir: "/w\\0"',
      '      env: [{name: "A\\0B", value: "1"}, {name: C, value: "x\\0y"}]',
      '      volumeMounts: [{name: d, mountPath: "/m\\0"}]',
    ].join('\n');
    const r = parseFile(text, 'n.yaml');
    expect(r.pods).toEqual([]);
    const nul = errors(r.issues).filter((i) => i.message.includes('NUL'));
    expect(nul.map((i) => `${i.line}: ${i.path}`)).toEqual([
      '5: spec.volumes[0].hostPath.path',
      '9: spec.containers[0].command[2]',
      '10: spec.containers[0].args[0]',
      '11: spec.containers[0].workingDir',
      '12: spec.containers[0].env[0].name',
      '12: spec.containers[0].env[1].value',
      '13: spec.containers[0].volumeMounts[0].mountPath',
    ]);
    expect(nul[1]!.message).toMatch(/^contains a NUL byte \(at character 7\): the kernel reads strings up to the first NUL/);
  });
});

describe('NUL bytes in a Network', () => {
  it('refuses a NUL in a plugin field, naming it', () => {
    const text = [
      'apiVersion: berth.dev/v1',
      'kind: Network',
      'metadata: {name: n}',
      'spec:',
      '  plugins:',
      '    - {type: bridge, bridge: "br\\0x"}',
    ].join('\n');
    const r = parseFile(text, 'net.yaml');
    expect(r.networks).toEqual([]);
    expect(errors(r.issues).map(formatIssue)).toEqual([
      expect.stringMatching(/^net\.yaml:6:30: error: spec\.plugins\[0\]\.bridge: contains a NUL byte/),
    ]);
  });
});

describe('warnings', () => {
  it('warns for hostPath volumes of host system directories and runtime sockets, not for ordinary paths', () => {
    for (const p of [
      '/',
      '/etc',
      '/etc/',
      '/proc',
      '/sys/fs/cgroup',
      '/dev',
      '/boot',
      '/usr',
      '/var/lib/berth',
      '/var/lib/berth/blobs',
      '/var/run/docker.sock',
      '/run/containerd/containerd.sock',
      '/var',
      '/run',
      '//etc/../etc',
    ]) {
      expect(hostPathWarning(p), p).toBeDefined();
    }
    for (const p of ['/srv/data', '/tmp/x', '/etc/localtime', '/var/log/app', '/data']) expect(hostPathWarning(p), p).toBeUndefined();
    const r = parseFile(
      pod({
        spec: {
          volumes: [
            { name: 'root', hostPath: { path: '/' } },
            { name: 'etc', hostPath: { path: '/etc' } },
            { name: 'ok', hostPath: { path: '/srv/x' } },
          ],
        },
      }),
      'h.json',
    );
    expect(r.pods).toHaveLength(1);
    expect(warnings(r.issues).map((i) => `${i.path}: ${i.message}`)).toEqual([
      `spec.volumes[0].hostPath.path: hostPath "/" is the host's whole filesystem; the pod can read it, and change it unless every mount of it is readOnly`,
      `spec.volumes[1].hostPath.path: hostPath "/etc" is the host's configuration (/etc); the pod can read it, and change it unless every mount of it is readOnly`,
    ]);
  });

  it('warns for privileged hostPorts', () => {
    const r = parseFile(
      pod({
        container: {
          ports: [
            { containerPort: 22, hostPort: 22 },
            { containerPort: 80, hostPort: 8080 },
          ],
        },
      }),
      'p.json',
    );
    expect(r.pods).toHaveLength(1);
    expect(warnings(r.issues).map((i) => `${i.path}: ${i.message}`)).toEqual([
      expect.stringMatching(
        /^spec\.containers\[0\]\.ports\[0\]\.hostPort: hostPort 22 is a privileged port \(below 1024\), usually the host's ssh/,
      ),
    ]);
  });

  it('warns for a terminationGracePeriodSeconds longer than berth can wait, and accepts it', () => {
    const r = parseFile(pod({ spec: { terminationGracePeriodSeconds: 5_000_000 } }), 'g.json');
    expect(r.pods).toHaveLength(1);
    expect(warnings(r.issues).map((i) => `${i.path}: ${i.message}`)).toEqual([
      'spec.terminationGracePeriodSeconds: 5000000 s is longer than berth can wait (2147483 s, about 24 days): berth sends the stop signal, waits that long, then SIGKILL',
    ]);
  });
});
