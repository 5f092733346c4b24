/**
 * What each plugin file answered to VERSION (CNI-17), kept across agent runs in
 * `<state>/cni/plugin-versions.json`: every `reconcile --once` checks the lists it may use
 * (CNI-05), and asking each plugin again is one process per plugin before any pod starts.
 * An answer is keyed by the file's path and identity (device, inode, size, mtime), so a
 * plugin replaced by a package upgrade, or a path that now names another file, is asked again.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readJsonIfExists, writeJsonAtomic } from '../common/fs.js';
import type { Logger } from '../common/logger.js';

export interface PluginVersionInfo {
  cniVersion: string;
  supportedVersions: string[];
}

interface Entry extends PluginVersionInfo {
  identity: string;
}

const FILE = 'plugin-versions.json';

async function identityOf(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch {
    return undefined; // not a file berth can stat (a test's fake path): answers are kept in memory only
  }
}

export class PluginVersionCache {
  private entries?: Promise<Map<string, Entry>>;
  private readonly memory = new Map<string, PluginVersionInfo>();
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
    /** write: false reads the file but keeps new answers in memory only (read-only commands) */
    private readonly opts: { write: boolean } = { write: true },
  ) {}

  private load(): Promise<Map<string, Entry>> {
    this.entries ??= readJsonIfExists<Record<string, Entry>>(join(this.dir, FILE)).then(
      (doc) => new Map(Object.entries(doc && typeof doc === 'object' ? doc : {}).filter(([, e]) => isEntry(e))),
      (err: unknown) => {
        // a cache: an unreadable file costs one VERSION per plugin, and is written anew
        this.log.warn({ err, file: join(this.dir, FILE) }, 'plugin version cache unreadable, asking the plugins again');
        return new Map<string, Entry>();
      },
    );
    return this.entries;
  }

  /** The answer remembered for the file at path, if the file is still the one that gave it. */
  async get(path: string): Promise<PluginVersionInfo | undefined> {
    const mem = this.memory.get(path);
    if (mem) return mem;
    const [entries, identity] = await Promise.all([this.load(), identityOf(path)]);
    const e = entries.get(path);
    if (!e || identity === undefined || e.identity !== identity) return undefined;
    const info = { cniVersion: e.cniVersion, supportedVersions: e.supportedVersions };
    this.memory.set(path, info);
    return info;
  }

  /** Remember path's answer, on disk when writing and the file can be identified. */
  async set(path: string, info: PluginVersionInfo): Promise<void> {
    this.memory.set(path, info);
    if (!this.opts.write) return;
    const [entries, identity] = await Promise.all([this.load(), identityOf(path)]);
    if (identity === undefined) return;
    entries.set(path, { ...info, identity });
    const write = this.writes.then(() => writeJsonAtomic(join(this.dir, FILE), Object.fromEntries(entries)));
    this.writes = write.catch((err: unknown) => this.log.warn({ err, file: join(this.dir, FILE) }, 'plugin version cache not written'));
    await this.writes;
  }
}

function isEntry(e: unknown): e is Entry {
  const x = e as Partial<Entry> | null;
  return (
    typeof x?.identity === 'string' &&
    typeof x.cniVersion === 'string' &&
    Array.isArray(x.supportedVersions) &&
    x.supportedVersions.every((v) => typeof v === 'string')
  );
}
