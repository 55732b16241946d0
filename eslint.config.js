// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.data/**', 'outbox/**', 'coverage/**', '**/dist/**', '**/*.tsbuildinfo'] },
  js.configs.recommended,
  // Type-aware: rules that need the types (a floating promise, a switch that drops a case) see them.
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'bench/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A new unit outcome (or any union member) must not be silently dropped by a switch without a default.
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
      // An async function without await is how a handler or a callback meets a Promise-returning interface.
      '@typescript-eslint/require-await': 'off',
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
  {
    // Tests take fixture JSON apart on purpose (typed loosely); what they assert is checked by expect.
    files: ['test/**', '**/test/**'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Loosely typed fixture JSON (`Record<string, any>`) reads as "already that type", yet the assertion names what a test means.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  // Plain JavaScript configuration files are outside the TypeScript project.
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
