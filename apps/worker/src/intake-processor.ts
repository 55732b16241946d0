import type { Job, JobsOptions, KeepJobs, Queue } from 'bullmq';
import { coerceError, handlerQueueName, INTAKE_QUEUE } from '@vouchflow/core';
import type { DecodedDelivery, WebhookEvent } from '@vouchflow/schema';
import type { AnyHandler } from '@vouchflow/handler-kit';
import {
  deliveryIndexKey,
  handlerJobId,
  handlerJobOptions,
  indexDelivery,
  recordFirstFailure,
  type ClaimResult,
  type HandlerJobData,
  type IntakeJobData,
} from '@vouchflow/pipeline';
import { backoffDelay } from './backoff.js';
import { decodeBody } from './deliveries.js';
import type { DriftFinder } from './drift.js';
import { INTAKE_LABEL } from './metrics.js';
import { postpone } from './postpone.js';
import { claimTtl, execute, notClaimed, succeeded, unitKey, type Unit } from './run-unit.js';
import type { PerHandler, WorkerContext } from './worker-context.js';
import { inSpanSync, vouchflowTracer } from '@vouchflow/telemetry';

/** What the intake processor needs beyond the shared context: routing, the handler queues it fans out to, the retry settings it starts units with. */
export interface IntakeContext extends WorkerContext {
  readonly route: (eventType: string) => readonly AnyHandler[];
  readonly findDrift: DriftFinder;
  readonly perHandler: ReadonlyMap<string, PerHandler>;
  readonly handlerQueues: ReadonlyMap<string, Queue<HandlerJobData>>;
  readonly inlineFirstTry: boolean;
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly deliveryRetentionMs: number;
  /** A completed delivery's `removeOnComplete`. */
  readonly keepDeliveries: KeepJobs;
}

type HandlerJobToAdd = { handler: string; data: HandlerJobData; opts: JobsOptions };

/**
 * Runs the first try of a delivery's units inline, inside the intake job,
 * for each handler with a free permit here and no rate limit (a limit holds
 * across processes only through its queue). Most units succeed at once and
 * then cost no job of their own: their claims (and the delivery index) go
 * to Redis in one round trip and their records in one more. A unit that
 * does not succeed becomes a job of its handler's queue with the tries it
 * has left. Should this process die meanwhile, the intake job is taken up
 * again, and the units with it.
 * Resolves with the handler jobs to add.
 */
async function firstTries(
  ctx: IntakeContext,
  intakeJob: Job<IntakeJobData>,
  event: WebhookEvent,
  targets: readonly AnyHandler[],
): Promise<HandlerJobToAdd[]> {
  const { connection, queuePrefix, logger, once, maxAttempts, backoffMs } = ctx;
  const { eventId, eventType, receivedAt } = intakeJob.data;
  const toAdd: HandlerJobToAdd[] = [];
  const inline: Array<{ h: PerHandler; unit: Unit; key: string; data: HandlerJobData; opts: JobsOptions }> = [];
  for (const target of targets) {
    const h = ctx.perHandler.get(target.name)!;
    const unitId = handlerJobId(eventId, target.name);
    const data: HandlerJobData = { eventId, eventType, receivedAt, handler: target.name, intakeJobId: intakeJob.id! };
    const opts = handlerJobOptions(unitId, { attempts: maxAttempts, backoffMs });
    if (!ctx.inlineFirstTry || h.handler.rateLimit || !h.permits.tryAcquire()) {
      toAdd.push({ handler: target.name, data, opts });
      continue;
    }
    const log = () => logger.child({ eventId, eventType, handler: target.name, jobId: unitId, attempt: 1 });
    const unit: Unit = { event, unitId, attempt: 1, replay: false, log };
    inline.push({ h, unit, key: unitKey(ctx, h, unit), data, opts });
  }
  const index = { key: deliveryIndexKey(queuePrefix, eventId), value: intakeJob.id!, ttlMs: ctx.deliveryRetentionMs };
  let claims: ClaimResult[];
  try {
    claims = await once.claimMany(
      inline.map(({ h, unit, key }) => ({ key, jobId: unit.unitId, ttlMs: claimTtl(ctx, h) })),
      index,
    );
  } catch (err) {
    for (const { h } of inline) h.permits.release();
    throw err;
  }
  const outcomes = await Promise.all(
    inline.map(async ({ h, unit }, i) => {
      try {
        return notClaimed(ctx, h, unit, claims[i]!) ?? (await execute(ctx, h, unit));
      } finally {
        h.permits.release();
      }
    }),
  );
  // Successes recorded, failed claims given back, in one round trip.
  await once.finishMany(
    inline.flatMap(({ h, unit, key }, i) => {
      if (claims[i]!.status !== 'claimed') return [];
      const op = outcomes[i]!.kind === 'done' ? ('done' as const) : ('release' as const);
      return [{ key, jobId: unit.unitId, op, handler: h.handler.name }];
    }),
    ctx.onceWindowMs,
  );
  for (const [i, { h, unit, data, opts }] of inline.entries()) {
    const outcome = outcomes[i]!;
    const add = (d: HandlerJobData, o: JobsOptions) => toAdd.push({ handler: h.handler.name, data: d, opts: o });
    switch (outcome.kind) {
      case 'done':
        if (claims[i]!.status === 'claimed') succeeded(ctx, h, unit, outcome.result);
        break;
      case 'busy':
        add(data, { ...opts, delay: outcome.retryInMs });
        break;
      case 'retry-later':
        add(data, { ...opts, delay: outcome.delayMs });
        break;
      case 'aborted':
        add(data, opts);
        break;
      case 'failed': {
        const { error } = outcome;
        h.failed.inc();
        await recordFirstFailure(connection, queuePrefix, handlerQueueName(h.handler.name), unit.unitId);
        if (outcome.permanent || maxAttempts <= 1) {
          // Out of tries already: the job only carries the failure into the failed set (the dead letters).
          // It has full attempts, so an operator's retry runs it like any unit.
          const reason = outcome.permanent ? `${error.name}: ${error.message}` : error.message;
          add({ ...data, body: intakeJob.data.body, failed: { reason, ...(error.stack ? { stack: error.stack } : {}) } }, opts);
          break;
        }
        h.retried.inc();
        unit.log().info('first try failed: will retry', { error: error.message });
        add({ ...data, attemptOffset: 1 }, { ...opts, attempts: maxAttempts - 1, delay: backoffDelay(1, backoffMs, ctx.maxBackoffMs) });
        break;
      }
    }
  }
  return toAdd;
}

/** The intake queue's BullMQ processor: decodes a delivery, routes it to its handlers, and fans it out. */
export function intakeProcessor(ctx: IntakeContext) {
  const { connection, queuePrefix, logger, metrics, keepDeliveries } = ctx;
  return async (job: Job<IntakeJobData>, token?: string) => {
    const log = () => logger.child({ eventId: job.data.eventId, eventType: job.data.eventType, jobId: job.id });
    let decoded: DecodedDelivery;
    let parsed: unknown;
    try {
      ({ decoded, parsed } = inSpanSync(vouchflowTracer(), 'decode', { 'vouchflow.event_id': job.data.eventId }, () =>
        decodeBody(job.data.body),
      ));
    } catch (err) {
      metrics.deliveries.inc({ outcome: 'undecodable' });
      await recordFirstFailure(connection, queuePrefix, INTAKE_QUEUE, job.id!);
      log().warn('delivery does not decode: dead-lettered', { reason: coerceError(err).message });
      throw err;
    }
    for (const path of ctx.findDrift(parsed)) metrics.drift(path);
    if (!decoded.known) {
      metrics.deliveries.inc({ outcome: 'unknown_type' });
      metrics.unknownEvents.inc({ event_type: decoded.event.event.type });
      job.opts.removeOnComplete = keepDeliveries;
      await indexDelivery(connection, queuePrefix, job.data.eventId, job.id!, ctx.deliveryRetentionMs);
      log().info('unfamiliar event type: kept, no handler');
      return { handlers: [] };
    }
    ctx.cache.set(job.id!, decoded);
    const event = decoded.event;
    const targets = ctx.route(event.event.type);
    try {
      const jobs = await firstTries(ctx, job, event, targets);
      // Deterministic job ids: this intake job run again after a crash adds nothing twice.
      await Promise.all(jobs.map((j) => ctx.handlerQueues.get(j.handler)!.add('run', j.data, j.opts)));
    } catch (err) {
      // Redis trouble, not the delivery's fault: try again later, forever, without dead-lettering it.
      // Units that already succeeded are skipped then (once-only records).
      const delay = backoffDelay(job.attemptsStarted, ctx.backoffMs, ctx.maxBackoffMs);
      log().warn('fan-out failed: retrying later', { error: coerceError(err).message, delayMs: delay });
      return postpone(job, token, Date.now() + delay);
    }
    job.opts.removeOnComplete = keepDeliveries;
    metrics.deliveries.inc({ outcome: 'routed' });
    if (logger.isDebugEnabled()) log().debug('fanned out', { handlers: targets.map((h) => h.name) });
    return { handlers: targets.map((h) => h.name) };
  };
}

/** The intake queue's `failed` listener: a delivery that does not decode, or that killed its process too often, is dead-lettered. */
export function onIntakeFailed(ctx: WorkerContext) {
  const { metrics, logger } = ctx;
  return (job: Job<IntakeJobData> | undefined, err: Error): void => {
    if (!job) return;
    metrics.deadLettered.inc({ handler: INTAKE_LABEL });
    logger.warn('delivery dead-lettered', { eventId: job.data.eventId, jobId: job.id, reason: err.message });
  };
}
