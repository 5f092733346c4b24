import { Writable } from 'node:stream';
import pino from 'pino';
import { build } from 'pino-pretty';
import { describe, expect, it } from 'vitest';
import { humanMessage, useHumanLines } from '../../../src/cli/log-format.js';

describe('human log lines', () => {
  it('puts the pod and app first, then what happened, the other fields, and why', () => {
    const line = humanMessage({
      level: 40,
      time: 1,
      msg: 'app state',
      podName: 'default/web',
      pod: 'abc',
      app: 'web',
      state: 'backoff',
      retryInMs: 10000,
      err: { code: 'Unavailable', message: 'image busybox: not found' },
    });
    expect(line).toBe('default/web app=web: app state state=backoff retryInMs=10000 — Unavailable: image busybox: not found');
  });

  it('prefers the reason word over the error code and quotes values with spaces', () => {
    expect(humanMessage({ msg: 'pod did not converge', podName: 'default/db', reason: 'CrashLoopBackOff', message: 'back-off 40s' })).toBe(
      'default/db: pod did not converge message="back-off 40s" — CrashLoopBackOff',
    );
    expect(humanMessage({ msg: 'watching for changes', component: 'reconciler', specDirs: ['/etc/podspecs'] })).toBe(
      'reconciler: watching for changes specDirs="[\\"/etc/podspecs\\"]"',
    );
  });

  it('adds the stack only when asked', () => {
    const err = { message: 'boom', stack: 'Error: boom\n    at x' };
    expect(humanMessage({ msg: 'failed', err })).toBe('failed — boom');
    expect(humanMessage({ msg: 'failed', err }, true)).toBe('failed — boom\nError: boom\n    at x');
  });

  it('renders through pino-pretty as one line per record', async () => {
    let out = '';
    const sink = new Writable({
      write: (c, _e, cb) => {
        out += String(c);
        cb();
      },
    });
    const stream = build({
      destination: sink,
      colorize: false,
      translateTime: 'SYS:HH:MM:ss',
      ignore: 'pid,hostname',
      hideObject: true,
      messageFormat: (log) => humanMessage(log),
    });
    const log = pino({ base: {} }, stream);
    log.child({ podName: 'default/web' }).info({ app: 'web', pid: 42 }, 'app started');
    await new Promise((r) => setTimeout(r, 50));
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: default\/web app=web: app started pid=42\n$/);
  });

  it('chooses by --log-format and refuses unknown formats', () => {
    expect(useHumanLines('json', 1)).toBe(false);
    expect(useHumanLines('text', 1)).toBe(true);
    expect(() => useHumanLines('yaml', 1)).toThrow(/--log-format: "yaml" is not one of auto, json, text/);
  });
});
