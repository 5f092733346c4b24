import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const HOST = ['../image/*', '../cni/*', '../runtime/*', '../probe/*', '../source/*', '../appc-metadata/*'];
const OUTER = ['../reconciler/*', '../cli/*', '../daemon/*'];

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
  // Module boundaries of DESIGN.md §4: dependencies point inward only. The host modules
  // (image, cni, runtime, probe, source, appc-metadata) sit beside each other below the
  // reconciler; cli and daemon are the outer layer.
  {
    files: ['src/common/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../api/*', ...HOST, '../state-machines/*', ...OUTER] }] },
  },
  {
    files: ['src/api/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [...HOST, '../state-machines/*', ...OUTER] }] },
  },
  {
    files: HOST.map((h) => `src/${h.slice(3, -2)}/**`),
    rules: { 'no-restricted-imports': ['error', { patterns: ['../state-machines/*', ...OUTER] }] },
  },
  {
    files: ['src/state-machines/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: OUTER }] },
  },
  {
    files: ['src/reconciler/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../cli/*', '../daemon/*'] }] },
  },
);
