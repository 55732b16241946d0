/**
 * Throw from a handler when trying again cannot help: a payload the downstream
 * rejects, a 4XX that will not change its mind. The unit of work goes to the
 * dead letters at once, with this message, without spending more attempts.
 */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
