import type { Job, JobsOptions, Queue } from 'bullmq';
import { coerceError, handlerQueueName, INTAKE_QUEUE } from '@vouchflow/core';
import type { DecodedDelivery, HandledEvent } from '@vouchflow/schema';
import type { AnyHandler } from '@vouchflow/handler-kit';
import {
  continuedAsJob,
  deduplicationKey,
  deliveryKey,
  keptDeliveryRecord,
  handlerJobId,
  handlerJobOptions,
  indexEvent,
  INTAKE_TOTAL,
  recordFirstFailure,
  recordPermanentFailure,
  type HandlerJobData,
  type IntakeJobData,
} from '@vouchflow/pipeline';
import { backoffDelay } from './backoff.js';
import { decodeBody } from './deliveries.js';
import type { DriftFinder } from './drift.js';
import { INTAKE_LABEL } from './metrics.js';
import { postpone } from './postpone.js';
import { WAIT_REASONS } from './wait-reasons.js';
import type { Unit, UnitOutcome } from './unit.js';
import { runUnitBehindCircuit } from './circuit.js';
import { archiveDelivery, archiveSettled } from './archive-entries.js';
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
  /** How long a processed delivery is kept (for `events show`, replay, and its units' retries). */
  readonly deliveryRetentionMs: number;
}

type HandlerJobToAdd = { handler: string; data: HandlerJobData; opts: JobsOptions };

/**
 * Runs the first try of a delivery's units inline, inside the intake job,
 * for each handler without a rate limit (a limit holds across processes only
 * through its queue). A unit waits here for a free permit of its handler
 * rather than becoming a job; each unit goes through its own life (unit.ts)
 * and is recorded done the moment it settles, whatever its siblings do. A
 * unit that does not succeed becomes a job of its handler's queue with the
 * tries it has left. Should this process die meanwhile, the intake job is
 * taken up again, and with it the units not recorded done.
 * Resolves with the handler jobs to add; the archive appends of units that
 * ended inline go into `journaled`.
 */
async function firstTries(
  ctx: IntakeContext,
  intakeJob: Job<IntakeJobData>,
  event: HandledEvent,
  targets: readonly AnyHandler[],
  journaled: Promise<void>[],
): Promise<HandlerJobToAdd[]> {
  const { connection, queuePrefix, logger, maxAttempts, backoffMs } = ctx;
  const { eventId, eventType, receivedAt } = intakeJob.data;
  const toAdd: HandlerJobToAdd[] = [];
  // The job a unit goes on as, should it not end inline (most do: built only then).
  const jobOf = (handler: string, unitId: string): { data: HandlerJobData; opts: JobsOptions } => ({
    data: { eventId, eventType, receivedAt, handler, intakeJobId: intakeJob.id! },
    opts: handlerJobOptions(unitId, { attempts: maxAttempts, backoffMs }),
  });
  const inline: Array<{ h: PerHandler; unit: Unit }> = [];
  for (const target of targets) {
    const h = ctx.perHandler.get(target.name)!;
    const unitId = handlerJobId(eventId, target.name);
    // Paused means paused: a first try does not slip past a paused queue by running inline.
    if (!ctx.inlineFirstTry || h.handler.rateLimit || h.pause.paused) {
      toAdd.push({ handler: target.name, ...jobOf(target.name, unitId) });
      continue;
    }
    const log = () => logger.child({ eventId, eventType, handler: target.name, jobId: unitId, attempt: 1 });
    inline.push({ h, unit: { event, unitId, attempt: 1, replay: false, log } });
  }
  // Deflated first, so that the kept record goes out in the same batch as the units' claims: before any
  // handler runs (`events show` finds the event while they do) and before any of its handler jobs exists.
  const record = await keptRecordOf(ctx, intakeJob, targets);
  const kept = Promise.all([storeKept(ctx, intakeJob, record), indexDelivery(ctx, intakeJob, event)]);
  const settled = await Promise.allSettled([kept, ...inline.map(({ h, unit }) => runUnitBehindCircuit(ctx, h, unit))]);
  const trouble = settled.find((s) => s.status === 'rejected');
  if (trouble) throw trouble.reason;
  const outcomes = settled.slice(1).map((s) => (s as PromiseFulfilledResult<UnitOutcome>).value);
  for (const [i, { h, unit }] of inline.entries()) {
    const outcome = outcomes[i]!;
    if (outcome.kind === 'done') {
      journaled.push(archiveSettled(ctx, { eventId, receivedAt, handler: h.handler.name, attempts: 1 }, outcome.result));
      continue;
    }
    const { data, opts } = jobOf(h.handler.name, unit.unitId);
    const add = (d: HandlerJobData, o: JobsOptions) => toAdd.push({ handler: h.handler.name, data: d, opts: o });
    switch (outcome.kind) {
      case 'busy':
        add({ ...data, waitReason: WAIT_REASONS.busy }, { ...opts, delay: outcome.retryInMs });
        break;
      case 'retry-later':
        add({ ...data, retryLaters: 1, waitReason: outcome.reason }, { ...opts, delay: outcome.delayMs });
        break;
      case 'aborted':
        add(data, opts);
        break;
      case 'held':
        // Its handler's circuit is open: the unit waits in its queue with all its tries.
        add({ ...data, waitReason: outcome.reason }, { ...opts, delay: outcome.retryInMs });
        break;
      case 'failed': {
        const { error } = outcome;
        h.failed.inc();
        await Promise.all([
          recordFirstFailure(connection, queuePrefix, handlerQueueName(h.handler.name), unit.unitId),
          outcome.permanent ? recordPermanentFailure(connection, queuePrefix, handlerQueueName(h.handler.name), unit.unitId) : undefined,
        ]);
        if (outcome.permanent || maxAttempts <= 1) {
          // Out of tries already: the job only carries the failure into the failed set (the dead letters).
          // It has full attempts, so an operator's retry runs it like any unit.
          const reason = outcome.permanent ? `${error.name}: ${error.message}` : error.message;
          add({ ...data, body: intakeJob.data.body, failed: { reason, ...(error.stack ? { stack: error.stack } : {}) } }, opts);
          break;
        }
        h.retried.inc();
        unit.log().info('first try failed: will retry', { error: error.message });
        const next = continuedAsJob(data, opts, 1, maxAttempts);
        add(
          { ...next.data, waitReason: WAIT_REASONS.afterFailure(error.message) },
          { ...next.opts, delay: backoffDelay(1, backoffMs, ctx.maxBackoffMs) },
        );
        break;
      }
    }
  }
  return toAdd;
}

/** Indexes the delivery under whom and what it is about (`pnpm ops events find`), for the delivery retention, in the units' batch. */
function indexDelivery(ctx: IntakeContext, job: Job<IntakeJobData>, event: HandledEvent): Promise<void> {
  const { eventId, receivedAt } = job.data;
  return indexEvent(ctx.records, ctx.queuePrefix, { eventId, receivedAt, delivery: event }, ctx.deliveryRetentionMs);
}

/**
 * Keeps the delivery for the retention window as a compact record (the intake
 * job is removed as it completes). The record refuses the event's duplicates
 * at the ingress from now on, so BullMQ's deduplication key goes, unless it
 * would outlive the record.
 */
async function keepDelivery(ctx: IntakeContext, job: Job<IntakeJobData>, targets: readonly AnyHandler[]): Promise<void> {
  await storeKept(ctx, job, await keptRecordOf(ctx, job, targets));
}

/** The delivery's kept record, its body deflated off the event loop. */
async function keptRecordOf(ctx: IntakeContext, job: Job<IntakeJobData>, targets: readonly AnyHandler[]): Promise<Buffer> {
  const { body, ...data } = job.data;
  return keptDeliveryRecord(
    {
      ...data,
      processedAt: Date.now(),
      intakeAttempts: job.attemptsStarted,
      intakeJobId: job.id!,
      handlers: targets.map((h) => h.name),
      ...(job.opts.telemetry?.metadata ? { trace: job.opts.telemetry.metadata } : {}),
    },
    await ctx.deflater.deflate(body),
  );
}

async function storeKept(ctx: IntakeContext, job: Job<IntakeJobData>, record: Buffer): Promise<void> {
  await Promise.all([
    ctx.records.set(deliveryKey(ctx.queuePrefix, job.data.eventId), record, ctx.deliveryRetentionMs, INTAKE_TOTAL),
    ctx.records.handover(deduplicationKey(ctx.queuePrefix, job.data.eventId), ctx.deliveryRetentionMs),
  ]);
}

/** The intake queue's BullMQ processor: decodes a delivery, routes it to its handlers, and fans it out. */
export function intakeProcessor(ctx: IntakeContext) {
  const { connection, queuePrefix, logger, metrics } = ctx;
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
      await Promise.all([
        recordFirstFailure(connection, queuePrefix, INTAKE_QUEUE, job.id!),
        // The same bytes will not decode on a retry: only a change of the schema helps.
        recordPermanentFailure(connection, queuePrefix, INTAKE_QUEUE, job.id!),
      ]);
      log().warn('delivery does not decode: dead-lettered', { reason: coerceError(err).message });
      throw err;
    }
    for (const path of ctx.findDrift(parsed)) metrics.drift(path);
    const event = decoded.event;
    // An unfamiliar type stays counted, and reaches the handlers subscribed with a pattern that matches it.
    if (!decoded.known) metrics.unknownEvents.inc({ event_type: event.event.type });
    const targets = ctx.route(event.event.type);
    if (!decoded.known && targets.length === 0) {
      metrics.deliveries.inc({ outcome: 'unknown_type' });
      await Promise.all([keepDelivery(ctx, job, []), indexDelivery(ctx, job, event), archiveDelivery(ctx, job.data, event, [])]);
      log().info('unfamiliar event type: kept, no handler');
      return { handlers: [] };
    }
    // Archive appends (no-ops without ARCHIVE_URL): units ended inline, then the delivery; they never reject.
    const journaled: Promise<void>[] = [];
    try {
      const jobs = await firstTries(ctx, job, event, targets, journaled);
      // Only units that go on as jobs read the decoded delivery again (usually in this process, moments later).
      // Caching every delivery would keep each one alive past its job, into the old generation.
      if (jobs.length > 0) ctx.cache.set(job.id!, decoded, job.data.body.length);
      // Deterministic job ids: this intake job run again after a crash adds nothing twice.
      await Promise.all([
        ...jobs.map((j) => ctx.handlerQueues.get(j.handler)!.add('run', j.data, j.opts)),
        archiveDelivery(
          ctx,
          job.data,
          event,
          targets.map((h) => h.name),
        ),
        ...journaled,
      ]);
    } catch (err) {
      // Units that ended inline are archived though the delivery is tried again (their re-run skips them).
      await Promise.all(journaled);
      // Redis trouble, not the delivery's fault: try again later, forever, without dead-lettering it.
      // Units that already succeeded are skipped then (once-only records).
      const delay = backoffDelay(job.attemptsStarted, ctx.backoffMs, ctx.maxBackoffMs);
      log().warn('fan-out failed: retrying later', { error: coerceError(err).message, delayMs: delay });
      return postpone(job, token, Date.now() + delay);
    }
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
