import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { beforeAll, describe, expect, it } from 'vitest';

// The module-boundaries rule with the real zone table of eslint.config.js, over a
// miniature src/ in test/fixtures/lint/src: every import line there ends with `// ok` or
// the message id the rule must report on that line (see its README.md).

const repo = resolve(import.meta.dirname, '../../..');
const fixtures = join(repo, 'test/fixtures/lint/src');
type Zones = Record<string, string[]>;

const load = async <T>(file: string): Promise<T> => (await import(pathToFileURL(join(repo, file)).href)) as T;

function filesUnder(dir: string, ext: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(ext))
    .map((f) => join(dir, f))
    .sort();
}

/** What a fixture says the rule reports: [line, messageId] for each line, in order. */
function expected(file: string): Array<[number, string]> {
  const lines = readFileSync(file, 'utf8').split('\n');
  const whole = lines.map((l) => /^\/\/ expect-file: (\w+)$/.exec(l)).find(Boolean);
  if (whole) return [[1, whole[1]!]];
  return lines.flatMap((l, i): Array<[number, string]> => {
    const m = /\/\/ (\w+)$/.exec(l);
    return m && m[1] !== 'ok' ? [[i + 1, m[1]!]] : [];
  });
}

describe('module boundaries (DESIGN.md §4) in lint', () => {
  let zones: Zones;
  let results: Map<string, Linter.LintMessage[]>;

  beforeAll(async () => {
    zones = (await load<{ moduleZones: Zones }>('eslint.config.js')).moduleZones;
    const rule = (await load<{ default: NonNullable<ESLint.Plugin['rules']>[string] }>('eslint-rules/module-boundaries.js')).default;
    const eslint = new ESLint({
      cwd: repo,
      ignore: false,
      overrideConfigFile: true,
      overrideConfig: {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser as Linter.Parser },
        plugins: { berth: { rules: { 'module-boundaries': rule } } },
        rules: { 'berth/module-boundaries': ['error', { root: fixtures, zones }] },
      },
    });
    const out = await eslint.lintFiles([fixtures]);
    results = new Map(out.map((r) => [r.filePath, r.messages]));
  });

  const files = filesUnder(fixtures, '.ts');

  it('has a fixture of each kind of forbidden edge and of allowed ones', () => {
    const kinds = new Set(files.flatMap((f) => expected(f).map(([, id]) => id)));
    expect([...kinds].sort()).toEqual(['forbidden', 'outside', 'typesOnly', 'unknownFrom', 'unknownTo']);
    expect(files.filter((f) => readFileSync(f, 'utf8').includes('// ok')).length).toBeGreaterThan(5);
  });

  it.each(files.map((f) => [relative(fixtures, f), f]))('%s: reports exactly the edges its comments name', (_name, file) => {
    const got = (results.get(file) ?? []).map((m) => [m.line, m.messageId ?? m.message]);
    expect(got).toEqual(expected(file));
  });

  it('names the forbidden edge and what the module may import instead', () => {
    const msgs = results.get(join(fixtures, 'image/appc/deep-imports.ts'))!;
    expect(msgs[0]!.message).toBe("image may not import reconciler ('../../reconciler/index.js'); image may import: api, common");
    const sm = results.get(join(fixtures, 'state-machines/host-values.ts'))!;
    expect(sm[0]!.message).toContain('state-machines may import only types from runtime');
  });

  it('has a zone for every directory of src with TypeScript in it, and no zone without one', () => {
    const src = join(repo, 'src');
    const dirs = readdirSync(src, { withFileTypes: true })
      .filter((d) => d.isDirectory() && filesUnder(join(src, d.name), '.ts').length > 0)
      .map((d) => d.name)
      .sort();
    expect(Object.keys(zones).sort()).toEqual(dirs);
  });

  it('allows only edges between known modules, and none from common', () => {
    for (const [from, allowed] of Object.entries(zones)) {
      for (const a of allowed) expect(Object.keys(zones), `${from} -> ${a}`).toContain(a.replace(/^types:/, '').split('/')[0]);
    }
    expect(zones.common).toEqual([]);
  });

  it('is switched on for every file of src by eslint.config.js', async () => {
    const eslint = new ESLint({ cwd: repo });
    for (const f of ['src/image/appc/service.ts', 'src/state-machines/pod.machine.ts', 'src/cli/wire.ts']) {
      const config = (await eslint.calculateConfigForFile(f)) as Linter.Config;
      const [severity, options] = config.rules!['berth/module-boundaries'] as [number, { root: string; zones: Zones }];
      expect(severity, f).toBe(2);
      expect(options).toEqual({ root: join(repo, 'src'), zones });
    }
  });
});
