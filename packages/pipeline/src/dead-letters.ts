/*
 * The dead-letter store's contract, shared by the worker (which fills it),
 * the operator CLI and the admin API (which read and act on it).
 * The implementation lives beside this file.
 */

/** One unit of work that will not succeed by itself: a delivery that cannot decode, or an (event, handler) out of attempts. */
export interface DeadLetter {
  /** Stable id an operator passes to `show` and `retry`. */
  id: string;
  eventId: string;
  eventType: string;
  /** The handler whose work failed; `null` when the delivery itself did not decode. */
  handler: string | null;
  /** Tries made before it was dead-lettered. */
  attempts: number;
  /** The last error's message (for decode failures, every failing path). */
  reason: string;
  /**
   * Failed for good: a PermanentError (its handler said a retry cannot help), or a
   * delivery that does not decode. False for units out of attempts, which a retry may fix.
   */
  permanent: boolean;
  /** The last error's stack, when there was one. */
  stack: string | null;
  /** Epoch milliseconds. */
  firstFailedAt: number;
  /** Epoch milliseconds. */
  lastFailedAt: number;
  /** The delivery exactly as received. */
  delivery: string;
}

export interface DeadLetterFilter {
  /** Only this handler's entries; `null` for intake's only (deliveries that did not decode). */
  handler?: string | null;
  /** Only entries of this event (exact id). */
  eventId?: string;
  eventType?: string;
  /** Only entries whose reason contains this text, ignoring case. */
  reason?: string;
  /** Only entries a retry can help: leaves out those that failed for good (see {@link DeadLetter.permanent}). */
  retryableOnly?: boolean;
  /** Only entries that last failed at or after this epoch millisecond. */
  since?: number;
  /** Only entries that last failed at or before this epoch millisecond: what existed when a purge was counted, not what arrived since. */
  until?: number;
  /** At most this many entries, newest first. */
  limit?: number;
}

/** Called during bulk work so a CLI can draw a progress bar. */
export type Progress = (done: number, total: number) => void;

export interface DeadLetterStore {
  /** Newest first. */
  list(filter?: DeadLetterFilter): Promise<DeadLetter[]>;
  count(filter?: DeadLetterFilter): Promise<number>;
  get(id: string): Promise<DeadLetter | undefined>;
  /** Back into processing with fresh attempts (a decode failure goes back through intake). False when `id` is unknown. */
  retry(id: string): Promise<boolean>;
  /** Retries every matching entry; resolves with how many were retried. */
  retryAll(filter?: DeadLetterFilter, onProgress?: Progress): Promise<number>;
  /** Deletes matching entries; resolves with how many. */
  purge(filter?: DeadLetterFilter, onProgress?: Progress): Promise<number>;
  /** The ids of the entries matching `filter`, newest first: what a purge by ids then deletes, exactly. */
  ids(filter?: DeadLetterFilter): Promise<string[]>;
  /** Deletes exactly these entries (those still dead letters); the number deleted. */
  purgeIds(ids: readonly string[], onProgress?: Progress): Promise<number>;
}
