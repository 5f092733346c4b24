/**
 * Resolving an image's `User` (IMG-19) against the image's own /etc/passwd and /etc/group,
 * never the host's. Reads stay inside the rootfs: symlinks are resolved as if the rootfs were
 * `/`, so a link to `/etc/passwd` or `../../etc/passwd` cannot reach the host's file.
 */
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { BerthError, errnoOf } from '../common/index.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface UserDb {
  passwd: PasswdEntry[];
  group: GroupEntry[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({
      name: f[0]!,
      gid,
      members: (f[3] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    });
  }
  return out;
}

/**
 * Resolve `path` (absolute, inside the rootfs) to a host path under `root`, following
 * symlinks with `root` as `/`. The last component is resolved too. Missing components are
 * fine: the result then names a path that does not exist.
 */
export function resolveInRoot(root: string, path: string, maxLinks = 40): string {
  const pending = posix.normalize(`/${path}`).split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = posix.join(root, ...done, part);
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT' && errnoOf(err) !== 'ENOTDIR') throw err;
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > maxLinks) throw new BerthError('InvalidArgument', `too many symlinks resolving ${path} in the rootfs`);
    const target = readlinkSync(host);
    const parts = target.split('/').filter(Boolean);
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...parts);
  }
  return posix.join(root, ...done);
}

function readInRoot(root: string, path: string): string {
  try {
    return readFileSync(resolveInRoot(root, path), 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR' || errnoOf(err) === 'EISDIR') return '';
    throw err;
  }
}

/** The user database of a rootfs; missing files give empty lists. */
export function loadUserDb(rootfs: string): UserDb {
  return { passwd: parsePasswd(readInRoot(rootfs, '/etc/passwd')), group: parseGroup(readInRoot(rootfs, '/etc/group')) };
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** groups from /etc/group that list the user, when the spec named no group (IMG-19) */
  additionalGids: number[];
  /** the user's name when the database knows it */
  name?: string;
}

const isNumeric = (s: string) => /^\d+$/.test(s);

/** Resolve an image `User` string (`user`, `uid`, `user:group`, `uid:gid`, …; empty = root). */
export function resolveUserSpec(spec: string | undefined, db: UserDb): ResolvedUser {
  const text = (spec ?? '').trim();
  const [userPart = '', groupPart, ...rest] = text.split(':');
  if (rest.length > 0) throw new BerthError('InvalidArgument', `invalid image user "${text}"`);
  let uid: number;
  let gid: number;
  let name: string | undefined;
  if (userPart === '') {
    uid = 0;
    const entry = db.passwd.find((p) => p.uid === 0);
    gid = entry?.gid ?? 0;
    name = entry?.name ?? 'root';
  } else if (isNumeric(userPart)) {
    uid = Number(userPart);
    const entry = db.passwd.find((p) => p.uid === uid);
    gid = entry?.gid ?? 0;
    name = entry?.name;
  } else {
    const entry = db.passwd.find((p) => p.name === userPart);
    if (!entry) throw new BerthError('InvalidArgument', `image user "${userPart}" not found in the image's /etc/passwd`);
    uid = entry.uid;
    gid = entry.gid;
    name = entry.name;
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (isNumeric(groupPart)) gid = Number(groupPart);
    else {
      const g = db.group.find((e) => e.name === groupPart);
      if (!g) throw new BerthError('InvalidArgument', `image group "${groupPart}" not found in the image's /etc/group`);
      gid = g.gid;
    }
    return { uid, gid, additionalGids: [], ...(name ? { name } : {}) };
  }
  const additionalGids = name ? db.group.filter((g) => g.members.includes(name!) && g.gid !== gid).map((g) => g.gid) : [];
  return { uid, gid, additionalGids, ...(name ? { name } : {}) };
}
