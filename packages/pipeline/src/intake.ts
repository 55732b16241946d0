import * as t from 'io-ts';
import { Queue, type QueueOptions } from 'bullmq';
import { bullPrefix, INTAKE_QUEUE, type RedisClient } from '@vouchflow/core';

/**
 * One accepted delivery, as the ingress stores it and the worker reads it.
 * `body` is the request body exactly as received, so a dead letter shows what
 * Voucherify sent and a replay decodes the same bytes.
 */
export const IntakeJobData = t.type(
  {
    body: t.string,
    eventId: t.string,
    eventType: t.string,
    /** Epoch milliseconds when the ingress accepted it. */
    receivedAt: t.number,
  },
  'IntakeJobData',
);
export type IntakeJobData = t.TypeOf<typeof IntakeJobData>;

/** BullMQ job id of a delivery: its event id, so a re-sent event maps to the same job. */
export const intakeJobId = (eventId: string): string => `ev-${eventId}`;

export interface QueueSettings {
  connection: RedisClient;
  queuePrefix: string;
}

/** The intake queue, opened with the deployment's key prefix. Its caller closes it. */
export function openIntakeQueue({ connection, queuePrefix }: QueueSettings, options: Partial<QueueOptions> = {}): Queue<IntakeJobData> {
  return new Queue<IntakeJobData>(INTAKE_QUEUE, { ...options, connection, prefix: bullPrefix(queuePrefix) });
}
