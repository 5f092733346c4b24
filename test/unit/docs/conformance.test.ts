/**
 * docs/conformance.md resolves every requirement ID the code and the tests cite (the
 * checklist itself lives outside the repository). An ID cited in src/, test/ or bench/
 * needs an entry there; an entry marked "not yet claimed" must not be cited by src/; and
 * every file the documents name must exist, so that a rename shows up here.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SELF = relative(ROOT, fileURLToPath(import.meta.url));
const SCANNED = ['src', 'test', 'bench'];

/** `PFX-06`, `PFX-06/07`, `PFX-06..10/12..14` (ranges expanded); the table ids `G1`…`G7`. */
const ID_RE = /\b(CNI|IMG|DST|ACI|SEC)-(\d+)((?:(?:\.\.|\/)\d+)*)(?!\w)/g;
const TABLE_RE = /(?<![\w+=])G([1-7])(?![\w+/=])/g;

const pad = (n: number) => String(n).padStart(2, '0');

function citedIds(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(ID_RE)) {
    const prefix = m[1]!;
    let last = Number(m[2]);
    out.add(`${prefix}-${pad(last)}`);
    for (const part of m[3]!.matchAll(/(\.\.|\/)(\d+)/g)) {
      const n = Number(part[2]);
      if (part[1] === '..') for (let i = last + 1; i <= n; i++) out.add(`${prefix}-${pad(i)}`);
      else out.add(`${prefix}-${pad(n)}`);
      last = n;
    }
  }
  for (const m of text.matchAll(TABLE_RE)) out.add(`G${m[1]}`);
  return [...out];
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.name === 'node_modules' || rel === 'bench/results') continue;
    if (e.isDirectory()) out.push(...files(rel));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

/** Every (file, id) citation in the scanned trees; binary files are skipped. */
function citations(): { file: string; id: string }[] {
  const out: { file: string; id: string }[] = [];
  for (const file of SCANNED.flatMap(files)) {
    if (file === SELF) continue;
    const buf = readFileSync(join(ROOT, file));
    if (buf.includes(0)) continue;
    for (const id of citedIds(buf.toString('utf8'))) out.push({ file, id });
  }
  return out;
}

/** Entries of docs/conformance.md: `### <ID> · title`, with `not yet claimed` in its body when unclaimed. */
function entries(doc: string): Map<string, { claimed: boolean }> {
  const out = new Map<string, { claimed: boolean }>();
  const parts = doc.split(/^### /m).slice(1);
  for (const part of parts) {
    const id = /^((?:CNI|IMG|DST|ACI|SEC)-\d\d|G\d)\b/.exec(part)?.[1];
    if (!id) continue;
    const body = part.split(/^#{1,3} /m)[0]!;
    out.set(id, { claimed: !/not yet claimed/i.test(body) });
  }
  return out;
}

const DOCS = ['docs/conformance.md', 'docs/architecture.md', 'CONTRIBUTING.md'];

describe('docs/conformance.md', () => {
  const doc = readFileSync(join(ROOT, 'docs/conformance.md'), 'utf8');
  const listed = entries(doc);

  it('reads ranges and lists of IDs as the code writes them', () => {
    const p = 'CNI';
    expect(citedIds(`${p}-06..08/12, G5 and ${p}-15/G1; ${p}-949dd32cf (an iptables chain)`).sort()).toEqual(
      ['CNI-06', 'CNI-07', 'CNI-08', 'CNI-12', 'CNI-15', 'G1', 'G5'].sort(),
    );
  });

  it('has an entry for every requirement ID cited in src/, test/ and bench/', () => {
    const missing = citations()
      .filter((c) => !listed.has(c.id))
      .map((c) => `${c.file} cites ${c.id}, which docs/conformance.md does not list`);
    expect(missing).toEqual([]);
  });

  it('marks no ID that src/ cites as "not yet claimed"', () => {
    const stale = citations()
      .filter((c) => c.file.startsWith('src/') && listed.get(c.id)?.claimed === false)
      .map((c) => `${c.file} cites ${c.id}, which docs/conformance.md marks as not yet claimed`);
    expect(stale).toEqual([]);
  });

  it.each(DOCS)('%s names only files that exist', (name) => {
    const text = readFileSync(join(ROOT, name), 'utf8');
    const paths = new Set<string>();
    for (const m of text.matchAll(/`((?:src|test|bench|scripts|examples)\/[\w./-]+?)(?::\d+)?`/g)) paths.add(m[1]!);
    const gone = [...paths]
      .filter((p) => !p.includes('*') && !p.includes('…') && !existsSync(join(ROOT, p)))
      .map((p) => `${name} names ${p}, which does not exist`);
    expect(gone).toEqual([]);
  });
});
