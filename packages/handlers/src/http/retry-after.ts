import { SECOND } from '@vouchflow/core';

/**
 * Milliseconds a `Retry-After` header asks for (seconds or an HTTP date);
 * `fallbackMs` when it is absent or unreadable.
 */
export function retryAfterMs(header: string | null, fallbackMs: number, now = Date.now()): number {
  if (header === null || header.trim() === '') return fallbackMs;
  const value = header.trim();
  // 400 digits of seconds is Infinity: kept finite here, and the worker caps it (MAX_RETRY_LATER_MS).
  if (/^\d+(\.\d+)?$/.test(value)) return Math.min(Math.round(Number(value) * SECOND), Number.MAX_SAFE_INTEGER);
  const at = Date.parse(value);
  return Number.isNaN(at) ? fallbackMs : Math.max(0, at - now);
}
