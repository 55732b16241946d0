import { DelayedError, UnrecoverableError, Worker, type Job, type Queue, type WorkerOptions } from 'bullmq';
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
import { businessKeyOf, decodeDelivery, occurredAtOf, type DecodedDelivery } from '@vouchflow/schema';
import { PermanentError, RetryLaterError, type AnyHandler, type HandlerContext, type HandlerOutcome } from '@vouchflow/handler-kit';
import {
  handlerJobId,
  handlerJobOptions,
  indexDelivery,
  onceKey,
  onceRecords,
  openHandlerQueue,
  openIntakeQueue,
  recordFirstFailure,
  registerHandlers,
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
  /** Decoded deliveries kept in memory for the handler jobs that follow them. @defaultValue 10,000 */
  deliveryCacheSize?: number;
  /** Also collect Node.js process metrics. @defaultValue false */
  processMetrics?: boolean;
}

export interface RunningWorker {
  readonly metrics: WorkerMetrics;
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
  const findDrift = deps.findDrift ?? schemaDrift;
  const prefix = bullPrefix(queuePrefix);
  const route = createRouter(handlers);
  const once = onceRecords(connection);
  const cache = new DeliveryCache(deps.deliveryCacheSize ?? 10_000);
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

  const deliveryRetentionMs = deps.deliveryRetentionMs ?? 7 * DAY;
  // Completed deliveries stay for the retention period whatever their producer
  // asked (BullMQ applies the completing job's own removeOnComplete), so replay finds them.
  const keepDeliveries = { age: Math.ceil(deliveryRetentionMs / SECOND) };

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
      cache.set(job.id!, decoded);
      if (!decoded.known) {
        metrics.deliveries.inc({ outcome: 'unknown_type' });
        metrics.unknownEvents.inc({ event_type: decoded.event.event.type });
        job.opts.removeOnComplete = keepDeliveries;
        await indexDelivery(connection, queuePrefix, job.data.eventId, job.id!, deliveryRetentionMs);
        log().info('unfamiliar event type: kept, no handler');
        return { handlers: [] };
      }
      const targets = route(decoded.event.event.type);
      try {
        // Deterministic job ids: fanning out the same delivery again (this job
        // retried after a crash) adds nothing twice.
        const options = (h: AnyHandler) => handlerJobOptions(handlerJobId(job.data.eventId, h.name), { attempts: maxAttempts, backoffMs });
        await Promise.all([
          ...targets.map((h) => {
            const { eventId, eventType, receivedAt } = job.data;
            // No body: the unit points at this job, which is kept for the delivery retention.
            const data: HandlerJobData = { eventId, eventType, receivedAt, handler: h.name, intakeJobId: job.id! };
            return handlerQueues.get(h.name)!.add('run', data, options(h));
          }),
          indexDelivery(connection, queuePrefix, job.data.eventId, job.id!, deliveryRetentionMs),
        ]);
      } catch (err) {
        // Redis trouble, not the delivery's fault: try again later, forever, without dead-lettering it.
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

  /** A unit's delivery, decoded: from the cache, else its own body, else its intake job's. */
  async function deliveryOf(data: HandlerJobData): Promise<{ body: string | undefined; decoded?: DecodedDelivery; error?: Error }> {
    const cached = data.intakeJobId === undefined ? undefined : cache.get(data.intakeJobId);
    if (cached) return { body: undefined, decoded: cached };
    let body = data.body;
    if (body === undefined && data.intakeJobId !== undefined) {
      const raw = await connection.hget(`${prefix}:${INTAKE_QUEUE}:${data.intakeJobId}`, 'data');
      body = raw === null ? undefined : (JSON.parse(raw) as IntakeJobData).body;
    }
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

  const runHandler = (handler: AnyHandler) => {
    const timeoutMs = handler.timeoutMs ?? DEFAULT_TIMEOUT;
    const queueName = handlerQueueName(handler.name);
    // A claim outlives the longest a run may take, so a crashed run's claim frees itself.
    const claimTtl = timeoutMs + lockDuration;
    // Metric children bound once: labelling on every job costs more than the job.
    const m = {
      completed: metrics.completed.labels({ handler: handler.name }),
      skipped: metrics.skipped.labels({ handler: handler.name, reason: 'already_done' }),
      retryLater: metrics.retryLater.labels({ handler: handler.name }),
      took: (outcome: string) => metrics.duration.labels({ handler: handler.name, outcome }),
    };
    const tookCompleted = m.took('completed');
    return async (job: Job<HandlerJobData>, token?: string): Promise<HandlerOutcome | { done: true }> => {
      const data = job.data;
      const attempt = job.attemptsMade + 1;
      let scoped: Logger | undefined;
      // Created on first use: most runs never log.
      const log = () =>
        (scoped ??= logger.child({ eventId: data.eventId, eventType: data.eventType, handler: handler.name, jobId: job.id, attempt }));
      const delivery = await deliveryOf(data);
      // A dead letter must stand alone: write the delivery into the unit before its last failure.
      const keepBody = async () => {
        if (data.body !== undefined) return;
        const body =
          delivery.body ??
          (await connection
            .hget(`${prefix}:${INTAKE_QUEUE}:${data.intakeJobId}`, 'data')
            .then((raw) => raw && (JSON.parse(raw) as IntakeJobData).body));
        if (body) await job.updateData({ ...data, body });
      };
      const { decoded } = delivery;
      if (!decoded || !decoded.known) {
        await keepBody();
        throw delivery.error ?? undecodable(`event type ${data.eventType} has no codec any more`);
      }
      const event = decoded.event;
      const businessKey = businessKeyOf(event);
      const key = onceKey(queuePrefix, handler.name, businessKey);
      if (!data.replay) {
        const claim = await once.claim(key, job.id!, claimTtl);
        if (claim.status === 'done') {
          m.skipped.inc();
          log().info('business fact already handled: skipped', { by: claim.by });
          return { skipped: `already done by ${claim.by}` };
        }
        if (claim.status === 'busy') {
          if (logger.isDebugEnabled()) log().debug('a twin is running: waiting for it', { by: claim.by });
          return postpone(job, token, Date.now() + Math.min(claim.retryInMs, TWIN_POLL));
        }
      }
      const run = startRun(handler.name, timeoutMs);
      const ctx: HandlerContext = {
        get logger() {
          return log();
        },
        signal: run.signal,
        attempt,
        idempotencyKey: `${handler.name}:${businessKey}`,
        occurredAt: occurredAtOf(event),
        errors: { PermanentError, RetryLaterError },
      };
      const started = performance.now();
      const seconds = () => (performance.now() - started) / SECOND;
      let outcome: HandlerOutcome | void;
      try {
        outcome = await Promise.race([handler.handle(event, ctx), run.aborted]);
      } catch (thrown) {
        run.end();
        let error = coerceError(thrown);
        if (!data.replay) await once.release(key, job.id!);
        if (run.reason() === 'shutdown') {
          m.took('aborted').observe(seconds());
          log().warn('aborted by shutdown: back to the queue, no attempt spent');
          return postpone(job, token, Date.now());
        }
        if (error instanceof RetryLaterError) {
          m.took('retry_later').observe(seconds());
          m.retryLater.inc();
          log().info('handler asked to retry later', { delayMs: error.delayMs, reason: error.message });
          return postpone(job, token, Date.now() + error.delayMs);
        }
        m.took('failed').observe(seconds());
        if (run.reason() === 'timeout' && !(error instanceof HandlerTimeoutError)) {
          error = new HandlerTimeoutError(handler.name, timeoutMs, { cause: error });
        }
        await recordFirstFailure(connection, queuePrefix, queueName, job.id!);
        if (error instanceof PermanentError || attempt >= (job.opts.attempts ?? 1)) await keepBody();
        if (error instanceof PermanentError) {
          const permanent = new UnrecoverableError(`${error.name}: ${error.message}`);
          permanent.stack = error.stack ?? permanent.stack;
          throw permanent;
        }
        throw error;
      }
      run.end();
      // Recorded before BullMQ hears of the success: dying between the two
      // means the job runs again and finds the fact done.
      await once.complete(key, job.id!, onceWindowMs);
      tookCompleted.observe(seconds());
      m.completed.inc();
      if (outcome) log().info('handler skipped its effect', { reason: outcome.skipped });
      return outcome ?? { done: true };
    };
  };

  const workers = handlers.map(
    (handler) =>
      new Worker<HandlerJobData>(handlerQueueName(handler.name), runHandler(handler), {
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
      metrics.failed.inc({ handler });
      const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
      const fields = { handler, eventId: job.data.eventId, jobId: job.id, attemptsMade: job.attemptsMade, error: err.message };
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
    registerHandlers(connection, queuePrefix, handlers),
  ]).then(() => undefined);
  // Surfaces through ready(); unobserved it must not crash the process.
  readyPromise.catch(() => {});

  let closing: Promise<void> | undefined;
  return {
    metrics,
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
