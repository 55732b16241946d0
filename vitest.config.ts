import { readdirSync, existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// One vitest project per workspace package that has tests, named like the
// package, plus `e2e` for test/ (tests that span packages).
const workspaceDirs = ['apps', 'packages', 'examples'].flatMap((top) =>
  existsSync(top) ? readdirSync(top).map((name) => `${top}/${name}`) : [],
);

// Workspace packages export their TypeScript sources under this condition and
// their compiled dist/ by default: tests run the sources, no build needed.
// The rest are Vite's defaults for server code, which a list given here replaces.
const sourceConditions = ['@vouchflow/source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions: sourceConditions },
  ssr: { resolve: { conditions: sourceConditions } },
  test: {
    globalSetup: ['./vitest.global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      ...workspaceDirs
        .filter((dir) => existsSync(`${dir}/test`) && existsSync(`${dir}/package.json`))
        .map((dir) => ({
          extends: true as const,
          test: { name: `${dir}`, include: [`${dir}/test/**/*.test.ts`] },
        })),
      {
        extends: true as const,
        test: { name: 'e2e', include: ['test/**/*.test.ts'], exclude: ['test/build/**'], testTimeout: 120_000, hookTimeout: 60_000 },
      },
      // What `pnpm build` produces: the compiled apps and the packed plugin kit. Builds first.
      {
        extends: true as const,
        test: {
          name: 'build',
          include: ['test/build/**/*.test.ts'],
          globalSetup: ['./test/build/build.global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
