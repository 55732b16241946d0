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
  /** How long to wait before the next try, in milliseconds. */
  readonly delayMs: number;
  constructor(message: string, options: { delayMs: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.delayMs = Math.max(0, Math.round(options.delayMs));
  }
  static override [Symbol.hasInstance] = brandedInstanceOf(RetryLaterError, 'retry-later');
}
