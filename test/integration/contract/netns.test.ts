/** The NetnsManager contract against IpNetnsManager, as root: in /run/netns (`ip netns`) and in a directory of its own (unshare, bind mounts). */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe } from 'vitest';
import { IpNetnsManager } from '../../../src/cni/index.js';
import { netnsContract } from '../../contract/netns.js';

const isRoot = process.getuid?.() === 0;
const PREFIX = 'berth-ports-';

describe.skipIf(!isRoot)('NetnsManager contract on the host', () => {
  let dir = '';
  let holder: ChildProcess | undefined;
  beforeAll(async () => {
    dir = await mkdtemp('/tmp/berth-ports-netns-');
    // a process in a namespace of its own, for attach
    holder = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
  });
  afterAll(async () => {
    if (holder?.pid) process.kill(holder.pid, 'SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const where of ['/run/netns', 'own dir'] as const) {
    netnsContract(`IpNetnsManager in ${where}`, async () => {
      const netns = new IpNetnsManager(where === 'own dir' ? { dir } : {});
      return {
        netns,
        prefix: PREFIX,
        name: (what) => `${PREFIX}${what}`,
        // unshare execs sleep in the new namespace: the same pid
        pid: holder!.pid!,
        cleanup: async () => {
          for (const n of await netns.list(PREFIX)) await netns.remove(n);
        },
      };
    });
  }
});
