/**
 * The reason a running handler's signal aborts when the worker shuts down and
 * the grace period is over. The unit of work goes back to its queue without
 * spending an attempt.
 */
export class ShutdownAbortError extends Error {
  override readonly name = 'ShutdownAbortError';
  constructor(graceMs: number) {
    super(`worker shutting down: handler still running after the ${graceMs} ms grace period`);
  }
}
