import type { Queue } from 'bullmq';
import type { Logger, RedisClient } from '@vouchflow/core';
import { checkBullmqSeam, publicBulkAdder, scriptBulkAdder, type AddBulk } from '@vouchflow/pipeline';

export type { AddBulk, BulkJob, BulkResult } from '@vouchflow/pipeline';

/**
 * The intake's batch add: one Redis command per batch through the pipeline's
 * BullMQ seam when it matches the installed BullMQ (checked once, here, at
 * start), else BullMQ's public `queue.addBulk` with a warning naming the
 * version. Slower, but an upgrade never stops the ingress from starting.
 */
export function bulkAdder<T>(queue: Queue<T>, redis: RedisClient, logger?: Logger): AddBulk<T> {
  const check = checkBullmqSeam();
  if (check.ok) return scriptBulkAdder(queue, redis);
  logger?.warn('BullMQ seam does not match the installed BullMQ: storing batches with queue.addBulk (slower)', {
    bullmqVersion: check.version,
    reason: check.reason,
  });
  return publicBulkAdder(queue, redis);
}
