import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

/**
 * Builds the apps as `pnpm build` does, so a bench runs what `pnpm start:*`
 * runs: the compiled build, not the sources through tsx (whose transform, for
 * one, wraps every closure the hot path creates in a naming helper). Quick when
 * nothing changed (tsc -b is incremental).
 */
export function buildApps(): void {
  const tsc = createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc');
  if (spawnSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) {
    throw new Error('tsc -b tsconfig.build.json failed');
  }
}
