import type { Job } from 'bullmq';
import { projectKey, type RedisClient } from '@vouchflow/core';
import { eventIdSegment, openIntakeQueue, type IntakeJobData, type QueueSettings } from './intake.js';

/*
 * Completed deliveries stay in the intake queue for the retention period
 * (the worker's DELIVERY_RETENTION_HOURS), so an operator can replay an event.
 * Their job ids carry a per-copy nonce, so this index finds an event's latest
 * copy: key `{prefix}:delivery:<event id>` → intake job id, expiring with the
 * retention.
 */

export const deliveryIndexKey = (queuePrefix: string, eventId: string): string =>
  projectKey(queuePrefix, 'delivery', eventIdSegment(eventId));

/** Records which intake job holds an event's delivery (the worker calls this as it processes it). */
export async function indexDelivery(
  redis: RedisClient,
  queuePrefix: string,
  eventId: string,
  intakeJobId: string,
  retentionMs: number,
): Promise<void> {
  await redis.set(deliveryIndexKey(queuePrefix, eventId), intakeJobId, 'PX', Math.max(1, Math.round(retentionMs)));
}

/** The intake job of an event's latest processed delivery, while it is retained. */
export async function findDelivery(settings: QueueSettings, eventId: string): Promise<Job<IntakeJobData> | undefined> {
  const jobId = await settings.connection.get(deliveryIndexKey(settings.queuePrefix, eventId));
  if (!jobId) return undefined;
  const queue = openIntakeQueue(settings);
  try {
    return (await queue.getJob(jobId)) ?? undefined;
  } finally {
    await queue.close();
  }
}
