import * as t from 'io-ts';
import { DAY, HOUR, MILLISECOND, MINUTE, SECOND } from '@vouchflow/core';

const UNITS: Record<string, number> = { ms: MILLISECOND, s: SECOND, m: MINUTE, h: HOUR, d: DAY, w: 7 * DAY };
const PART = /(\d+)(ms|s|m|h|d|w)/g;
const WHOLE = /^(?:\d+(?:ms|s|m|h|d|w))+$/;

/**
 * Reads a duration an operator types: `90s`, `15m`, `2h`, `7d`, `1h30m`.
 * Undefined when the text is not one.
 */
export function parseDuration(text: string): number | undefined {
  const s = text.trim().toLowerCase();
  if (!WHOLE.test(s)) return undefined;
  let total = 0;
  for (const [, amount, unit] of s.matchAll(PART)) total += Number(amount) * (UNITS[unit!] ?? 0);
  return total;
}

/** The shortest exact spelling of a duration, e.g. `15m`, `1h30m`, `250ms`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['d', DAY],
    ['h', HOUR],
    ['m', MINUTE],
    ['s', SECOND],
    ['ms', MILLISECOND],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

/** An environment variable holding a duration such as `15m`, decoded to milliseconds, at least `min`. */
export const DurationFromString = (name: string, min = 0) =>
  new t.Type<number, string, unknown>(
    name,
    (u): u is number => typeof u === 'number' && u >= min,
    (u, c) => {
      const ms = typeof u === 'string' ? parseDuration(u) : undefined;
      if (ms === undefined) return t.failure(u, c, `expected a duration such as 30s, 15m, 2h or 7d, got ${JSON.stringify(u)}`);
      if (ms < min) return t.failure(u, c, `expected at least ${formatDuration(min)}, got ${formatDuration(ms)}`);
      return t.success(ms);
    },
    formatDuration,
  );
