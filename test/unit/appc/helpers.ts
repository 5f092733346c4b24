/** Build ACIs in memory for tests (tar-stream), the way appc's own tests build them. */
import { createHash } from 'node:crypto';
import * as tar from 'tar-stream';

export interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  content?: string;
  mode?: number;
  linkname?: string;
  uid?: number;
  gid?: number;
}

export function manifest(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { acKind: 'ImageManifest', acVersion: '0.8.11', name, ...extra };
}

/** An uncompressed ACI: `manifest` first, a `rootfs` directory unless one is listed, then the entries. */
export async function makeAci(m: Record<string, unknown> | string, entries: Entry[], opts: { rootfsDir?: boolean } = {}): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  })();
  const text = typeof m === 'string' ? m : JSON.stringify(m);
  const add = (h: Partial<tar.Header> & { name: string }, body?: string) =>
    new Promise<void>((res, rej) => {
      pack.entry({ ...{ mtime: new Date(0), uid: 0, gid: 0 }, ...h } as tar.Header, body ?? '', (e) => (e ? rej(e) : res()));
    });
  await add({ name: 'manifest', mode: 0o644 }, text);
  if (opts.rootfsDir !== false && !entries.some((e) => e.name === 'rootfs' || e.name === 'rootfs/')) {
    await add({ name: 'rootfs/', type: 'directory', mode: 0o755 });
  }
  for (const e of entries) {
    const type = e.type ?? 'file';
    await add(
      {
        name: e.name,
        type,
        mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
        ...(e.linkname ? { linkname: e.linkname } : {}),
        ...(e.uid !== undefined ? { uid: e.uid } : {}),
        ...(e.gid !== undefined ? { gid: e.gid } : {}),
      },
      type === 'file' ? (e.content ?? '') : undefined,
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export const imageIdOf = (aci: Buffer) => `sha512-${createHash('sha512').update(aci).digest('hex')}`;
