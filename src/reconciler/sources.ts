/**
 * Sources of desired state: spec directories (DESIGN.md §2 "Files"). A directory holds
 * `*.yaml`, `*.yml`, `*.json`; dotfiles and editor/backup files are ignored; subdirectories
 * are not read. A half-written file is simply invalid now and valid a moment later.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { watch } from 'chokidar';
import { errnoOf } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { parseFile } from '../spec/index.js';
import type { ParsedFile } from '../spec/types.js';

const SPEC_FILE = /\.(ya?ml|json)$/;
const IGNORED = /(^\.|~$|\.swp$|\.bak$|\.tmp$)/;

export function isSpecFile(name: string): boolean {
  return SPEC_FILE.test(name) && !IGNORED.test(name);
}

/** Spec files of the directories (or files given directly), sorted by file name within each. */
export async function listSpecFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') continue; // a spec dir that does not exist yet holds no pods
      throw err;
    }
    if (st.isFile()) {
      files.push(p);
      continue;
    }
    const entries = await readdir(p, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if ((e.isFile() || e.isSymbolicLink()) && isSpecFile(e.name)) files.push(join(p, e.name));
    }
  }
  return files;
}

export async function readSpecFiles(paths: string[]): Promise<ParsedFile[]> {
  const out: ParsedFile[] = [];
  for (const file of await listSpecFiles(paths)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') continue; // removed between listing and reading
      out.push({ file, pods: [], networks: [], issues: [{ severity: 'error', file, path: '', message: `cannot read: ${String(err)}` }] });
      continue;
    }
    out.push(parseFile(text, file));
  }
  return out;
}

/**
 * Watch the spec directories; `onChange` is called (debounced) after files are added,
 * changed or removed. Returns a function that stops watching.
 */
export function watchSpecDirs(dirs: string[], onChange: () => void, log: Logger, debounceMs = 100): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const fire = (path: string) => {
    const name = path.split('/').pop() ?? path;
    if (!isSpecFile(name)) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  const watcher = watch(dirs, { depth: 0, ignoreInitial: true, awaitWriteFinish: false });
  watcher.on('add', fire).on('change', fire).on('unlink', fire);
  watcher.on('error', (err) => log.warn({ err, component: 'sources' }, 'spec directory watch failed'));
  return async () => {
    if (timer) clearTimeout(timer);
    await watcher.close();
  };
}
