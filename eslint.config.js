// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.data/**', 'outbox/**', 'coverage/**', '**/dist/**', '**/*.tsbuildinfo'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': ['error', { ignoreRestArgs: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/ban-ts-comment': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: "Read configuration in the app's config.ts (decoded once), not here." },
      ],
    },
  },
  {
    // The places allowed to read the environment: each app's entry point hands
    // process.env to its config decoder; scripts and tests set up processes.
    files: [
      'apps/*/src/main.ts',
      'apps/*/src/cli.ts',
      'scripts/**',
      'bench/**',
      'test/**',
      '**/test/**',
      'packages/test-support/**',
      'vitest.*.ts',
      'examples/**',
    ],
    rules: { 'no-restricted-properties': 'off' },
  },
);
