import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The tests under test/build run what `pnpm build` produces, so they build it
 * first, once per run: `tsc -b` is incremental, so an up-to-date tree costs a
 * second or two, and a clean clone needs no step before `pnpm test`.
 */
export function setup(): void {
  const tsc = createRequire(resolve(ROOT, 'package.json')).resolve('typescript/bin/tsc');
  const run = spawnSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`pnpm build failed (exit ${run.status}):\n${run.stdout}${run.stderr}`);
}
