import { type MinimalJob } from 'bullmq';
import { triesBeforeJob } from '@vouchflow/pipeline';

/** Share of a retry delay taken off at random, so retries of many units failing together spread out. */
export const BACKOFF_JITTER = 0.25;

/**
 * Delay before retry number `retry` (1 = the first retry): `baseMs` doubling
 * each time, at most `capMs`, minus up to {@link BACKOFF_JITTER} of it at random.
 */
export function backoffDelay(retry: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const full = Math.min(capMs, baseMs * 2 ** Math.max(0, retry - 1));
  return Math.round(full * (1 - BACKOFF_JITTER * random()));
}

/**
 * The worker's BullMQ `backoffStrategy`. The base delay comes from the job's
 * own options (so a job keeps the backoff it was enqueued with), else `baseMs`;
 * the tries made before the job existed (its inline first try) count too.
 */
export const backoffStrategy =
  (baseMs: number, capMs: number) =>
  (attemptsMade: number, _type?: string, _err?: Error, job?: MinimalJob): number => {
    const backoff = job?.opts.backoff;
    const base = typeof backoff === 'object' && typeof backoff.delay === 'number' ? backoff.delay : baseMs;
    // Tries made inline before the job existed count too, so the delays go on doubling from there.
    const data: unknown = job?.data;
    const offset = typeof data === 'object' && data !== null ? triesBeforeJob(data as { attemptOffset?: number }) : 0;
    return backoffDelay(attemptsMade + (Number(offset) || 0), base, capMs);
  };
