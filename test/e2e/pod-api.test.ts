/**
 * Pod API fields that change what runs, seen from inside the apps with the built CLI (issue 9
 * item 6): subdomain and setHostnameAsFQDN (the kernel hostname, $HOSTNAME and /etc/hosts as
 * the kubelet makes them), every env fieldRef path the kubelet fills and resourceFieldRef,
 * tty (the app's stdout is a terminal, logged from it) and stdin (open, empty), and a
 * hostNetwork pod whose pod IP, hostname and /etc/hosts are the node's.
 * Host objects: bridge berth-pa0, subnet 10.247.0.0/24, IPAM dataDir under the sandbox.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSandbox, createSandbox, isRoot, LOOP, networkYaml, shortId, type Sandbox } from '../helpers/berth-cli.js';
import { nodeIPs } from '../../src/reconciler/pod-files.js';

const IMAGE = 'oci:/opt/berth/images/busybox:latest';
const BRIDGE = 'berth-pa0';
const FQDN = 'db-0.db.default.svc.cluster.local';

const env = (name: string, fieldPath: string) => `        - {name: ${name}, valueFrom: {fieldRef: {fieldPath: "${fieldPath}"}}}`;

describe.skipIf(!isRoot)('Pod API fields inside the apps', () => {
  let sb: Sandbox;
  const ids = new Set<string>([BRIDGE]);
  const logs = async (pod: string, app: string) => (await sb.run(['logs', pod, '-c', app])).stdout.replace(/\r/g, '');

  beforeAll(async () => {
    sb = await createSandbox('berth-podapi');
    await sb.writeSpec('00-net.yaml', networkYaml('podapinet', BRIDGE, '10.247.0.0/24', join(sb.root, 'ipam')));
    await sb.writeSpec(
      'fqdn.yaml',
      `apiVersion: v1
kind: Pod
metadata:
  name: fqdn
  labels: {app.kubernetes.io/name: shop}
  annotations: {example.com/owner: ops}
  creationTimestamp: null
spec:
  terminationGracePeriodSeconds: 2
  hostname: db-0
  subdomain: db
  setHostnameAsFQDN: true
  enableServiceLinks: true
  os: {name: linux}
  containers:
    - name: main
      image: ${IMAGE}
      command: [sh, -c, ${JSON.stringify(`echo "UNAME=$(hostname)"; echo "HOSTNAME=$HOSTNAME"; cat /etc/hosts; env | grep '^F_' | sort; [ -t 1 ] && echo STDOUT-TTY || echo STDOUT-NOTTY; echo MAIN-DONE; ${LOOP}`)}]
      resources: {requests: {memory: 32Mi}, limits: {memory: 64Mi, cpu: 250m}}
      env:
${[
  env('F_NAME', 'metadata.name'),
  env('F_NS', 'metadata.namespace'),
  env('F_UID', 'metadata.uid'),
  env('F_LABEL', "metadata.labels['app.kubernetes.io/name']"),
  env('F_ANNOTATION', "metadata.annotations['example.com/owner']"),
  env('F_NODE', 'spec.nodeName'),
  env('F_SA', 'spec.serviceAccountName'),
  env('F_HOST_IP', 'status.hostIP'),
  env('F_HOST_IPS', 'status.hostIPs'),
  env('F_POD_IP', 'status.podIP'),
  env('F_POD_IPS', 'status.podIPs'),
].join('\n')}
        - {name: F_MEM_LIMIT_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
        - {name: F_MEM_REQUEST, valueFrom: {resourceFieldRef: {resource: requests.memory}}}
        - {name: F_CPU_LIMIT_M, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}
      resizePolicy: [{resourceName: memory, restartPolicy: RestartContainer}]
    - name: term
      image: ${IMAGE}
      tty: true
      stdin: true
      command: [sh, -c, ${JSON.stringify(`[ -t 1 ] && echo STDOUT-TTY || echo STDOUT-NOTTY; [ -t 0 ] && echo STDIN-TTY || echo STDIN-NOTTY; stty size; echo TERM-DONE; ${LOOP}`)}]
    - name: pipe
      image: ${IMAGE}
      stdin: true
      command: [sh, -c, ${JSON.stringify(`ls -l /proc/self/fd/0 | grep -q pipe && echo STDIN-PIPE || echo STDIN-OTHER; exec 3<&0; cat <&3 >/dev/null & c=$!; sleep 1; if kill -0 $c 2>/dev/null; then echo STDIN-OPEN; kill $c; else echo STDIN-EOF; fi; echo PIPE-DONE; ${LOOP}`)}]
`,
    );
    await sb.writeSpec(
      'hostnet.yaml',
      `apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  terminationGracePeriodSeconds: 2
  hostNetwork: true
  hostname: ignored
  containers:
    - name: main
      image: ${IMAGE}
      command: [sh, -c, ${JSON.stringify(`echo "UNAME=$(hostname)"; env | grep '^F_' | sort; echo HOSTS-BEGIN; cat /etc/hosts; echo HOSTS-END; echo MAIN-DONE; ${LOOP}`)}]
      env:
${[env('F_POD_IP', 'status.podIP'), env('F_HOST_IP', 'status.hostIP'), env('F_NODE', 'spec.nodeName')].join('\n')}
`,
    );
    const r = await sb.run(['reconcile', '--once', '--timeout', '90s']);
    expect(r.exitCode, r.stderr).toBe(0);
    for (const p of (await sb.status()).pods) if (p.uid) ids.add(shortId(p.uid));
    // the scripts print once at start: wait until each has
    for (const [pod, app, mark] of [
      ['fqdn', 'main', 'MAIN-DONE'],
      ['fqdn', 'term', 'TERM-DONE'],
      ['fqdn', 'pipe', 'PIPE-DONE'],
      ['hostnet', 'main', 'MAIN-DONE'],
    ] as const) {
      for (let i = 0; i < 100 && !(await logs(pod, app)).includes(mark); i++) await new Promise((res) => setTimeout(res, 100));
    }
  }, 180_000);

  afterAll(async () => {
    if (!sb) return;
    const { code, leaks } = await closeSandbox(sb, ids);
    expect(code).toBe(0);
    expect(leaks).toEqual([]);
  }, 120_000);

  it('the kernel hostname and $HOSTNAME are the FQDN, and /etc/hosts lists the FQDN and the hostname for the pod IP', async () => {
    const out = await logs('fqdn', 'main');
    const ip = (await sb.status()).pods.find((p) => p.name === 'fqdn')!.ips[0]!;
    expect(out).toContain(`UNAME=${FQDN}\n`);
    expect(out).toContain(`HOSTNAME=${FQDN}\n`);
    expect(out).toContain(`${ip}\t${FQDN}\tdb-0\n`);
  });

  it('env fieldRefs and resourceFieldRefs have the values the kubelet gives', async () => {
    const out = await logs('fqdn', 'main');
    const pod = (await sb.status()).pods.find((p) => p.name === 'fqdn')!;
    const want = {
      F_NAME: 'fqdn',
      F_NS: 'default',
      F_UID: pod.uid!,
      F_LABEL: 'shop',
      F_ANNOTATION: 'ops',
      F_NODE: hostname().toLowerCase(),
      F_SA: '',
      F_HOST_IP: nodeIPs()[0]!,
      F_HOST_IPS: nodeIPs().join(','),
      F_POD_IP: pod.ips[0]!,
      F_POD_IPS: pod.ips.join(','),
      F_MEM_LIMIT_MI: '64',
      F_MEM_REQUEST: String(32 * 2 ** 20),
      F_CPU_LIMIT_M: '250',
    };
    for (const [k, v] of Object.entries(want)) expect(out).toContain(`${k}=${v}\n`);
    expect(out).toContain('STDOUT-NOTTY');
  });

  it('tty: true gives the app a terminal on stdin and stdout, its output logged from it', async () => {
    const out = await logs('fqdn', 'term');
    expect(out).toContain('STDOUT-TTY\n');
    expect(out).toContain('STDIN-TTY\n');
  });

  it('stdin: true without tty leaves stdin an open pipe that nobody writes to', async () => {
    const out = await logs('fqdn', 'pipe');
    expect(out).toContain('STDIN-PIPE\n');
    // a reader of stdin waits (nothing comes) rather than seeing end of file
    expect(out).toContain('STDIN-OPEN\n');
  });

  it("a hostNetwork pod has the node's hostname, and its pod IP is the node's", async () => {
    const out = await logs('hostnet', 'main');
    expect(out).toContain(`UNAME=${hostname()}\n`);
    expect(out).toContain(`F_POD_IP=${nodeIPs()[0]}\n`);
    expect(out).toContain(`F_HOST_IP=${nodeIPs()[0]}\n`);
    expect(out).toContain(`F_NODE=${hostname().toLowerCase()}\n`);
    // the node's /etc/hosts, as the kubelet gives hostNetwork pods
    const hosts = readFileSync('/etc/hosts', 'utf8');
    expect(out).toContain(`HOSTS-BEGIN\n${hosts.endsWith('\n') ? hosts : `${hosts}\n`}HOSTS-END\n`);
  });
});
