/**
 * A downstream answered with an error worth retrying (5XX, a dropped
 * connection): the worker retries it with backoff. Carries the status for logs.
 */
export class DownstreamError extends Error {
  override readonly name = 'DownstreamError';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
