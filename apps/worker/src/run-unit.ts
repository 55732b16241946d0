/*
 * One unit of work: one handler's effect for one delivery's event. Its first
 * try inline (intake-processor.ts, claims batched per delivery) and its tries
 * from its handler's queue (handler-job-processor.ts, a claim each) run and
 * classify it alike, so a unit ends the same way whichever path ran it.
 */
import { coerceError, SECOND, type Logger } from '@vouchflow/core';
import { businessKeyOf, occurredAtOf, type WebhookEvent } from '@vouchflow/schema';
import { narrowLogger, PermanentError, RetryLaterError, type HandlerContext, type HandlerOutcome } from '@vouchflow/handler-kit';
import { onceKey, type ClaimResult } from '@vouchflow/pipeline';
import { HandlerTimeoutError } from './errors/handler-timeout-error.js';
import type { PerHandler, WorkerContext } from './worker-context.js';
import { traceAttempt } from './tracing.js';

// While a twin holds a business fact's claim, look again this often.
const TWIN_POLL = SECOND;

export type RunOutcome =
  | { kind: 'done'; result: HandlerOutcome | { done: true } }
  | { kind: 'busy'; retryInMs: number }
  | { kind: 'retry-later'; delayMs: number; reason: string }
  | { kind: 'aborted' }
  | { kind: 'failed'; error: Error; permanent: boolean };

export interface Unit {
  event: WebhookEvent;
  /** Owns the claim: the handler job id, the same for the inline try and the job that may follow it. */
  unitId: string;
  attempt: number;
  replay: boolean;
  log: () => Logger;
}

export const claimTtl = (ctx: WorkerContext, h: PerHandler) => h.timeoutMs + ctx.lockDuration; // outlives any run, so a crashed run's claim frees itself
export const unitKey = (ctx: WorkerContext, h: PerHandler, unit: Unit) =>
  onceKey(ctx.queuePrefix, h.handler.name, businessKeyOf(unit.event));

/** What a claim that was not granted means for the unit. */
export function notClaimed(ctx: WorkerContext, h: PerHandler, unit: Unit, claim: ClaimResult): RunOutcome | undefined {
  if (claim.status === 'done') {
    h.skipped.inc();
    unit.log().info('business fact already handled: skipped', { by: claim.by });
    const result = { skipped: `already done by ${claim.by}` };
    ctx.events.emit('settled', { handler: h.handler.name, eventId: unit.event.event.id, unitId: unit.unitId, result });
    return { kind: 'done', result };
  }
  if (claim.status === 'busy') return { kind: 'busy', retryInMs: Math.min(claim.retryInMs, TWIN_POLL) };
  return undefined;
}

/** Counts and announces a unit whose success is recorded. */
export function succeeded(ctx: WorkerContext, h: PerHandler, unit: Unit, result: HandlerOutcome | { done: true }): void {
  h.completed.inc();
  if ('skipped' in result) unit.log().info('handler skipped its effect', { reason: result.skipped });
  ctx.events.emit('settled', { handler: h.handler.name, eventId: unit.event.event.id, unitId: unit.unitId, result });
}

/** One try of a claimed unit: the handler under its timeout, without the once-only bookkeeping. */
export async function execute(ctx: WorkerContext, h: PerHandler, unit: Unit): Promise<RunOutcome> {
  const { handler, timeoutMs } = h;
  const run = ctx.runs.start(handler.name, timeoutMs);
  const context: HandlerContext = {
    get logger() {
      return narrowLogger(unit.log());
    },
    signal: run.signal,
    attempt: unit.attempt,
    idempotencyKey: `${handler.name}:${businessKeyOf(unit.event)}`,
    occurredAt: occurredAtOf(unit.event),
    errors: { PermanentError, RetryLaterError },
  };
  const started = performance.now();
  const seconds = () => (performance.now() - started) / SECOND;
  try {
    const outcome = await traceAttempt(handler.name, unit, () => Promise.race([handler.handle(unit.event, context), run.aborted]));
    h.tookCompleted.observe(seconds());
    return { kind: 'done', result: outcome ?? { done: true } };
  } catch (thrown) {
    let error = coerceError(thrown);
    if (run.reason() === 'shutdown') {
      h.took('aborted').observe(seconds());
      unit.log().warn('aborted by shutdown: back to the queue, no attempt spent');
      return { kind: 'aborted' };
    }
    if (error instanceof RetryLaterError) {
      h.took('retry_later').observe(seconds());
      h.retryLater.inc();
      unit.log().info('handler asked to retry later', { delayMs: error.delayMs, reason: error.message });
      return { kind: 'retry-later', delayMs: error.delayMs, reason: error.message };
    }
    h.took('failed').observe(seconds());
    if (run.reason() === 'timeout' && !(error instanceof HandlerTimeoutError)) {
      error = new HandlerTimeoutError(handler.name, timeoutMs, { cause: error });
    }
    return { kind: 'failed', error, permanent: error instanceof PermanentError };
  } finally {
    run.end();
  }
}

/** A unit's try from its queue: claim, run, record, one round trip each. */
export async function runOnce(ctx: WorkerContext, h: PerHandler, unit: Unit): Promise<RunOutcome> {
  const key = unitKey(ctx, h, unit);
  if (!unit.replay) {
    const refused = notClaimed(ctx, h, unit, await ctx.once.claim(key, unit.unitId, claimTtl(ctx, h)));
    if (refused) return refused;
  }
  const outcome = await execute(ctx, h, unit);
  if (outcome.kind === 'done') {
    // Recorded before BullMQ hears of the success: dying between the two
    // means the unit runs again and finds the fact done.
    await ctx.once.complete(key, unit.unitId, ctx.onceWindowMs, h.handler.name);
    succeeded(ctx, h, unit, outcome.result);
  } else if (!unit.replay) {
    await ctx.once.release(key, unit.unitId);
  }
  return outcome;
}
