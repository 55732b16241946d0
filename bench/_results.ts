import { appendFileSync } from 'node:fs';

/** One ratio a benchmark measured against its baseline, for `pnpm bench --chart`. */
export interface BenchRatio {
  bench: string;
  label: string;
  ratio: number;
  /** The ratio the benchmark must reach, when it has one. */
  target?: number;
  /** Whether a lower ratio is better (cost ratios such as start-up time). */
  lowerIsBetter?: boolean;
}

/**
 * Appends a ratio to the file `pnpm bench --chart` gave (BENCH_RESULTS), one
 * JSON line each; without it, nothing happens.
 */
export function recordRatio(entry: BenchRatio): void {
  const file = process.env['BENCH_RESULTS'];
  if (file) appendFileSync(file, `${JSON.stringify(entry)}\n`);
}
