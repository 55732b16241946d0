import { HOUR } from '@vouchflow/core';

/**
 * Bounds on RetryLaterError, which postpones a unit without spending an
 * attempt. Without them a `Retry-After` of 400 digits parks a unit for ever,
 * and a downstream answering 429 for ever loops for ever.
 */
export interface RetryLaterLimits {
  /** Longest postponement. @defaultValue 1 hour (MAX_RETRY_LATER_MS) */
  maxDelayMs: number;
  /** Postponements in a row after which the next one counts as a failed try (backoff, and in the end a dead letter). @defaultValue 50 (MAX_RETRY_LATER) */
  maxInARow: number;
}

export const DEFAULT_RETRY_LATER_LIMITS: RetryLaterLimits = { maxDelayMs: HOUR, maxInARow: 50 };

/** What a unit asked to wait, within the limit. */
export const retryLaterDelay = (delayMs: number, limits: RetryLaterLimits): number => Math.min(delayMs, limits.maxDelayMs);

/** The try that a unit postponed too often in a row counts as failed, with this error. */
export class RetryLaterExhaustedError extends Error {
  override readonly name = 'RetryLaterExhaustedError';
  constructor(inARow: number, lastReason: string) {
    super(
      `asked to retry later ${inARow} times in a row (MAX_RETRY_LATER); this try counts as failed and retries follow the backoff. Last: ${lastReason}`,
    );
  }
}
