import { createHash } from 'node:crypto';
import { projectKey, type RedisClient } from '@vouchflow/core';

/*
 * A conflicting duplicate: a delivery whose `event.id` was already stored,
 * with a different body. The ingress answers it 2XX like any duplicate
 * (Voucherify must not retry it) and does not process it, but keeps it here
 * for an operator, who sees it in `pnpm ops events show`.
 */

/** One kept copy. */
export interface ConflictingDuplicate {
  /** sha256 of the delivery's JSON without insignificant whitespace. */
  hash: string;
  /** Epoch milliseconds the ingress received it. */
  receivedAt: number;
  /** The delivery exactly as received. */
  body: string;
}

/** Copies kept per event: enough to see what changed, bounded whatever a sender does. */
export const MAX_CONFLICTING_COPIES = 10;

export const conflictingDuplicatesKey = (queuePrefix: string, eventId: string): string =>
  projectKey(queuePrefix, 'conflicting-duplicates', eventId);

/** The hash two copies of a delivery are compared by: whitespace between JSON tokens does not count. */
export function deliveryHash(body: string): string {
  let canonical = body;
  try {
    canonical = JSON.stringify(JSON.parse(body));
  } catch {
    // Not JSON: compared byte for byte.
  }
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * Keeps a conflicting copy under its hash, for `ttlMs`. The same copy again
 * is kept once; past {@link MAX_CONFLICTING_COPIES} distinct copies of one
 * event, the newest are not kept (the count of refusals is in the metric).
 * @returns whether this copy is now kept
 */
export async function keepConflictingDuplicate(
  redis: RedisClient,
  queuePrefix: string,
  eventId: string,
  copy: ConflictingDuplicate,
  ttlMs: number,
): Promise<boolean> {
  const key = conflictingDuplicatesKey(queuePrefix, eventId);
  if ((await redis.hexists(key, copy.hash)) === 1) return true;
  if ((await redis.hlen(key)) >= MAX_CONFLICTING_COPIES) return false;
  await redis.multi().hsetnx(key, copy.hash, JSON.stringify(copy)).pexpire(key, ttlMs).exec();
  return true;
}

/** The kept copies of an event, oldest first. */
export async function readConflictingDuplicates(redis: RedisClient, queuePrefix: string, eventId: string): Promise<ConflictingDuplicate[]> {
  const all = await redis.hgetall(conflictingDuplicatesKey(queuePrefix, eventId));
  return Object.values(all)
    .flatMap((raw) => {
      try {
        const parsed = JSON.parse(raw) as Partial<ConflictingDuplicate>;
        return typeof parsed.hash === 'string' && typeof parsed.body === 'string' && typeof parsed.receivedAt === 'number'
          ? [{ hash: parsed.hash, receivedAt: parsed.receivedAt, body: parsed.body }]
          : [];
      } catch {
        return [];
      }
    })
    .sort((a, b) => a.receivedAt - b.receivedAt);
}
