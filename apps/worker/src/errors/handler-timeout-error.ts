/** A handler did not finish within its `timeoutMs`; the try counts as failed and is retried with backoff. */
export class HandlerTimeoutError extends Error {
  override readonly name = 'HandlerTimeoutError';
  constructor(
    readonly handler: string,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`handler "${handler}" did not finish within ${timeoutMs} ms`, options);
  }
}
