import { readFileSync } from 'node:fs';

/** Resident set size of a process in bytes, from /proc (Linux); undefined once it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface Sample {
  /** Seconds since the start. */
  t: number;
  value: number;
}

/** Least-squares slope of value over t (value units per second); 0 with fewer than two samples. */
export function slope(samples: readonly Sample[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  const mt = samples.reduce((a, s) => a + s.t, 0) / n;
  const mv = samples.reduce((a, s) => a + s.value, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.t - mt) * (s.value - mv);
    den += (s.t - mt) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export const mean = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** The samples after the first `fraction` of the run (warm-up: JIT, pools, first GCs). */
export const afterWarmUp = (samples: readonly Sample[], fraction = 0.25): Sample[] => {
  const last = samples.at(-1)?.t ?? 0;
  return samples.filter((s) => s.t >= last * fraction);
};

export const MB = 1024 * 1024;

/** A gauge from a Prometheus text exposition (`/metrics`), e.g. `nodejs_heap_size_used_bytes`; undefined when absent. */
export async function scrapeGauge(url: string, name: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(2000) })).text();
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
