import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
  // Module boundaries of DESIGN.md §4: dependencies point inward only.
  {
    files: ['src/common/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../spec/*', '../image/*', '../cni/*', '../runtime/*', '../state-machines/*', '../reconciler/*', '../cli/*'] }] },
  },
  {
    files: ['src/spec/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../image/*', '../cni/*', '../runtime/*', '../state-machines/*', '../reconciler/*', '../cli/*'] }] },
  },
  {
    files: ['src/image/**', 'src/cni/**', 'src/runtime/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../state-machines/*', '../reconciler/*', '../cli/*'] }] },
  },
  {
    files: ['src/state-machines/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../reconciler/*', '../cli/*'] }] },
  },
);
