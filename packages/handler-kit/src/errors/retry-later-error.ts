/**
 * Throw from a handler when the downstream asked to be called again later
 * (HTTP 429 with Retry-After, a maintenance window). The unit of work is tried
 * again after `delayMs` and the attempt is not counted.
 */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
  /** How long to wait before the next try, in milliseconds. */
  readonly delayMs: number;
  constructor(message: string, options: { delayMs: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.delayMs = Math.max(0, Math.round(options.delayMs));
  }
}
