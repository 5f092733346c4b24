/* global process, console */
// Bundle the CLI (entry dist/bundle/berth.mjs). Node spends most of a short berth run loading
// code, and Node 20 caches no compiled ES modules, so the program is one CommonJS-shaped
// script, dist/bundle/berth.cjs, that the launcher (src/cli/entry.ts) compiles with the V8
// code cache made here (scripts/code-cache.mjs): V8 then deserializes the functions a
// `reconcile --once` ran instead of parsing and compiling them. Modules only some runs need
// are still evaluated on first import() (esbuild keeps them in init functions); openpgp
// (about 0.5 MB, signature checks only) is a file of its own, dist/bundle/openpgp.cjs, that
// is not even read before then. `tsc` still emits dist/** for library use.
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';
import { lazyBuiltins } from './lazy-builtins.mjs';

// `berth version` reports what was built: package.json's version and the commit, if any.
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  /* not a git checkout (npm pack tarball): stays unknown */
}

// every earlier build's code (the caches' names carry their program's hash; chunks/ was the
// ESM split), or the package ships them all; berth-pause stays, built only when its source changed
await mkdir('dist/bundle', { recursive: true });
for (const f of await readdir('dist/bundle'))
  if (!f.startsWith('berth-pause')) await rm(`dist/bundle/${f}`, { recursive: true, force: true });

const common = { bundle: true, platform: 'node', target: 'node20', legalComments: 'none', logLevel: 'warning' };
const define = { __BERTH_VERSION__: JSON.stringify(pkg.version), __BERTH_COMMIT__: JSON.stringify(commit) };

// The program: the body of a CommonJS module wrapper, which the launcher calls with the
// require of dist/bundle. Without whitespace and comments it is a third smaller: less to read
// on every run (berth.cjs.map maps stack positions back: CONTRIBUTING.md "Building").
const program = 'dist/bundle/berth.cjs';
// import.meta.url of the ES modules bundled into CommonJS (pod-infra.ts finds berth-pause beside it)
const moduleUrl = "const __berthModuleUrl = require('node:url').pathToFileURL(__filename).href;";
await build({
  ...common,
  entryPoints: ['src/cli/main.ts'],
  outfile: program,
  format: 'cjs',
  minifyWhitespace: true,
  sourcemap: 'linked',
  banner: { js: `(function (exports, require, module, __filename, __dirname) {${moduleUrl}` },
  footer: { js: '})' },
  define: { ...define, 'import.meta.url': '__berthModuleUrl' },
  plugins: [
    external('openpgp', './openpgp.cjs'),
    lazyBuiltins(['crypto', 'dgram', 'dns', 'http', 'http2', 'https', 'readline', 'tls', 'v8', 'worker_threads', 'zlib']),
  ],
});
await build({
  ...common,
  entryPoints: ['openpgp'],
  outfile: 'dist/bundle/openpgp.cjs',
  format: 'cjs',
  minifyWhitespace: true,
  banner: { js: moduleUrl },
  define: { 'import.meta.url': '__berthModuleUrl' },
});

// The launcher reads the program as latin1, a one-byte string without a UTF-8 decode: it has to be ASCII.
const source = readFileSync(program, 'latin1');
const at = source.search(/[\u0080-\u00ff]/);
if (at >= 0) throw new Error(`${program}: a non-ASCII byte at ${at} (esbuild escapes them in strings: charset must stay ascii)`);
const bundleId = createHash('sha256').update(source).digest('hex').slice(0, 16);

// The `berth` executable: --version without loading the program, else the program with its code cache.
const entry = 'dist/bundle/berth.mjs';
await build({
  ...common,
  entryPoints: ['src/cli/entry.ts'],
  outfile: entry,
  format: 'esm',
  banner: { js: '#!/usr/bin/env node' },
  define: { __BERTH_VERSION__: define.__BERTH_VERSION__, __BERTH_BUNDLE_ID__: JSON.stringify(bundleId) },
});
await chmod(entry, 0o755);

// The code cache, named after the program's hash so that no cache can meet another build's
// program (V8 checks only the source's length). Made by running the program once; a build
// where that fails still works, compiling as Node does.
try {
  execFileSync(process.execPath, ['scripts/code-cache.mjs', program, `${program}.${bundleId}.v8cache`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
} catch {
  console.warn(`bundle: no code cache for ${program} (see above): berth works, and compiles its code on every run`);
}

// The pod infra process of shareProcessNamespace pods, next to the bundle (dist/bundle/berth-pause):
// a static C binary (scripts/build-pause.sh). Without a C compiler berth still builds; such pods then fail to start with the reason.
try {
  execFileSync('bash', ['scripts/build-pause.sh', 'dist/bundle/berth-pause'], { stdio: ['ignore', 'ignore', 'inherit'] });
} catch {
  console.warn('bundle: dist/bundle/berth-pause not built (see above): pods with shareProcessNamespace cannot start');
}

// berth(1) from the same command definitions (`berth __man`): dist/man/berth.1.
await mkdir('dist/man', { recursive: true });
await writeFile('dist/man/berth.1', execFileSync(process.execPath, [entry, '__man'], { encoding: 'utf8' }));

/**
 * An esbuild plugin: package `name` is required from `file` (beside the program) when first
 * imported. A require, not an import(): the program is a vm script, which has no module loader.
 */
function external(name, file) {
  return {
    name: `external-${name}`,
    setup(b) {
      b.onResolve({ filter: new RegExp(`^${name}$`) }, () => ({ path: name, namespace: 'external' }));
      b.onLoad({ filter: /.*/, namespace: 'external' }, () => ({
        contents: `module.exports = require(${JSON.stringify(file)});`,
        loader: 'js',
      }));
      b.onResolve({ filter: new RegExp(`^${file.replace(/[.]/g, '\\.')}$`) }, () => ({ path: file, external: true }));
    },
  };
}
