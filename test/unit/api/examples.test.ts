import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseFile, resolveDesired } from '../../../src/api/index.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/pods/', import.meta.url));
const names = readdirSync(EXAMPLES)
  .filter((f) => /\.(ya?ml|json)$/.test(f))
  .sort();

describe('examples/pods', () => {
  it.each(names)('%s parses without issues', (name) => {
    const parsed = parseFile(readFileSync(EXAMPLES + name, 'utf8'), name);
    expect(parsed.issues).toEqual([]);
    expect(parsed.pods.length + parsed.networks.length).toBeGreaterThan(0);
  });

  it('resolve together without issues', () => {
    const desired = resolveDesired(names.map((n) => parseFile(readFileSync(EXAMPLES + n, 'utf8'), n)));
    expect(desired.issues).toEqual([]);
    expect(desired.invalidKeys).toEqual([]);
    expect(desired.pods.every((p) => p.networks.length > 0)).toBe(true);
  });
});
