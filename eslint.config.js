import path from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import moduleBoundaries from './eslint-rules/module-boundaries.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const HOST = ['image', 'cni', 'runtime', 'probe', 'source', 'appc-metadata'];

// Module boundaries of DESIGN.md §4 (mirrored in docs/architecture.md "Modules"): each
// module of src/ and the modules it may import. Imports inside a module are free;
// `types:<module>` allows `import type` only; a path (`cli/format.ts`) allows that one file.
// Every edge of every file (static, export-from, dynamic import()) is checked by
// eslint-rules/module-boundaries.js; a directory of src/ missing here fails lint.
export const moduleZones = {
  common: [],
  api: ['common'],
  image: ['api', 'common'],
  cni: ['api', 'common'],
  runtime: ['api', 'common'],
  probe: ['runtime', 'api', 'common'],
  source: ['api', 'common'],
  'appc-metadata': ['image', 'api', 'common'],
  'state-machines': ['api', 'common', ...HOST.map((m) => `types:${m}`)],
  reconciler: [...HOST, 'state-machines', 'api', 'common'],
  // status.json carries the same document as `berth status -o json`: the daemon uses the
  // CLI's output format, nothing else of the CLI.
  daemon: ['reconciler', ...HOST, 'state-machines', 'api', 'common', 'cli/format.ts'],
  cli: ['daemon', 'reconciler', ...HOST, 'state-machines', 'api', 'common'],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/**'],
    plugins: { berth: { rules: { 'module-boundaries': moduleBoundaries } } },
    rules: { 'berth/module-boundaries': ['error', { root: path.join(here, 'src'), zones: moduleZones }] },
  },
  // Promises and exhaustive switches need types: the project service reads tsconfig.json.
  {
    files: ['src/**/*.ts', 'test/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: here } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
    },
  },
);
