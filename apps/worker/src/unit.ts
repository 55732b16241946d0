/*
 * The life of one unit of work (one handler's effect for one delivery's
 * business fact), the same whether it runs inline in its intake job or from
 * its handler's queue:
 *
 *   claim → permit → run → settle → record
 *
 * - claim: the unit's once-only record, claimed for this run (see the
 *   pipeline's units.ts). The claim is renewed while the run lives and is
 *   ended by that run alone, when its handler settles: a handler that
 *   overruns its timeout keeps it, so its retry finds the claim taken and
 *   waits instead of running the effect a second time beside it.
 * - permit: one of the handler's `concurrency` permits in this process, taken
 *   once the claim is held and given back the moment the handler's promise
 *   settles: it bounds the handler's runs at once, not the Redis round trips
 *   around them (held across those, ten permits capped a handler at ten
 *   units per two round trips). A handler that ignores its signal past its
 *   timeout keeps its permit until it settles.
 * - record: the moment the handler's promise is fulfilled, `done` is written
 *   (batched with every other unit that settled in the same turn), before the
 *   unit's outcome reaches BullMQ or its siblings finish. The one gap left is
 *   a process that dies between the effect and that record.
 * - in doubt: a claim taken over from a run whose lease ran out (it started
 *   and never ended) says so. Such a unit asks its handler's `wasDone` before
 *   running again, inside the run (same permit, claim, timeout and signal):
 *   true records it done without running, false runs it. A handler without
 *   `wasDone` runs again, told by `ctx.inDoubt`. A run that ends without a
 *   record and without `wasDone` having said false (it threw, a timeout, a
 *   shutdown, or no `wasDone` and the handler failed) gives the claim back
 *   still in doubt, so the retry asks again rather than running blind.
 */
import { coerceError, SECOND, type Logger } from '@vouchflow/core';
import { businessKeyOf, occurredAtOf, type HandledEvent } from '@vouchflow/schema';
import { narrowLogger, PermanentError, RetryLaterError, type HandlerContext, type HandlerOutcome } from '@vouchflow/handler-kit';
import { onceKey, type Claim, type ClaimRefusal, type UnitInDoubt } from '@vouchflow/pipeline';
import { retryLaterDelay } from './retry-later.js';
import { HandlerTimeoutError } from './errors/handler-timeout-error.js';
import type { PerHandler, WorkerContext } from './worker-context.js';
import { traceAttempt } from './tracing.js';

// While a twin holds a business fact's claim, look again this often.
const TWIN_POLL = SECOND;
// After its signal aborted, how long a handler may take to settle before it counts as ignoring the signal.
const ABORT_GRACE = SECOND;

export type UnitOutcome =
  /** The effect happened and is recorded, or it was already done (skipped). */
  | { kind: 'done'; result: HandlerOutcome | { done: true } }
  /** Another run holds the claim: try again in `retryInMs`, without spending a try. */
  | { kind: 'busy'; retryInMs: number }
  | { kind: 'retry-later'; delayMs: number; reason: string }
  /** Aborted by shutdown: back to the queue, no try spent. */
  | { kind: 'aborted' }
  | { kind: 'failed'; error: Error; permanent: boolean }
  /** Its handler's circuit breaker is open (circuit.ts): try again in `retryInMs`, without spending a try. */
  | { kind: 'held'; retryInMs: number; reason: 'circuit open' };

export interface Unit {
  event: HandledEvent;
  /** Owns the claim: the handler job id, the same for the inline try and the job that may follow it. */
  unitId: string;
  /** This try's number, counting tries made inline before the unit's job existed. */
  attempt: number;
  /** An operator's replay: runs without a claim, even if the fact is done. */
  replay: boolean;
  log: () => Logger;
}

type Settled = { ok: true; value: HandlerOutcome | void } | { ok: false; error: unknown };

const settle = (p: Promise<HandlerOutcome | void>): Promise<Settled> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

function announce(ctx: WorkerContext, h: PerHandler, unit: Unit, result: HandlerOutcome | { done: true }): void {
  ctx.events.emit('settled', { handler: h.handler.name, eventId: unit.event.event.id, unitId: unit.unitId, result });
}

/** The line logged for every unit in doubt, with its resolution: one message to search for. */
const IN_DOUBT = 'unit in doubt: an earlier run of it started and never ended';

/**
 * Asks the handler of a unit in doubt whether the effect happened; resolves
 * true when it did. Without `wasDone`, false: the unit runs again. Counts and
 * logs each resolution; `answered` hears the answer before the run goes on.
 */
async function wasDone(
  h: PerHandler,
  unit: Unit,
  context: HandlerContext,
  doubt: UnitInDoubt,
  answered: (answer: boolean) => void,
): Promise<boolean> {
  const { handler } = h;
  const earlier = { by: doubt.owner, byAttempt: doubt.attempt };
  if (!handler.wasDone) {
    h.inDoubt('ran_unchecked').inc();
    unit.log().warn(IN_DOUBT, { ...earlier, resolution: 'ran_unchecked', note: 'no wasDone: run again, its effect may repeat' });
    return false;
  }
  let done: boolean;
  try {
    done = (await handler.wasDone(unit.event, context)) === true;
  } catch (err) {
    h.inDoubt('check_failed').inc();
    unit.log().warn(IN_DOUBT, {
      ...earlier,
      resolution: 'check_failed',
      note: 'wasDone failed: not run, a failed try; still in doubt for its retry',
      error: coerceError(err).message,
    });
    throw err;
  }
  // An answer after the signal aborted (timeout, shutdown) does not let the effect start.
  if (!done) context.signal.throwIfAborted();
  answered(done);
  const resolution = done ? 'confirmed_done' : 'ran_again';
  h.inDoubt(resolution).inc();
  unit.log().info(IN_DOUBT, {
    ...earlier,
    resolution,
    note: done ? 'wasDone confirmed its effect: recorded done without running' : 'wasDone found no effect: run again',
  });
  return done;
}

/** Runs one try of a unit through its whole life. Rejects only when Redis fails it (the caller retries the unit later). */
export async function runUnit(ctx: WorkerContext, h: PerHandler, unit: Unit): Promise<UnitOutcome> {
  const { handler, timeoutMs } = h;
  const key = onceKey(ctx.queuePrefix, businessKeyOf(unit.event));
  let claim: Claim | undefined;
  if (!unit.replay) {
    const claimed: Claim | ClaimRefusal = await ctx.records.claim({
      key,
      owner: unit.unitId,
      handler: handler.name,
      attempt: unit.attempt,
    });
    if ('status' in claimed) {
      const refusal = claimed;
      if (refusal.status === 'busy') return { kind: 'busy', retryInMs: Math.min(refusal.retryInMs, TWIN_POLL) };
      h.skipped.inc();
      unit.log().info('business fact already handled: skipped', { by: refusal.by });
      const result = { skipped: `already done by ${refusal.by}` };
      announce(ctx, h, unit, result);
      return { kind: 'done', result };
    }
    claim = claimed;
  }
  // After the claim: a permit bounds the handler's runs at once, not the round trips around them.
  await h.permits.acquire();

  const run = ctx.runs.start(handler.name, timeoutMs);
  const doubt = claim?.inDoubt;
  const context: HandlerContext = {
    get logger() {
      return narrowLogger(unit.log());
    },
    get signal() {
      return run.signal;
    },
    attempt: unit.attempt,
    idempotencyKey: `${handler.name}:${businessKeyOf(unit.event)}`,
    inDoubt: doubt !== undefined,
    occurredAt: occurredAtOf(unit.event),
    errors: { PermanentError, RetryLaterError },
  };
  const started = performance.now();
  const seconds = () => (performance.now() - started) / SECOND;
  // wasDone's answer for a unit in doubt; undefined while none came (not asked, or it threw or was aborted).
  let answer: boolean | undefined;
  // Inside an async function, so a handler that throws synchronously settles like one that rejects.
  const running = settle(
    traceAttempt(handler.name, unit, async () =>
      doubt && (await wasDone(h, unit, context, doubt, (a) => (answer = a))) ? undefined : handler.handle(unit.event, context),
    ),
  );

  // Set when the handler ignored its aborted signal past the grace: it is then taken at its word when it settles.
  let overran = false;
  // The run's end, whenever the handler settles: the permit back, then the claim recorded done or given back.
  // A handler that settles soon after its signal aborted honoured it: it was cancelled, whatever it returns.
  const ended = running.then(async (s): Promise<boolean> => {
    run.end();
    h.permits.release();
    const settledAt = performance.now();
    if (!s.ok || (run.reason() !== undefined && !overran)) {
      // A unit in doubt stays so unless wasDone said its effect had not happened.
      await claim?.release({ inDoubt: answer !== false });
      return false;
    }
    if (claim) {
      if ((await claim.done(unit.attempt)) && answer !== true) {
        const window = (performance.now() - settledAt) / SECOND;
        ctx.metrics.recordWindow.observe(window);
        if (ctx.logger.isDebugEnabled()) unit.log().debug('unit recorded done', { recordMs: window * SECOND });
      }
    } else {
      await ctx.records.recordReplay({ key, owner: unit.unitId, handler: handler.name, attempts: unit.attempt });
    }
    return true;
  });

  const first = await Promise.race([running, run.aborted.catch(() => undefined)]);
  let settled: Settled | undefined = first;
  if (!settled) {
    // Aborted (timeout or shutdown): a handler that honours its signal settles now.
    settled = await Promise.race([
      running,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), Math.min(ABORT_GRACE, timeoutMs)).unref()),
    ]);
    if (!settled) {
      overran = true;
      h.overruns.inc();
      unit
        .log()
        .warn('handler ignored its abort signal: its permit and claim stay taken until it settles, and it is not run again before', {
          timeoutMs,
          reason: run.reason(),
        });
      void ended.then(
        (fulfilled) => unit.log().info('overrunning handler settled', { fulfilled, seconds: seconds() }),
        (err: unknown) => unit.log().warn('overrunning handler settled; its record failed', { error: coerceError(err).message }),
      );
      if (run.reason() === 'shutdown') {
        h.took('aborted').observe(seconds());
        return { kind: 'aborted' };
      }
      h.took('failed').observe(seconds());
      return { kind: 'failed', error: new HandlerTimeoutError(handler.name, timeoutMs), permanent: false };
    }
  }

  // Settled: the record (or release) goes out with this turn's batch; wait for it before BullMQ hears.
  await ended;
  if (settled.ok && run.reason() === undefined) {
    if (answer === true && doubt) {
      h.confirmedDone.inc();
      const result = { skipped: `already done by ${doubt.owner} (try ${doubt.attempt}), as wasDone confirmed` };
      announce(ctx, h, unit, result);
      return { kind: 'done', result };
    }
    h.tookCompleted.observe(seconds());
    if (claim?.lost) unit.log().warn('claim lost while the handler ran: its effect happened, but another run holds the record');
    const result = settled.value ?? { done: true as const };
    h.completed.inc();
    if ('skipped' in result) unit.log().info('handler skipped its effect', { reason: result.skipped });
    announce(ctx, h, unit, result);
    return { kind: 'done', result };
  }
  let error = settled.ok ? new HandlerTimeoutError(handler.name, timeoutMs) : coerceError(settled.error);
  if (run.reason() === 'shutdown') {
    h.took('aborted').observe(seconds());
    unit.log().warn('aborted by shutdown: back to the queue, no attempt spent');
    return { kind: 'aborted' };
  }
  if (error instanceof RetryLaterError) {
    h.took('retry_later').observe(seconds());
    h.retryLater.inc();
    unit.log().info('handler asked to retry later', { delayMs: error.delayMs, reason: error.message });
    return { kind: 'retry-later', delayMs: retryLaterDelay(error.delayMs, ctx.retryLater), reason: error.message };
  }
  h.took('failed').observe(seconds());
  if (run.reason() === 'timeout' && !(error instanceof HandlerTimeoutError)) {
    error = new HandlerTimeoutError(handler.name, timeoutMs, { cause: error });
  }
  return { kind: 'failed', error, permanent: error instanceof PermanentError };
}
