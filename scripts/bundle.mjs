// Bundle the CLI into ES modules under dist/bundle/ (entry dist/bundle/berth.mjs). Node
// spends most of a short berth run loading code: one bundle loads in about half the time
// of hundreds of files, and with splitting the dependencies that only some runs need
// (openpgp, about 1 MB, for signature checks) sit in chunks loaded on first use.
// `tsc` still emits dist/** for library use.
import { chmod } from 'node:fs/promises';
import { build } from 'esbuild';

await build({
  entryPoints: { berth: 'src/cli/main.ts' },
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
});
// The entry is the `berth` executable.
const { readFile, writeFile } = await import('node:fs/promises');
const entry = 'dist/bundle/berth.mjs';
await writeFile(entry, `#!/usr/bin/env node\n${await readFile(entry, 'utf8')}`);
await chmod(entry, 0o755);
