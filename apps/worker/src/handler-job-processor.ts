import { UnrecoverableError, type Job } from 'bullmq';
import { handlerQueueName, type Logger } from '@vouchflow/core';
import type { HandlerOutcome } from '@vouchflow/handler-kit';
import { recordFirstFailure, recordPermanentFailure, unitAttemptsMade, unitMaxAttempts, type HandlerJobData } from '@vouchflow/pipeline';
import { deliveryOf, keptBody, undecodable } from './deliveries.js';
import { postpone } from './postpone.js';
import { WAIT_REASONS } from './wait-reasons.js';
import { RetryLaterExhaustedError } from './retry-later.js';
import { runUnitBehindCircuit } from './circuit.js';
import { archiveDead, archiveSettled } from './archive-entries.js';
import type { PerHandler, WorkerContext } from './worker-context.js';

const permanentError = (reason: string, stack?: string): UnrecoverableError => {
  const err = new UnrecoverableError(reason);
  if (stack) err.stack = stack;
  return err;
};

/** The BullMQ processor of one handler's queue: a unit's tries after the first, or all of them without inline first tries. */
export function handlerJobProcessor(ctx: WorkerContext, h: PerHandler) {
  const { connection, queuePrefix, logger } = ctx;
  const queueName = handlerQueueName(h.handler.name);
  return async (job: Job<HandlerJobData>, token?: string): Promise<HandlerOutcome | { done: true }> => {
    const data = job.data;
    // Failed for good inline, before the job existed: it only had to reach the failed set.
    if (data.failed) throw permanentError(data.failed.reason, data.failed.stack);
    const attempt = unitAttemptsMade(job.attemptsMade, data) + 1;
    const isLast = attempt >= (unitMaxAttempts(job.opts.attempts ?? 1, data) ?? 1);
    let scoped: Logger | undefined;
    // Created on first use: most runs never log.
    const log = () =>
      (scoped ??= logger.child({ eventId: data.eventId, eventType: data.eventType, handler: h.handler.name, jobId: job.id, attempt }));
    const delivery = await deliveryOf(ctx, data);
    // A dead letter must stand alone: write the delivery into the unit before its last failure.
    const keepBody = async () => {
      if (data.body !== undefined) return;
      const body = delivery.body ?? (await keptBody(ctx, data));
      if (body !== undefined) await job.updateData({ ...data, body });
    };
    const { decoded } = delivery;
    if (!decoded) {
      await Promise.all([keepBody(), recordPermanentFailure(connection, queuePrefix, queueName, job.id!)]);
      throw delivery.error ?? undecodable(`delivery of ${data.eventType} does not decode`);
    }
    let outcome = await runUnitBehindCircuit(ctx, h, { event: decoded.event, unitId: job.id!, attempt, replay: data.replay === true, log });
    if (outcome.kind === 'retry-later') {
      // Postponements are free, but not for ever: MAX_RETRY_LATER in a row and this one is a failed try.
      const inARow = (data.retryLaters ?? 0) + 1;
      if (inARow < ctx.retryLater.maxInARow) await job.updateData({ ...data, retryLaters: inARow });
      else {
        await job.updateData({ ...data, retryLaters: 0 });
        outcome = { kind: 'failed', error: new RetryLaterExhaustedError(inARow, outcome.reason), permanent: false };
      }
    }
    switch (outcome.kind) {
      case 'done':
        await archiveSettled(
          ctx,
          { eventId: data.eventId, receivedAt: data.receivedAt, handler: h.handler.name, attempts: attempt },
          outcome.result,
        );
        return outcome.result;
      case 'busy':
        if (logger.isDebugEnabled()) log().debug('another run holds the claim: waiting for it');
        return postpone(job, token, Date.now() + outcome.retryInMs, WAIT_REASONS.busy);
      case 'retry-later':
        return postpone(job, token, Date.now() + outcome.delayMs, outcome.reason);
      case 'aborted':
        return postpone(job, token, Date.now(), WAIT_REASONS.aborted);
      case 'held':
        if (logger.isDebugEnabled()) log().debug('circuit open: waiting, no attempt spent', { retryInMs: outcome.retryInMs });
        return postpone(job, token, Date.now() + outcome.retryInMs, outcome.reason);
      case 'failed': {
        await Promise.all([
          recordFirstFailure(connection, queuePrefix, queueName, job.id!),
          outcome.permanent ? recordPermanentFailure(connection, queuePrefix, queueName, job.id!) : undefined,
        ]);
        if (outcome.permanent || isLast) await keepBody();
        // BullMQ's failedReason says why it waits now, not an earlier postponement's reason.
        else if (job.data.waitReason !== undefined) await job.updateData({ ...job.data, waitReason: undefined });
        const { error } = outcome;
        if (outcome.permanent) throw permanentError(`${error.name}: ${error.message}`, error.stack);
        throw error;
      }
    }
  };
}

/** A handler queue's `failed` listener: counts the try, and says whether it will be retried or is dead-lettered. */
export function onHandlerJobFailed(ctx: WorkerContext, handler: string) {
  const { metrics, logger } = ctx;
  return (job: Job<HandlerJobData> | undefined, err: Error): void => {
    if (!job) return;
    // A unit that failed for good inline was counted then; here it only reaches the dead letters.
    if (!job.data.failed) metrics.failed.inc({ handler });
    const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    const attemptsMade = unitAttemptsMade(job.attemptsMade, job.data);
    const fields = { handler, eventId: job.data.eventId, jobId: job.id, attemptsMade, error: err.message };
    if (final) {
      metrics.deadLettered.inc({ handler });
      logger.warn('unit of work dead-lettered', fields);
      void archiveDead(ctx, { eventId: job.data.eventId, receivedAt: job.data.receivedAt, handler, attempts: attemptsMade }, err.message);
    } else {
      metrics.retried.inc({ handler });
      logger.info('try failed: will retry', { ...fields, delayMs: job.delay });
    }
  };
}
