import { EventEmitter } from 'node:events';
import { DelayedError, UnrecoverableError, Worker, type Job, type JobsOptions, type Queue, type WorkerOptions } from 'bullmq';
import { isLeft } from 'fp-ts/lib/Either.js';
import {
  bullPrefix,
  coerceError,
  DAY,
  handlerQueueName,
  HOUR,
  INTAKE_QUEUE,
  MINUTE,
  SECOND,
  type Logger,
  type RedisClient,
} from '@vouchflow/core';
import { businessKeyOf, decodeDelivery, occurredAtOf, type DecodedDelivery, type WebhookEvent } from '@vouchflow/schema';
import { PermanentError, RetryLaterError, type AnyHandler, type HandlerContext, type HandlerOutcome } from '@vouchflow/handler-kit';
import {
  deliveryIndexKey,
  handlerJobId,
  handlerJobOptions,
  indexDelivery,
  onceKey,
  onceRecords,
  openHandlerQueue,
  openIntakeQueue,
  recordFirstFailure,
  registerHandlers,
  type ClaimResult,
  type HandlerJobData,
  type IntakeJobData,
} from '@vouchflow/pipeline';
import { createRouter } from './routing.js';
import { backoffDelay, backoffStrategy } from './backoff.js';
import { createWorkerMetrics, INTAKE_LABEL, type WorkerMetrics } from './metrics.js';
import { schemaDrift, type DriftFinder } from './drift.js';
import { HandlerTimeoutError } from './errors/handler-timeout-error.js';
import { ShutdownAbortError } from './errors/shutdown-abort-error.js';
import { DeliveryCache, deepFreeze } from './delivery-cache.js';
import { Semaphore } from './semaphore.js';

export interface WorkerDeps {
  /** Shared by every queue and worker; BullMQ opens one blocking connection per worker beside it. Closed by the caller. */
  connection: RedisClient;
  queuePrefix: string;
  handlers: readonly AnyHandler[];
  logger: Logger;
  /** Tries per (event, handler). */
  maxAttempts: number;
  /** First retry delay; doubles each try. */
  backoffMs: number;
  /** Longest retry delay. @defaultValue 15 minutes */
  maxBackoffMs?: number;
  /** Deliveries decoded and fanned out at once per process. @defaultValue 50 */
  intakeConcurrency?: number;
  /** How long completed deliveries stay in the intake queue, for replay. @defaultValue 7 days */
  deliveryRetentionMs?: number;
  /** How long a completed (handler, business fact) is remembered; at least the intake dedup window. @defaultValue 72 hours */
  onceWindowMs?: number;
  /** How long completed handler jobs stay visible (at most 10,000 per handler). @defaultValue 1 day */
  handlerJobRetentionMs?: number;
  /** BullMQ lock of a running job, renewed every half of it. @defaultValue 30 seconds */
  lockDurationMs?: number;
  /** How often each worker looks for jobs whose lock expired (their process died). @defaultValue 15 seconds */
  stalledIntervalMs?: number;
  /** Stalls (process deaths) a job survives before it is dead-lettered. @defaultValue 5 */
  maxStalledCount?: number;
  /** At `close()`, how long running handlers may finish before their signal aborts. @defaultValue 20 seconds */
  shutdownGraceMs?: number;
  /** Schema-drift finder. @defaultValue packages/schema's `driftOf` */
  findDrift?: DriftFinder;
  /**
   * Run each unit's first try inline, in the intake job, when its handler has
   * a free permit and no rate limit; only units that do not succeed at once
   * become jobs of their handler's queue. Much cheaper (see bench/worker.ts),
   * but a unit that succeeds at once leaves no handler job behind, only its
   * once-only record. The worker app turns it on (INLINE_FIRST_TRY).
   * @defaultValue false: every unit is a job of its handler's queue
   */
  inlineFirstTry?: boolean;
  /** Decoded deliveries kept in memory for the handler jobs that follow them. @defaultValue 10,000 */
  deliveryCacheSize?: number;
  /** Also collect Node.js process metrics. @defaultValue false */
  processMetrics?: boolean;
}

/** A unit of work that ended well (ran, or was skipped as already done), inline or from its queue. */
export interface SettledUnit {
  handler: string;
  eventId: string;
  /** The handler job id the unit has (or would have). */
  unitId: string;
  result: HandlerOutcome | { done: true };
}

export interface RunningWorker {
  readonly metrics: WorkerMetrics;
  /** In-process notifications: `settled` with a {@link SettledUnit}. For tests and embedding; BullMQ's own events cover queued units only. */
  readonly events: EventEmitter<{ settled: [SettledUnit] }>;
  /** Resolves when every BullMQ worker is connected and the handlers are registered in Redis. */
  ready(): Promise<void>;
  /**
   * Stops taking jobs, lets running ones finish for the grace period, then
   * aborts the rest (they go back to their queue, no attempt spent) and closes
   * queues. Redis is the caller's to close. Safe to call twice.
   */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT = 30 * SECOND;
const DEFAULT_CONCURRENCY = 10;
// While a twin holds a business fact's claim, look again this often.
const TWIN_POLL = SECOND;

/** A delivery that will never decode: dead-lettered at once, never retried. */
function undecodable(reason: string): UnrecoverableError {
  return new UnrecoverableError(reason);
}

function decodeBody(body: string): { parsed: unknown; decoded: DecodedDelivery } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw undecodable(`Delivery does not decode: body is not JSON: ${coerceError(err).message}`);
  }
  const decoded = decodeDelivery(parsed);
  if (isLeft(decoded)) throw undecodable(decoded.left.message);
  return { parsed, decoded: deepFreeze(decoded.right) };
}

/** Puts a running job back to be tried at `at` without spending an attempt (BullMQ: moveToDelayed, then DelayedError). */
async function postpone(job: Job, token: string | undefined, at: number): Promise<never> {
  await job.moveToDelayed(at, token);
  throw new DelayedError();
}

/** Starts the intake worker and one worker per handler. */
export function createWorker(deps: WorkerDeps): RunningWorker {
  const { connection, queuePrefix, handlers, logger, maxAttempts, backoffMs } = deps;
  const maxBackoffMs = deps.maxBackoffMs ?? 15 * MINUTE;
  const onceWindowMs = deps.onceWindowMs ?? 72 * HOUR;
  const lockDuration = deps.lockDurationMs ?? 30 * SECOND;
  const graceMs = deps.shutdownGraceMs ?? 20 * SECOND;
  const inlineFirstTry = deps.inlineFirstTry ?? false;
  const deliveryRetentionMs = deps.deliveryRetentionMs ?? 7 * DAY;
  // Completed deliveries stay for the retention period whatever their producer
  // asked (BullMQ applies the completing job's own removeOnComplete), so replay finds them.
  const keepDeliveries = { age: Math.ceil(deliveryRetentionMs / SECOND) };
  const findDrift = deps.findDrift ?? schemaDrift;
  const prefix = bullPrefix(queuePrefix);
  const route = createRouter(handlers);
  const once = onceRecords(connection);
  const cache = new DeliveryCache(deps.deliveryCacheSize ?? 10_000);
  const events = new EventEmitter<{ settled: [SettledUnit] }>();
  // Runs in progress, so shutdown can abort the ones outliving the grace period.
  const running = new Set<(why: 'shutdown') => void>();
  // Set when the grace period is over: runs still going are aborted, and so is any that starts.
  let graceOver = false;

  /**
   * A handler run's abort machinery: one controller (cheaper than
   * AbortSignal.any) aborted at the timeout or at shutdown, and a promise that
   * rejects then, so the worker moves on even if the handler ignores its signal.
   */
  function startRun(handler: string, timeoutMs: number) {
    const controller = new AbortController();
    let why: 'timeout' | 'shutdown' | undefined;
    let fail!: (err: Error) => void;
    const aborted = new Promise<never>((_, reject) => (fail = reject));
    aborted.catch(() => {}); // observed through Promise.race; never unhandled
    const abort = (reason: 'timeout' | 'shutdown') => {
      if (why) return;
      why = reason;
      const err = reason === 'timeout' ? new HandlerTimeoutError(handler, timeoutMs) : new ShutdownAbortError(graceMs);
      controller.abort(err);
      fail(err);
    };
    const timer = setTimeout(() => abort('timeout'), timeoutMs);
    running.add(abort);
    if (graceOver) abort('shutdown');
    return {
      signal: controller.signal,
      aborted,
      reason: () => why,
      end() {
        clearTimeout(timer);
        running.delete(abort);
      },
    };
  }

  const intakeQueue = openIntakeQueue({ connection, queuePrefix });
  const handlerQueues = new Map<string, Queue<HandlerJobData>>(
    handlers.map((h) => [h.name, openHandlerQueue(h.name, { connection, queuePrefix })]),
  );
  const metrics = createWorkerMetrics(() => [intakeQueue as unknown as Queue, ...handlerQueues.values()], {
    defaultMetrics: deps.processMetrics ?? false,
  });

  const common: WorkerOptions = {
    connection,
    prefix,
    // Why these: a job's lock is renewed every lockDuration/2 while its process
    // lives, so only a dead (or frozen for lockDuration) process loses it. Each
    // worker checks for lost locks every stalledInterval; a killed process's
    // jobs are back in `wait` within about lockDuration + 2 × stalledInterval.
    // A job survives maxStalledCount process deaths before it is dead-lettered
    // ("job stalled more than allowable limit"), so crashes and deploys do not
    // lose work but a payload that kills its process every time ends up visible.
    lockDuration,
    stalledInterval: deps.stalledIntervalMs ?? 15 * SECOND,
    maxStalledCount: deps.maxStalledCount ?? 5,
    // removeOnFail stays unset: dead letters are the failed sets, kept until an operator acts.
    settings: { backoffStrategy: backoffStrategy(backoffMs, maxBackoffMs) },
  };

  /** A unit's delivery, decoded: from the cache, else its own body, else its intake job's. */
  async function deliveryOf(data: HandlerJobData): Promise<{ body: string | undefined; decoded?: DecodedDelivery; error?: Error }> {
    const cached = data.intakeJobId === undefined ? undefined : cache.get(data.intakeJobId);
    if (cached) return { body: undefined, decoded: cached };
    let body = data.body;
    if (body === undefined && data.intakeJobId !== undefined) body = await intakeBody(data.intakeJobId);
    if (body === undefined) {
      return { body, error: undecodable(`delivery no longer retained: intake job ${data.intakeJobId ?? '(none)'} is gone`) };
    }
    try {
      const { decoded } = decodeBody(body);
      if (data.intakeJobId !== undefined) cache.set(data.intakeJobId, decoded);
      return { body, decoded };
    } catch (err) {
      return { body, error: coerceError(err) };
    }
  }

  async function intakeBody(intakeJobId: string): Promise<string | undefined> {
    const raw = await connection.hget(`${prefix}:${INTAKE_QUEUE}:${intakeJobId}`, 'data');
    return raw === null ? undefined : (JSON.parse(raw) as IntakeJobData).body;
  }

  /** Per handler: metric children bound once (labelling every time costs more than a no-op run), and its permits. */
  const perHandler = new Map(
    handlers.map((h) => [
      h.name,
      {
        handler: h,
        timeoutMs: h.timeoutMs ?? DEFAULT_TIMEOUT,
        // Shared by inline runs and queue jobs, so the declared concurrency holds per process.
        permits: new Semaphore(h.concurrency ?? DEFAULT_CONCURRENCY),
        completed: metrics.completed.labels({ handler: h.name }),
        skipped: metrics.skipped.labels({ handler: h.name, reason: 'already_done' }),
        failed: metrics.failed.labels({ handler: h.name }),
        retried: metrics.retried.labels({ handler: h.name }),
        retryLater: metrics.retryLater.labels({ handler: h.name }),
        tookCompleted: metrics.duration.labels({ handler: h.name, outcome: 'completed' }),
        took: (outcome: string) => metrics.duration.labels({ handler: h.name, outcome }),
      },
    ]),
  );
  type PerHandler = NonNullable<ReturnType<typeof perHandler.get>>;

  type RunOutcome =
    | { kind: 'done'; result: HandlerOutcome | { done: true } }
    | { kind: 'busy'; retryInMs: number }
    | { kind: 'retry-later'; delayMs: number; reason: string }
    | { kind: 'aborted' }
    | { kind: 'failed'; error: Error; permanent: boolean };

  interface Unit {
    event: WebhookEvent;
    /** Owns the claim: the handler job id, the same for the inline try and the job that may follow it. */
    unitId: string;
    attempt: number;
    replay: boolean;
    log: () => Logger;
  }

  const claimTtl = (h: PerHandler) => h.timeoutMs + lockDuration; // outlives any run, so a crashed run's claim frees itself
  const keyOf = (h: PerHandler, unit: Unit) => onceKey(queuePrefix, h.handler.name, businessKeyOf(unit.event));

  /** What a claim that was not granted means for the unit. */
  function notClaimed(h: PerHandler, unit: Unit, claim: ClaimResult): RunOutcome | undefined {
    if (claim.status === 'done') {
      h.skipped.inc();
      unit.log().info('business fact already handled: skipped', { by: claim.by });
      const result = { skipped: `already done by ${claim.by}` };
      events.emit('settled', { handler: h.handler.name, eventId: unit.event.event.id, unitId: unit.unitId, result });
      return { kind: 'done', result };
    }
    if (claim.status === 'busy') return { kind: 'busy', retryInMs: Math.min(claim.retryInMs, TWIN_POLL) };
    return undefined;
  }

  /** Counts and announces a unit whose success is recorded. */
  function succeeded(h: PerHandler, unit: Unit, result: HandlerOutcome | { done: true }): void {
    h.completed.inc();
    if ('skipped' in result) unit.log().info('handler skipped its effect', { reason: result.skipped });
    events.emit('settled', { handler: h.handler.name, eventId: unit.event.event.id, unitId: unit.unitId, result });
  }

  /** One try of a claimed unit: the handler under its timeout, without the once-only bookkeeping. */
  async function execute(h: PerHandler, unit: Unit): Promise<RunOutcome> {
    const { handler, timeoutMs } = h;
    const run = startRun(handler.name, timeoutMs);
    const ctx: HandlerContext = {
      get logger() {
        return unit.log();
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
      const outcome = await Promise.race([handler.handle(unit.event, ctx), run.aborted]);
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
  async function runOnce(h: PerHandler, unit: Unit): Promise<RunOutcome> {
    const key = keyOf(h, unit);
    if (!unit.replay) {
      const refused = notClaimed(h, unit, await once.claim(key, unit.unitId, claimTtl(h)));
      if (refused) return refused;
    }
    const outcome = await execute(h, unit);
    if (outcome.kind === 'done') {
      // Recorded before BullMQ hears of the success: dying between the two
      // means the unit runs again and finds the fact done.
      await once.complete(key, unit.unitId, onceWindowMs);
      succeeded(h, unit, outcome.result);
    } else if (!unit.replay) {
      await once.release(key, unit.unitId);
    }
    return outcome;
  }

  const permanentError = (reason: string, stack?: string): UnrecoverableError => {
    const err = new UnrecoverableError(reason);
    if (stack) err.stack = stack;
    return err;
  };

  const runHandler = (h: PerHandler) => {
    const queueName = handlerQueueName(h.handler.name);
    return async (job: Job<HandlerJobData>, token?: string): Promise<HandlerOutcome | { done: true }> => {
      const data = job.data;
      // Failed for good inline, before the job existed: it only had to reach the failed set.
      if (data.failed) throw permanentError(data.failed.reason, data.failed.stack);
      const offset = data.attemptOffset ?? 0;
      const attempt = job.attemptsMade + 1 + offset;
      const isLast = attempt >= (job.opts.attempts ?? 1) + offset;
      let scoped: Logger | undefined;
      // Created on first use: most runs never log.
      const log = () =>
        (scoped ??= logger.child({ eventId: data.eventId, eventType: data.eventType, handler: h.handler.name, jobId: job.id, attempt }));
      const delivery = await deliveryOf(data);
      // A dead letter must stand alone: write the delivery into the unit before its last failure.
      const keepBody = async () => {
        if (data.body !== undefined || data.intakeJobId === undefined) return;
        const body = delivery.body ?? (await intakeBody(data.intakeJobId));
        if (body !== undefined) await job.updateData({ ...data, body });
      };
      const { decoded } = delivery;
      if (!decoded || !decoded.known) {
        await keepBody();
        throw delivery.error ?? undecodable(`event type ${data.eventType} has no codec any more`);
      }
      await h.permits.acquire();
      let outcome: RunOutcome;
      try {
        outcome = await runOnce(h, { event: decoded.event, unitId: job.id!, attempt, replay: data.replay === true, log });
      } finally {
        h.permits.release();
      }
      switch (outcome.kind) {
        case 'done':
          return outcome.result;
        case 'busy':
          if (logger.isDebugEnabled()) log().debug('a twin is running: waiting for it');
          return postpone(job, token, Date.now() + outcome.retryInMs);
        case 'retry-later':
          return postpone(job, token, Date.now() + outcome.delayMs);
        case 'aborted':
          return postpone(job, token, Date.now());
        case 'failed': {
          await recordFirstFailure(connection, queuePrefix, queueName, job.id!);
          if (outcome.permanent || isLast) await keepBody();
          const { error } = outcome;
          if (outcome.permanent) throw permanentError(`${error.name}: ${error.message}`, error.stack);
          throw error;
        }
      }
    };
  };

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
    intakeJob: Job<IntakeJobData>,
    event: WebhookEvent,
    targets: readonly AnyHandler[],
  ): Promise<Array<{ handler: string; data: HandlerJobData; opts: JobsOptions }>> {
    const { eventId, eventType, receivedAt } = intakeJob.data;
    const toAdd: Array<{ handler: string; data: HandlerJobData; opts: JobsOptions }> = [];
    const inline: Array<{ h: PerHandler; unit: Unit; key: string; data: HandlerJobData; opts: JobsOptions }> = [];
    for (const target of targets) {
      const h = perHandler.get(target.name)!;
      const unitId = handlerJobId(eventId, target.name);
      const data: HandlerJobData = { eventId, eventType, receivedAt, handler: target.name, intakeJobId: intakeJob.id! };
      const opts = handlerJobOptions(unitId, { attempts: maxAttempts, backoffMs });
      if (!inlineFirstTry || h.handler.rateLimit || !h.permits.tryAcquire()) {
        toAdd.push({ handler: target.name, data, opts });
        continue;
      }
      const log = () => logger.child({ eventId, eventType, handler: target.name, jobId: unitId, attempt: 1 });
      const unit: Unit = { event, unitId, attempt: 1, replay: false, log };
      inline.push({ h, unit, key: keyOf(h, unit), data, opts });
    }
    const index = { key: deliveryIndexKey(queuePrefix, eventId), value: intakeJob.id!, ttlMs: deliveryRetentionMs };
    let claims: ClaimResult[];
    try {
      claims = await once.claimMany(
        inline.map(({ h, unit, key }) => ({ key, jobId: unit.unitId, ttlMs: claimTtl(h) })),
        index,
      );
    } catch (err) {
      for (const { h } of inline) h.permits.release();
      throw err;
    }
    const outcomes = await Promise.all(
      inline.map(async ({ h, unit }, i) => {
        try {
          return notClaimed(h, unit, claims[i]!) ?? (await execute(h, unit));
        } finally {
          h.permits.release();
        }
      }),
    );
    // Successes recorded, failed claims given back, in one round trip.
    await once.finishMany(
      inline.flatMap(({ unit, key }, i) => {
        if (claims[i]!.status !== 'claimed') return [];
        return [{ key, jobId: unit.unitId, op: outcomes[i]!.kind === 'done' ? ('done' as const) : ('release' as const) }];
      }),
      onceWindowMs,
    );
    for (const [i, { h, unit, data, opts }] of inline.entries()) {
      const outcome = outcomes[i]!;
      const add = (d: HandlerJobData, o: JobsOptions) => toAdd.push({ handler: h.handler.name, data: d, opts: o });
      switch (outcome.kind) {
        case 'done':
          if (claims[i]!.status === 'claimed') succeeded(h, unit, outcome.result);
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
          add({ ...data, attemptOffset: 1 }, { ...opts, attempts: maxAttempts - 1, delay: backoffDelay(1, backoffMs, maxBackoffMs) });
          break;
        }
      }
    }
    return toAdd;
  }

  const intake = new Worker<IntakeJobData>(
    INTAKE_QUEUE,
    async (job, token) => {
      const log = () => logger.child({ eventId: job.data.eventId, eventType: job.data.eventType, jobId: job.id });
      let decoded: DecodedDelivery;
      let parsed: unknown;
      try {
        ({ decoded, parsed } = decodeBody(job.data.body));
      } catch (err) {
        metrics.deliveries.inc({ outcome: 'undecodable' });
        await recordFirstFailure(connection, queuePrefix, INTAKE_QUEUE, job.id!);
        log().warn('delivery does not decode: dead-lettered', { reason: coerceError(err).message });
        throw err;
      }
      for (const path of findDrift(parsed)) metrics.drift(path);
      if (!decoded.known) {
        metrics.deliveries.inc({ outcome: 'unknown_type' });
        metrics.unknownEvents.inc({ event_type: decoded.event.event.type });
        job.opts.removeOnComplete = keepDeliveries;
        await indexDelivery(connection, queuePrefix, job.data.eventId, job.id!, deliveryRetentionMs);
        log().info('unfamiliar event type: kept, no handler');
        return { handlers: [] };
      }
      cache.set(job.id!, decoded);
      const event = decoded.event;
      const targets = route(event.event.type);
      try {
        const jobs = await firstTries(job, event, targets);
        // Deterministic job ids: this intake job run again after a crash adds nothing twice.
        await Promise.all(jobs.map((j) => handlerQueues.get(j.handler)!.add('run', j.data, j.opts)));
      } catch (err) {
        // Redis trouble, not the delivery's fault: try again later, forever, without dead-lettering it.
        // Units that already succeeded are skipped then (once-only records).
        const delay = backoffDelay(job.attemptsStarted, backoffMs, maxBackoffMs);
        log().warn('fan-out failed: retrying later', { error: coerceError(err).message, delayMs: delay });
        return postpone(job, token, Date.now() + delay);
      }
      job.opts.removeOnComplete = keepDeliveries;
      metrics.deliveries.inc({ outcome: 'routed' });
      if (logger.isDebugEnabled()) log().debug('fanned out', { handlers: targets.map((h) => h.name) });
      return { handlers: targets.map((h) => h.name) };
    },
    {
      ...common,
      concurrency: deps.intakeConcurrency ?? 50,
      removeOnComplete: keepDeliveries,
    },
  );

  const workers = handlers.map(
    (handler) =>
      new Worker<HandlerJobData>(handlerQueueName(handler.name), runHandler(perHandler.get(handler.name)!), {
        ...common,
        concurrency: handler.concurrency ?? DEFAULT_CONCURRENCY,
        limiter: handler.rateLimit ? { max: handler.rateLimit.max, duration: handler.rateLimit.durationMs } : undefined,
        removeOnComplete: { age: Math.ceil((deps.handlerJobRetentionMs ?? DAY) / SECOND), count: 10_000 },
      }),
  );

  intake.on('failed', (job, err) => {
    if (!job) return;
    metrics.deadLettered.inc({ handler: INTAKE_LABEL });
    logger.warn('delivery dead-lettered', { eventId: job.data.eventId, jobId: job.id, reason: err.message });
  });
  workers.forEach((w, i) => {
    const handler = handlers[i]!.name;
    w.on('failed', (job, err) => {
      if (!job) return;
      // A unit that failed for good inline was counted then; here it only reaches the dead letters.
      if (!job.data.failed) metrics.failed.inc({ handler });
      const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
      const attemptsMade = job.attemptsMade + (job.data.attemptOffset ?? 0);
      const fields = { handler, eventId: job.data.eventId, jobId: job.id, attemptsMade, error: err.message };
      if (final) {
        metrics.deadLettered.inc({ handler });
        logger.warn('unit of work dead-lettered', fields);
      } else {
        metrics.retried.inc({ handler });
        logger.info('try failed: will retry', { ...fields, delayMs: job.delay });
      }
    });
  });
  for (const w of [intake, ...workers]) {
    w.on('error', (err) => logger.error('worker error', { queue: w.name, error: err.message }));
    w.on('stalled', (jobId) => logger.warn('job stalled (its worker died?): back to wait', { queue: w.name, jobId }));
  }

  const readyPromise = Promise.all([
    ...[intake, ...workers].map((w) => w.waitUntilReady()),
    // With the retry settings, so an operator's replay retries as this deployment does.
    registerHandlers(connection, queuePrefix, handlers, { attempts: maxAttempts, backoffMs, maxBackoffMs }),
  ]).then(() => undefined);
  // Surfaces through ready(); unobserved it must not crash the process.
  readyPromise.catch(() => {});

  let closing: Promise<void> | undefined;
  return {
    metrics,
    events,
    ready: () => readyPromise,
    close() {
      closing ??= (async () => {
        const abortTimer = setTimeout(() => {
          graceOver = true;
          for (const abort of running) abort('shutdown');
        }, graceMs);
        try {
          await Promise.all([intake, ...workers].map((w) => w.close()));
        } finally {
          clearTimeout(abortTimer);
        }
        await Promise.all([intakeQueue, ...handlerQueues.values()].map((q) => q.close()));
      })();
      return closing;
    },
  };
}
