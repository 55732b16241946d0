import type { Queue } from 'bullmq';
import { DAY, type RedisClient } from '@vouchflow/core';
import { deliveryHash, findDelivery, intakeDeduplicationId, keepConflictingDuplicate, type IntakeJobData } from '@vouchflow/pipeline';

/** What a duplicate turned out to be. */
export type DuplicateVerdict =
  | { conflict: false }
  | {
      conflict: true;
      /** Hash of the copy stored first (the one processed). */
      storedHash: string;
      /** Hash of this copy. */
      receivedHash: string;
      /** Whether this copy is kept for an operator (at most a few per event). */
      kept: boolean;
    };

/** Looks at a delivery answered "duplicate": the same event again, or the same event id with another body. */
export interface DuplicateInspector {
  inspect(delivery: IntakeJobData): Promise<DuplicateVerdict>;
}

/** How long a conflicting copy is kept for `pnpm ops events show`: as long as completed deliveries are. */
export const CONFLICT_RETENTION_MS = 7 * DAY;

/**
 * Compares a duplicate with the copy stored under its event id (its intake
 * job, found with BullMQ's public deduplication look-up, while it waits; its
 * kept record once processed), only ever on the duplicate path: the first
 * copy of an event costs nothing more. A copy whose stored twin is gone (past
 * retention) cannot be compared and counts as a plain duplicate.
 */
export function createDuplicateInspector(options: {
  queue: Queue<IntakeJobData>;
  redis: RedisClient;
  queuePrefix: string;
  retentionMs?: number;
}): DuplicateInspector {
  const { queue, redis, queuePrefix } = options;
  return {
    async inspect(delivery) {
      const jobId = await queue.getDeduplicationJobId(intakeDeduplicationId(delivery.eventId));
      const stored =
        (jobId ? await queue.getJob(jobId) : undefined)?.data ?? (await findDelivery({ connection: redis, queuePrefix }, delivery.eventId));
      if (!stored) return { conflict: false };
      const storedHash = deliveryHash(stored.body);
      const receivedHash = deliveryHash(delivery.body);
      if (storedHash === receivedHash) return { conflict: false };
      const kept = await keepConflictingDuplicate(
        redis,
        queuePrefix,
        delivery.eventId,
        { hash: receivedHash, receivedAt: delivery.receivedAt, body: delivery.body },
        options.retentionMs ?? CONFLICT_RETENTION_MS,
      );
      return { conflict: true, storedHash, receivedHash, kept };
    },
  };
}
