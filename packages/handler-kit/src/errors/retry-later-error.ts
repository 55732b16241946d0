import { brandedInstanceOf, ERROR_KIND } from './brand.js';

/**
 * Throw from a handler when the downstream asked to be called again later
 * (HTTP 429 with Retry-After, a maintenance window). The unit of work is tried
 * again after `delayMs` and the attempt is not counted. Recognised by its
 * brand, so one from a plugin's own copy of the kit counts.
 */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
  readonly [ERROR_KIND] = 'retry-later' as const;
  /**
   * How long to wait before the next try, in milliseconds: never negative,
   * never NaN or Infinity. The worker waits at most MAX_RETRY_LATER_MS (1 hour).
   */
  readonly delayMs: number;
  constructor(message: string, options: { delayMs: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    const ms = Math.round(options.delayMs);
    this.delayMs = Number.isNaN(ms) ? 0 : Math.min(Math.max(0, ms), Number.MAX_SAFE_INTEGER);
  }
  static override [Symbol.hasInstance] = brandedInstanceOf(RetryLaterError, 'retry-later');
}
