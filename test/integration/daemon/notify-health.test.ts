/**
 * sd_notify through the real systemd-notify to a notify socket the test listens on (a small
 * python datagram receiver, as systemd's), and the health endpoints over the Unix socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { startHealthServer } from '../../../src/daemon/health.js';
import { createNotifier } from '../../../src/daemon/notify.js';

const RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print("listening", flush=True)
out = open(sys.argv[2], "a")
while True:
    data, anc, flags, addr = s.recvmsg(4096, 1024)
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            import array
            fds = array.array("i"); fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
            for fd in fds:
                import os; os.close(fd)
    out.write(data.decode() + "\\n---\\n"); out.flush()
`;

const get = (socketPath: string, path: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });

describe('daemon service integration', () => {
  let dir: string;
  let receiver: ChildProcess | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-notify-'));
  });
  afterEach(async () => {
    const r = receiver;
    receiver = undefined;
    if (r?.pid && r.exitCode === null && r.signalCode === null) {
      const gone = new Promise((res) => r.once('exit', res));
      r.kill('SIGKILL');
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('READY, STATUS, WATCHDOG and STOPPING reach the notify socket through systemd-notify, with the main pid', async () => {
    const sock = join(dir, 'notify');
    const log = join(dir, 'messages');
    receiver = spawn('python3', ['-c', RECEIVER, sock, log], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => receiver!.stdout!.once('data', () => resolve()));
    const n = createNotifier({ NOTIFY_SOCKET: sock, WATCHDOG_USEC: '4000000' }, silentLogger(), { pid: 4242 });
    expect(n.watchdogMs).toBe(2000);
    n.ready('2 pods: 2 Running');
    n.status('2 pods: 1 Running,\n1 Error');
    n.watchdog();
    n.stopping('stopping on SIGTERM');
    let text = '';
    // each message is followed by systemd-notify's BARRIER=1 (it waits until the receiver has read it)
    for (let i = 0; i < 100 && (text.match(/---/g)?.length ?? 0) < 8; i++) {
      await new Promise((r) => setTimeout(r, 50));
      text = await readFile(log, 'utf8').catch(() => '');
    }
    const msgs = text
      .split('\n---\n')
      .filter((m) => m && m !== 'BARRIER=1')
      .map((m) => m.split('\n').sort().join(' '));
    expect(msgs).toEqual([
      'MAINPID=4242 READY=1 STATUS=2 pods: 2 Running',
      'MAINPID=4242 STATUS=2 pods: 1 Running, 1 Error',
      'MAINPID=4242 WATCHDOG=1',
      'MAINPID=4242 STATUS=stopping on SIGTERM STOPPING=1',
    ]);
  });

  it('without NOTIFY_SOCKET nothing is sent and nothing fails', () => {
    const n = createNotifier({}, silentLogger());
    expect(n.watchdogMs).toBeUndefined();
    n.ready('x');
  });

  it('/healthz, /readyz (503 with the reason, then 200), /status on a 0600 socket; the socket file goes on close', async () => {
    const path = join(dir, 'berth.sock');
    let readiness = { ready: false, reason: 'the first sync has not finished' as string | null };
    const server = await startHealthServer(path, { readiness: () => readiness, status: () => ({ pods: [] }) });
    try {
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect(await get(path, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
      expect(await get(path, '/readyz')).toEqual({ status: 503, body: 'not ready: the first sync has not finished\n' });
      readiness = { ready: true, reason: null };
      expect(await get(path, '/readyz')).toEqual({ status: 200, body: 'ok\n' });
      expect(JSON.parse((await get(path, '/status')).body)).toEqual({ pods: [] });
      expect((await get(path, '/nope')).status).toBe(404);
    } finally {
      await server.close();
    }
    await expect(stat(path)).rejects.toThrow();
  });
});
