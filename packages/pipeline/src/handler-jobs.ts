import * as t from 'io-ts';
import { Queue, type QueueOptions } from 'bullmq';
import { bullPrefix, handlerQueueName } from '@vouchflow/core';
import { IntakeJobData, type QueueSettings } from './intake.js';

/** One unit of work: a delivery for one handler. Carries the delivery itself so it stands alone. */
export const HandlerJobData = t.intersection(
  [
    IntakeJobData,
    t.type({ handler: t.string }),
    t.partial({
      /** Set by an operator's replay: run even if this handler already completed this business fact. */
      replay: t.boolean,
    }),
  ],
  'HandlerJobData',
);
export type HandlerJobData = t.TypeOf<typeof HandlerJobData>;

/** Deterministic, so fanning out the same delivery twice (a retried intake job) adds nothing new. */
export const handlerJobId = (eventId: string, handler: string): string => `ev-${eventId}-${handler}`;

/** A handler's queue. Its caller closes it. */
export function openHandlerQueue(
  handler: string,
  { connection, queuePrefix }: QueueSettings,
  options: Partial<QueueOptions> = {},
): Queue<HandlerJobData> {
  return new Queue<HandlerJobData>(handlerQueueName(handler), { ...options, connection, prefix: bullPrefix(queuePrefix) });
}
