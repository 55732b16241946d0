/*
 * `pnpm bench [name…]`: runs the benchmarks in bench/<name>.ts (all of them
 * when no name is given), one after another, each as its own process so one
 * does not warm or load the other. Each prints its figures and its ratio
 * against a baseline measured in the same run on the same machine.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = import.meta.dirname;
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();
const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = asked.filter((a) => !available.includes(a));
if (unknown.length > 0) {
  console.error(`Unknown benchmark: ${unknown.join(', ')}. Available: ${available.join(', ')}`);
  process.exit(2);
}
let failed = false;
for (const name of asked.length > 0 ? asked : available) {
  console.log(`\n=== bench ${name} ===`);
  const run = spawnSync(
    process.execPath,
    [
      '--conditions=@vouchflow/source',
      '--import',
      'tsx',
      join(dir, `${name}.ts`),
      ...process.argv.slice(2).filter((a) => a.startsWith('-')),
    ],
    {
      stdio: 'inherit',
    },
  );
  if (run.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
