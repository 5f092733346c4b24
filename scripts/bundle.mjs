/* global process, console */
// Bundle the CLI into ES modules under dist/bundle/ (entry dist/bundle/berth.mjs). Node
// spends most of a short berth run loading code: one bundle loads in about half the time
// of hundreds of files, and with splitting the dependencies that only some runs need
// (openpgp, about 1 MB, for signature checks) sit in chunks loaded on first use.
// `tsc` still emits dist/** for library use.
import { chmod, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

// `berth version` reports what was built: package.json's version and the commit, if any.
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  /* not a git checkout (npm pack tarball): stays unknown */
}

// chunk names carry content hashes: clear the old ones, or the package ships every build's
await rm('dist/bundle/chunks', { recursive: true, force: true });

await build({
  entryPoints: { berth: 'src/cli/entry.ts' },
  outdir: 'dist/bundle',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  legalComments: 'none',
  // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
  banner: { js: "import { createRequire as __berthRequire } from 'node:module';\nconst require = __berthRequire(import.meta.url);" },
  logLevel: 'warning',
  define: { __BERTH_VERSION__: JSON.stringify(pkg.version), __BERTH_COMMIT__: JSON.stringify(commit) },
});
// The entry is the `berth` executable.
const { readFile, writeFile } = await import('node:fs/promises');
const entry = 'dist/bundle/berth.mjs';
await writeFile(entry, `#!/usr/bin/env node\n${await readFile(entry, 'utf8')}`);
await chmod(entry, 0o755);

// The pod infra process of shareProcessNamespace pods, next to the bundle (dist/bundle/berth-pause):
// a static C binary (scripts/build-pause.sh). Without a C compiler berth still builds; such pods then fail to start with the reason.
try {
  execFileSync('bash', ['scripts/build-pause.sh', 'dist/bundle/berth-pause'], { stdio: ['ignore', 'ignore', 'inherit'] });
} catch {
  console.warn('bundle: dist/bundle/berth-pause not built (see above): pods with shareProcessNamespace cannot start');
}

// berth(1) from the same command definitions (`berth __man`): dist/man/berth.1.
const { execFileSync: run } = await import('node:child_process');
const { mkdir } = await import('node:fs/promises');
await mkdir('dist/man', { recursive: true });
await writeFile('dist/man/berth.1', run(process.execPath, [entry, '__man'], { encoding: 'utf8' }));
