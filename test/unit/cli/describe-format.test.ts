/** `berth describe` formatting from a fixed record: kubectl describe pod's layout. */
import { describe, expect, it } from 'vitest';
import { describeProbe, eventLines, formatDescribe, tabwrite, type DescribeInput } from '../../../src/cli/describe-format.js';
import type { PodRecord, PodStatusRow } from '../../../src/reconciler/index.js';

process.env.TZ = 'UTC';
const T0 = Date.UTC(2026, 11, 2, 0, 0, 0);
const NOW = T0 + 10 * 60_000;
const UID = '0a1b2c3d-4e5f-8000-8000-000000000001';

const rec = {
  version: 1,
  uid: UID,
  key: 'default/web',
  namespace: 'default',
  name: 'web',
  hash: 'h',
  source: { file: '/etc/podspecs/web.yaml', line: 1 },
  createdAt: T0,
  updatedAt: T0,
  phase: 'running',
  lastError: null,
  netns: '/run/netns/berth-0a1b2c3d4e5f',
  attachments: [{ network: 'berth', interface: 'eth0', ips: ['10.88.0.5/16'] }],
  initDone: true,
  networks: [],
  pod: {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', labels: { tier: 'fe', app: 'web' }, annotations: { team: 'infra' } },
    spec: {
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      hostNetwork: false,
      initContainers: [
        { name: 'setup', image: 'busybox:1.36', command: ['sh', '-c', 'echo hi'], volumeMounts: [{ name: 'data', mountPath: '/data' }] },
      ],
      containers: [
        {
          name: 'app',
          image: 'nginx:1.27',
          args: ['--port', '8080'],
          ports: [{ containerPort: 8080, hostPort: 18080, protocol: 'TCP' }],
          resources: { limits: { memory: '128Mi', cpu: '500m' }, requests: { cpu: '250m', memory: '64Mi' } },
          livenessProbe: { httpGet: { path: '/healthz', port: 8080 } },
          readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, initialDelaySeconds: 5, periodSeconds: 5 },
          startupProbe: { tcpSocket: { port: 8080 }, failureThreshold: 30 },
          env: [
            { name: 'MODE', value: 'prod' },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory' } } },
          ],
          volumeMounts: [
            { name: 'data', mountPath: '/var/www', readOnly: true, subPath: 'www' },
            { name: 'cache', mountPath: '/cache' },
          ],
        },
        {
          name: 'side',
          image: 'busybox:1.36',
          command: ['sleep', 'inf'],
          ports: [
            { containerPort: 53, protocol: 'UDP' },
            { containerPort: 53, protocol: 'TCP' },
          ],
        },
      ],
      volumes: [
        { name: 'data', hostPath: { path: '/srv/web', type: 'Directory' } },
        { name: 'cache', emptyDir: {} },
      ],
    },
  },
  apps: {
    setup: { image: 'busybox:1.36', containerId: 'berth-0a1b2c3d4e5f-setup', init: true, imageDigest: `sha256:${'1'.repeat(64)}` },
    app: {
      image: 'nginx:1.27',
      containerId: 'berth-0a1b2c3d4e5f-app',
      imageDigest: `sha256:${'2'.repeat(64)}`,
      state: 'running',
      restartCount: 2,
      startedAt: T0 + 5 * 60_000,
      lastExit: { exitCode: 137, finishedAt: T0 + 5 * 60_000 - 1000, reason: 'OOMKilled' },
      lastError: null,
    },
    side: {
      image: 'busybox:1.36',
      containerId: 'berth-0a1b2c3d4e5f-side',
      state: 'backoff',
      restartCount: 4,
      backoffMs: 40_000,
      lastExit: { exitCode: 1, finishedAt: NOW - 20_000 },
      lastError: null,
    },
  },
} as unknown as PodRecord;

const row = {
  namespace: 'default',
  name: 'web',
  uid: UID,
  status: 'CrashLoopBackOff',
  ready: '1/2',
  restarts: 6,
  reason: 'side',
  message: 'back-off restarting app side (exit code 1)',
  source: '/etc/podspecs/web.yaml',
  netns: '/run/netns/berth-0a1b2c3d4e5f',
  ips: ['10.88.0.5'],
  networks: [],
  apps: [
    {
      name: 'app',
      state: 'running',
      reason: null,
      pid: 100,
      restartCount: 2,
      exitCode: 137,
      image: 'nginx:1.27',
      imageDigest: null,
      startedAt: null,
    },
    {
      name: 'side',
      state: 'terminated',
      reason: 'CrashLoopBackOff',
      pid: null,
      restartCount: 4,
      exitCode: 1,
      image: 'busybox:1.36',
      imageDigest: null,
      startedAt: null,
    },
  ],
  createdAt: null,
  labels: {},
  ports: [],
  lastRestartAt: null,
} as unknown as PodStatusRow;

const input: DescribeInput = {
  rec,
  row,
  live: {
    setup: { containerId: 'berth-0a1b2c3d4e5f-setup', state: 'unknown' },
    app: { containerId: 'berth-0a1b2c3d4e5f-app', state: 'running', pid: 100, startedAt: T0 + 5 * 60_000 },
    side: { containerId: 'berth-0a1b2c3d4e5f-side', state: 'exited', exitCode: 1, startedAt: NOW - 21_000, finishedAt: NOW - 20_000 },
  },
  events: [
    {
      type: 'Normal',
      reason: 'Pulling',
      message: 'Pulling image "nginx:1.27"',
      app: 'app',
      count: 1,
      firstTimestamp: T0,
      lastTimestamp: T0,
      source: 'berth',
    },
    {
      type: 'Warning',
      reason: 'BackOff',
      message: 'Back-off restarting failed container side',
      app: 'side',
      count: 4,
      firstTimestamp: T0 + 2 * 60_000,
      lastTimestamp: NOW - 20_000,
      source: 'berth',
    },
    {
      type: 'Normal',
      reason: 'Started',
      message: 'Started container app',
      app: 'app',
      count: 3,
      firstTimestamp: T0 + 60_000,
      lastTimestamp: T0 + 5 * 60_000,
      source: 'berth',
    },
  ],
  now: NOW,
  node: 'host1/192.0.2.10',
  runtime: 'crun',
};

const EXPECTED = `Name:         web
Namespace:    default
Node:         host1/192.0.2.10
Start Time:   Wed, 02 Dec 2026 00:00:00 +0000
Labels:       app=web
              tier=fe
Annotations:  team: infra
Status:       Running
Reason:       CrashLoopBackOff
Message:      back-off restarting app side (exit code 1)
Source:       /etc/podspecs/web.yaml:1
IP:           10.88.0.5
IPs:
  IP:  10.88.0.5
Init Containers:
  setup:
    Image:      busybox:1.36
    Image ID:   busybox:1.36@sha256:${'1'.repeat(64)}
    Port:       <none>
    Host Port:  <none>
    Command:
      sh
      -c
      echo hi
    State:          Terminated
      Reason:       Completed
      Exit Code:    0
    Ready:          True
    Restart Count:  0
    Environment:    <none>
    Mounts:
      /data from data (rw)
Containers:
  app:
    Container ID:  crun://berth-0a1b2c3d4e5f-app
    Image:         nginx:1.27
    Image ID:      nginx:1.27@sha256:${'2'.repeat(64)}
    Port:          8080/TCP
    Host Port:     18080/TCP
    Args:
      --port
      8080
    State:          Running
      Started:      Wed, 02 Dec 2026 00:05:00 +0000
    Last State:     Terminated
      Reason:       OOMKilled
      Exit Code:    137
      Finished:     Wed, 02 Dec 2026 00:04:59 +0000
    Ready:          True
    Restart Count:  2
    Limits:
      cpu:     500m
      memory:  128Mi
    Requests:
      cpu:      250m
      memory:   64Mi
    Liveness:   http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3
    Readiness:  exec [cat /tmp/ready] delay=5s timeout=1s period=5s #success=1 #failure=3
    Startup:    tcp-socket :8080 delay=0s timeout=1s period=10s #success=1 #failure=30
    Environment:
      MODE:      prod
      POD_NAME:  web (v1:metadata.name)
      POD_IP:    10.88.0.5 (v1:status.podIP)
      MEM:       128Mi (limits.memory)
    Mounts:
      /cache from cache (rw)
      /var/www from data (ro,path="www")
  side:
    Container ID:  crun://berth-0a1b2c3d4e5f-side
    Image:         busybox:1.36
    Image ID:      
    Ports:         53/UDP, 53/TCP
    Host Ports:    0/UDP, 0/TCP
    Command:
      sleep
      inf
    State:          Waiting
      Reason:       CrashLoopBackOff
    Last State:     Terminated
      Reason:       Error
      Exit Code:    1
      Finished:     Wed, 02 Dec 2026 00:09:40 +0000
    Ready:          False
    Restart Count:  4
    Environment:    <none>
    Mounts:         <none>
Conditions:
  Type                        Status
  PodReadyToStartContainers   True 
  Initialized                 True 
  Ready                       False 
  ContainersReady             False 
  PodScheduled                True 
Volumes:
  data:
    Type:          HostPath (bare host directory volume)
    Path:          /srv/web
    HostPathType:  Directory
  cache:
    Type:        EmptyDir (a temporary directory that shares a pod's lifetime)
    Medium:      
    SizeLimit:   <unset>
QoS Class:       Burstable
Node-Selectors:  <none>
Tolerations:     <none>
Events:
  Type     Reason   Age               From   Message
  ----     ------   ----              ----   -------
  Normal   Pulling  10m               berth  Pulling image "nginx:1.27"
  Normal   Started  5m (x3 over 9m)   berth  Started container app
  Warning  BackOff  20s (x4 over 8m)  berth  Back-off restarting failed container side
`;

describe('berth describe formatting', () => {
  it('lays a fixed record out as kubectl describe pod does', () => {
    expect(formatDescribe(input)).toBe(EXPECTED);
  });

  it('probe lines in kubectl format, API defaults filled in', () => {
    expect(describeProbe({ httpGet: { path: '/healthz', port: 8080 } })).toBe(
      'http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3',
    );
    expect(describeProbe({ httpGet: { path: 'x', port: 'http', host: '::1', scheme: 'HTTPS' }, timeoutSeconds: 2 })).toBe(
      'http-get https://[::1]:http/x delay=0s timeout=2s period=10s #success=1 #failure=3',
    );
    expect(describeProbe({ grpc: { port: 9000 } })).toBe('grpc <pod>:9000  delay=0s timeout=1s period=10s #success=1 #failure=3');
  });

  it('no events: "Events: <none>"; tabwriter blocks end at a line without a cell', () => {
    expect(eventLines([], NOW)).toEqual(['Events:\t<none>']);
    expect(tabwrite('a:\tx\nlonger:\ty\nbreak\nb:\tz')).toBe('a:       x\nlonger:  y\nbreak\nb:  z');
  });
});
