import { readdirSync, existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// One vitest project per workspace package that has tests, named like the
// package, plus `e2e` for test/ (tests that span packages).
const workspaceDirs = ['apps', 'packages', 'examples'].flatMap((top) =>
  existsSync(top) ? readdirSync(top).map((name) => `${top}/${name}`) : [],
);

export default defineConfig({
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
      { extends: true as const, test: { name: 'e2e', include: ['test/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 } },
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
