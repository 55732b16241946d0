import * as t from 'io-ts';
import { Queue, type JobsOptions, type QueueOptions } from 'bullmq';
import { bullPrefix, handlerQueueName } from '@vouchflow/core';
import { eventIdOfSegment, eventIdSegment, quietQueueErrors, type QueueSettings } from './intake.js';

/**
 * One unit of work: a delivery for one handler. It carries the delivery
 * (`body`), or, as the worker fans out, only `intakeJobId`, the intake job
 * holding it (kept for the delivery retention): three jobs per event then
 * move one copy of the payload through Redis, not three. A unit that is
 * dead-lettered gets its `body` written in before it fails for the last time,
 * so a dead letter stands alone.
 */
export const HandlerJobData = t.intersection(
  [
    t.type({ eventId: t.string, eventType: t.string, receivedAt: t.number, handler: t.string }),
    t.partial({
      /** The delivery exactly as received, as in the intake job. */
      body: t.string,
      /** The intake job holding the delivery, when `body` is absent. */
      intakeJobId: t.string,
      /** Set by an operator's replay: run even if this handler already completed this business fact. */
      replay: t.boolean,
      /** Tries already made before this job existed (the worker's first try runs inline, without a job). */
      attemptOffset: t.number,
      /** RetryLaterErrors in a row since the last counted try; at MAX_RETRY_LATER the next one counts as a failed try. */
      retryLaters: t.number,
      /**
       * Why the unit waits, set by the worker as it delays it without a failure of this job ('rate limited', a
       * RetryLaterError's message, 'retry after failure: …' for an inline first try, 'circuit open'); cleared when a
       * try fails (BullMQ's failedReason says why then). `pnpm ops events show` prints it beside the next run time.
       */
      waitReason: t.string,
      /** The unit already failed for good before this job existed: the worker dead-letters it on arrival with this error. */
      failed: t.intersection([t.type({ reason: t.string }), t.partial({ stack: t.string })]),
    }),
  ],
  'HandlerJobData',
);
export type HandlerJobData = t.TypeOf<typeof HandlerJobData>;

/** Deterministic, so fanning out the same delivery twice (a retried intake job) adds nothing new. */
export const handlerJobId = (eventId: string, handler: string): string => `ev-${eventIdSegment(eventId)}-${handler}`;

/** Job id of an operator's replay of an event for one handler: unique per replay, so it never collides with the original unit. */
export const handlerReplayJobId = (eventId: string, handler: string, nonce: string): string =>
  `replay-${eventIdSegment(eventId)}-${handler}-${nonce}`;

/**
 * The event a unit belongs to, from its job id (a {@link handlerJobId} or a
 * {@link handlerReplayJobId} of `handler`), as once-only records name their
 * owner. Undefined for anything else, and for over-long event ids (hashed).
 */
export function eventIdOfUnit(unitId: string, handler: string): string | undefined {
  const original = /^ev-(.*)$/.exec(unitId);
  if (original && original[1]!.endsWith(`-${handler}`)) return eventIdOfSegment(original[1]!.slice(0, -handler.length - 1));
  const replay = /^replay-(.*)-([^-]+)$/.exec(unitId);
  if (replay && replay[1]!.endsWith(`-${handler}`)) return eventIdOfSegment(replay[1]!.slice(0, -handler.length - 1));
  return undefined;
}

/** The BullMQ backoff type of handler jobs: exponential with jitter, capped; the worker implements it. */
export const HANDLER_BACKOFF_TYPE = 'jittered-exponential';

/**
 * Options of a handler job: its own attempts and backoff. The worker uses it
 * when fanning out; an operator's replay adds `{ ...data, replay: true }` with
 * these options and a {@link handlerReplayJobId}.
 */
export const handlerJobOptions = (
  jobId: string,
  { attempts = 8, backoffMs = 1000 }: { attempts?: number; backoffMs?: number } = {},
): JobsOptions => ({
  jobId,
  attempts,
  backoff: { type: HANDLER_BACKOFF_TYPE, delay: backoffMs },
});

/** A handler's queue. Its caller closes it. */
export function openHandlerQueue(
  handler: string,
  { connection, queuePrefix }: QueueSettings,
  options: Partial<QueueOptions> = {},
): Queue<HandlerJobData> {
  return quietQueueErrors(
    new Queue<HandlerJobData>(handlerQueueName(handler), { ...options, connection, prefix: bullPrefix(queuePrefix) }),
  );
}
