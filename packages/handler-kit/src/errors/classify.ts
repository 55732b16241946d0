import { PermanentError } from './permanent-error.js';
import { RetryLaterError } from './retry-later-error.js';

/** What the worker does with an error a handler threw. */
export type ErrorKind = 'permanent' | 'retry-later' | 'retryable';

/**
 * `PermanentError` → dead letter now; `RetryLaterError` → again after its
 * delay, attempt not spent; anything else → retried with backoff.
 */
export function classifyError(error: unknown): ErrorKind {
  if (error instanceof PermanentError) return 'permanent';
  if (error instanceof RetryLaterError) return 'retry-later';
  return 'retryable';
}
