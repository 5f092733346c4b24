// Bundle the CLI into one ES module (dist/berth.mjs). Node spends most of a short berth
// run loading modules (hundreds of files across yaml, zod, xstate, execa, pino…); one
// file loads in about half the time. `tsc` still emits dist/** for library use.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/berth.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  legalComments: 'none',
  // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __berthRequire } from 'node:module';\nconst require = __berthRequire(import.meta.url);" },
  logLevel: 'warning',
});
const { chmod } = await import('node:fs/promises');
await chmod('dist/berth.mjs', 0o755);
