/*
 * `pnpm bench [name…]`: runs the benchmarks in bench/<name>.ts (all of them
 * when no name is given), one after another, each as its own process so one
 * does not warm or load the other. Each prints its figures and its ratio
 * against a baseline measured in the same run on the same machine.
 *
 * `--chart` also draws every ratio of the run as a bar chart, to
 * docs/benchmarks-chart.svg (which docs/benchmarks.md shows).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ratioChart } from './_chart.js';
import type { BenchRatio } from './_results.js';

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
const chart = process.argv.includes('--chart');
const resultsDir = chart ? mkdtempSync(join(tmpdir(), 'vouchflow-bench-')) : undefined;
const resultsFile = resultsDir ? join(resultsDir, 'ratios.jsonl') : undefined;
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
      ...process.argv.slice(2).filter((a) => a.startsWith('-') && a !== '--chart'),
    ],
    {
      stdio: 'inherit',
      env: resultsFile ? { ...process.env, BENCH_RESULTS: resultsFile } : process.env,
    },
  );
  if (run.status !== 0) failed = true;
}
if (resultsFile && resultsDir) {
  const ratios = existsSync(resultsFile)
    ? readFileSync(resultsFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as BenchRatio)
    : [];
  const out = resolve(dir, '..', 'docs', 'benchmarks-chart.svg');
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
  writeFileSync(out, ratioChart(ratios, `pnpm bench ${asked.join(' ')} --chart, ${when} UTC; bars at their target or better are green`));
  rmSync(resultsDir, { recursive: true, force: true });
  console.log(`\n${ratios.length} ratios charted in ${out}`);
}
process.exit(failed ? 1 : 0);
