/**
 * Redis could not store a delivery in time: unreachable, too slow, or it
 * refused the write (out of memory). The request is answered 503 with
 * Retry-After so that Voucherify delivers it again later.
 */
export class IntakeUnavailableError extends Error {
  override readonly name = 'IntakeUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
