/* global process */
// Make the V8 code cache of berth's program (scripts/bundle.mjs): run it once as the launcher
// does (src/cli/entry.ts: the same source text, compiled the same way), as
// `berth reconcile --once` on empty temporary directories, and at exit write what V8 has
// compiled by then, the functions that run ran included (a cache made before running holds
// little more than the top level).
//   node scripts/code-cache.mjs dist/bundle/berth.cjs OUT
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Script } from 'node:vm';

const [program, out] = process.argv.slice(2).map((p) => resolve(p));
const dir = mkdtempSync(join(tmpdir(), 'berth-code-cache-'));
mkdirSync(join(dir, 'specs'));
const paths = ['config', 'state', 'run', 'log', 'netns', 'cni-conf'].flatMap((d) => [`--${d}-dir`, join(dir, d)]);
process.argv = [process.argv[0], join(dirname(program), 'berth.mjs'), ...paths, 'reconcile', '--once', '--spec-dir', join(dir, 'specs')];

const script = new Script(readFileSync(program, 'latin1'), { filename: program });
process.on('exit', () => {
  writeFileSync(out, script.createCachedData());
  rmSync(dir, { recursive: true, force: true });
});
const module = { exports: {} };
script.runInThisContext().call(module.exports, module.exports, createRequire(program), module, program, dirname(program));
