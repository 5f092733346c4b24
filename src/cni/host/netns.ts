/**
 * IpNetnsManager: network namespace handles as bind mounts at `<dir>/<name>` (DESIGN.md §3:
 * `/run/netns/berth-<id>`, visible to `ip netns`). The runtime owns their creation and
 * removal (CNI-26); CNI plugins only enter them.
 *
 * In the default directory, handles are made and removed with `ip netns add|delete`, so that
 * `ip netns exec` and every other tool see them. Another directory (tests) uses
 * `unshare --net=<file>` and `umount`, which make the same kind of handle.
 *
 * A handle is "there" when `<dir>/<name>` is a mount point (mountinfo); a plain file left by a
 * crash between creating the file and mounting onto it is half-made: ensure() replaces it,
 * remove() deletes it.
 */
import { readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from '../../common/process.js';
import { BerthError, errnoOf, readdirIfExists, silentLogger, type Logger } from '../../common/index.js';
import type { NetnsManager } from '../types.js';

export const DEFAULT_NETNS_DIR = '/run/netns';
export const NETNS_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function validateNetnsName(name: string): void {
  if (!NETNS_NAME.test(name) || name.length > 255) {
    throw new BerthError('InvalidArgument', `invalid network namespace name ${JSON.stringify(name)}: must match ${NETNS_NAME.source}`);
  }
}

/** Mount points in this process's mount namespace, unescaped (mountinfo field 5). */
async function mountPoints(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const mp = f[4];
    if (mp) out.add(mp.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

export class IpNetnsManager implements NetnsManager {
  readonly dir: string;
  private readonly log: Logger;

  constructor(opts: { dir?: string; log?: Logger } = {}) {
    this.dir = opts.dir ?? DEFAULT_NETNS_DIR;
    this.log = (opts.log ?? silentLogger()).child({ component: 'netns' });
  }

  path(name: string): string {
    validateNetnsName(name);
    return join(this.dir, name);
  }

  private get usesIp(): boolean {
    return this.dir === DEFAULT_NETNS_DIR;
  }

  /** true when the handle is mounted; false when absent or a plain (half-made) file. */
  private async state(name: string): Promise<'mounted' | 'file' | 'absent'> {
    const p = this.path(name);
    let real: string;
    try {
      real = await realpath(p);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return 'absent';
      throw err;
    }
    const mounts = await mountPoints();
    return mounts.has(real) || mounts.has(p) ? 'mounted' : 'file';
  }

  async exists(name: string): Promise<boolean> {
    return (await this.state(name)) === 'mounted';
  }

  async ensure(name: string): Promise<string> {
    const p = this.path(name);
    const st = await this.state(name);
    if (st === 'mounted') return p; // adopt
    if (st === 'file') {
      this.log.warn({ state: 'half-made' }, 'netns handle is not a mount; recreating');
      await rm(p, { force: true });
    }
    try {
      if (this.usesIp) {
        await execa('ip', ['netns', 'add', name]);
      } else {
        await execa('mkdir', ['-p', this.dir]);
        await writeFile(p, '', { flag: 'wx', mode: 0o444 });
        await execa('unshare', [`--net=${p}`, 'true']);
      }
    } catch (err) {
      // Lost a race with another creator? Then the handle is there now.
      if ((await this.state(name)) === 'mounted') return p;
      if (!this.usesIp) await rm(p, { force: true }).catch(() => undefined);
      throw new BerthError('Internal', `create netns ${name}: ${stderrOf(err)}`, { cause: err });
    }
    return p;
  }

  async attach(name: string, pid: number): Promise<string> {
    const p = this.path(name);
    if ((await this.state(name)) === 'mounted') return p;
    await rm(p, { force: true });
    try {
      if (this.usesIp) await execa('ip', ['netns', 'attach', name, String(pid)]);
      else {
        await writeFile(p, '', { flag: 'wx', mode: 0o444 });
        await execa('mount', ['--bind', `/proc/${pid}/ns/net`, p]);
      }
    } catch (err) {
      if (!this.usesIp) await rm(p, { force: true }).catch(() => undefined);
      throw new BerthError('Unavailable', `attach netns ${name} to pid ${pid}: ${stderrOf(err)}`, { cause: err });
    }
    return p;
  }

  async remove(name: string): Promise<void> {
    const p = this.path(name);
    const st = await this.state(name);
    if (st === 'absent') return;
    if (st === 'mounted') {
      try {
        if (this.usesIp) await execa('ip', ['netns', 'delete', name]);
        else await execa('umount', ['--lazy', p]);
      } catch (err) {
        if ((await this.state(name)) === 'mounted') {
          throw new BerthError('Internal', `delete netns ${name}: ${stderrOf(err)}`, { cause: err });
        }
      }
    }
    await rm(p, { force: true });
  }

  async addresses(name: string): Promise<Record<string, string[]> | undefined> {
    const p = this.path(name);
    if ((await this.state(name)) !== 'mounted') return undefined;
    let out: string;
    try {
      out = (await execa('nsenter', [`--net=${p}`, 'ip', '-j', 'addr', 'show'])).stdout;
    } catch (err) {
      if ((await this.state(name)) !== 'mounted') return undefined;
      throw new BerthError('Unavailable', `list addresses in netns ${name}: ${stderrOf(err)}`, { cause: err });
    }
    const links = JSON.parse(out || '[]') as Array<{ ifname?: string; addr_info?: Array<{ local?: string; prefixlen?: number }> }>;
    const res: Record<string, string[]> = {};
    for (const l of links) {
      if (!l.ifname) continue;
      res[l.ifname] = (l.addr_info ?? []).filter((a) => a.local).map((a) => `${a.local}/${a.prefixlen ?? ''}`);
    }
    return res;
  }

  /** Names in the directory that start with `prefix`, mounted or not (GC removes both). */
  async list(prefix: string): Promise<string[]> {
    return (await readdirIfExists(this.dir)).filter((n) => n.startsWith(prefix) && NETNS_NAME.test(n));
  }
}

function stderrOf(err: unknown): string {
  const e = err as { stderr?: unknown; message?: unknown };
  if (typeof e.stderr === 'string' && e.stderr.trim()) return e.stderr.trim();
  return typeof e.message === 'string' ? e.message : String(err);
}
