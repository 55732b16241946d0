import { EventEmitter } from 'node:events';
import { Worker, type Queue, type Telemetry, type WorkerOptions } from 'bullmq';
import {
  bullPrefix,
  coerceError,
  DAY,
  handlerQueueName,
  HOUR,
  INTAKE_QUEUE,
  MINUTE,
  recordMemorySample,
  redisMemoryReport,
  SECOND,
  type Logger,
  type RedisClient,
} from '@vouchflow/core';
import type { ArchiveJournal } from '@vouchflow/archive';
import type { AnyHandler } from '@vouchflow/handler-kit';
import {
  unitRecords,
  openHandlerQueue,
  openIntakeQueue,
  registerHandlers,
  type HandlerJobData,
  type IntakeJobData,
} from '@vouchflow/pipeline';
import { createRouter } from './routing.js';
import { backoffStrategy } from './backoff.js';
import { createWorkerMetrics, registerRedisMemoryMetrics, type WorkerMetrics } from './metrics.js';
import { schemaDrift, type DriftFinder } from './drift.js';
import { DeliveryCache } from './delivery-cache.js';
import { DEFAULT_RETRY_LATER_LIMITS, type RetryLaterLimits } from './retry-later.js';
import { HandlerRuns } from './handler-runs.js';
import { DEFAULT_CONCURRENCY, perHandlerOf, type WorkerEvents } from './worker-context.js';
import { intakeProcessor, onIntakeFailed, type IntakeContext } from './intake-processor.js';
import { handlerJobProcessor, onHandlerJobFailed } from './handler-job-processor.js';

export interface WorkerDeps {
  /** Shared by every queue and worker; BullMQ opens one blocking connection per worker beside it. Closed by the caller. */
  connection: RedisClient;
  /** BullMQ's tracing (bullmq-otel) when trace export is on: jobs carry and continue the delivery's trace. */
  telemetry?: Telemetry;
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
  /** BullMQ lock of a running job, renewed every half of it; also the lease of a run's once-only claim, renewed every third. @defaultValue 30 seconds */
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
  /** Decoded deliveries kept in memory for the handler jobs that follow them, weighed by their bodies' size. @defaultValue 64 MiB */
  deliveryCacheBytes?: number;
  /** Bounds on RetryLaterError: longest postponement, and how many in a row before one counts as a failed try. @defaultValue 1 hour, 50 */
  retryLater?: Partial<RetryLaterLimits>;
  /** Also collect Node.js process metrics. @defaultValue false */
  processMetrics?: boolean;
  /** The optional archive's journal: each delivery and final outcome is appended to it. @defaultValue no archive */
  archive?: ArchiveJournal;
  /**
   * How often to sample Redis's used memory and the deliveries processed, for
   * `vouchflow_redis_bytes_per_event` and `pnpm ops stats`. @defaultValue no sampling
   */
  memorySampleMs?: number;
}

export type { SettledUnit, WorkerEvents } from './worker-context.js';

export interface RunningWorker {
  readonly metrics: WorkerMetrics;
  /** In-process notifications: `settled` with a {@link SettledUnit}. For tests and embedding; BullMQ's own events cover queued units only. */
  readonly events: EventEmitter<WorkerEvents>;
  /** Resolves when every BullMQ worker is connected and the handlers are registered in Redis. */
  ready(): Promise<void>;
  /**
   * Stops taking jobs, lets running ones finish for the grace period, then
   * aborts the rest (they go back to their queue, no attempt spent) and closes
   * queues. Redis is the caller's to close. Safe to call twice.
   */
  close(): Promise<void>;
}

/** How soon a pause of a handler's queue stops its inline first tries in every worker process. */
const PAUSE_POLL_MS = 500;

/** Starts the intake worker and one worker per handler. */
export function createWorker(deps: WorkerDeps): RunningWorker {
  const { connection, queuePrefix, handlers, logger, maxAttempts, backoffMs } = deps;
  const maxBackoffMs = deps.maxBackoffMs ?? 15 * MINUTE;
  const lockDuration = deps.lockDurationMs ?? 30 * SECOND;
  const graceMs = deps.shutdownGraceMs ?? 20 * SECOND;
  const deliveryRetentionMs = deps.deliveryRetentionMs ?? 7 * DAY;
  // Completed deliveries stay for the retention period whatever their producer
  // asked (BullMQ applies the completing job's own removeOnComplete), so replay finds them.
  const keepDeliveries = { age: Math.ceil(deliveryRetentionMs / SECOND) };
  const prefix = bullPrefix(queuePrefix);
  const route = createRouter(handlers);
  const cache = new DeliveryCache(deps.deliveryCacheBytes ?? 64 * 1024 * 1024);
  const events = new EventEmitter<WorkerEvents>();
  const runs = new HandlerRuns(graceMs);

  const traced = deps.telemetry ? { telemetry: deps.telemetry } : {};
  const intakeQueue = openIntakeQueue({ connection, queuePrefix }, traced);
  const handlerQueues = new Map<string, Queue<HandlerJobData>>(
    handlers.map((h) => [h.name, openHandlerQueue(h.name, { connection, queuePrefix }, traced)]),
  );
  const metrics = createWorkerMetrics(() => [intakeQueue, ...handlerQueues.values()], {
    defaultMetrics: deps.processMetrics ?? false,
  });
  const records = unitRecords(connection, queuePrefix, {
    leaseMs: lockDuration,
    keepMs: deps.onceWindowMs ?? 72 * HOUR,
    onLost: ({ owner, handler, key }) => {
      metrics.claimsLost.inc({ handler });
      logger.warn('claim lost: another run holds this unit; nothing recorded by this run', { handler, jobId: owner, key });
    },
  });

  const ctx: IntakeContext = {
    connection,
    queuePrefix,
    logger,
    metrics,
    records,
    cache,
    events,
    runs,
    retryLater: { ...DEFAULT_RETRY_LATER_LIMITS, ...deps.retryLater },
    route,
    findDrift: deps.findDrift ?? schemaDrift,
    perHandler: new Map(handlers.map((h) => [h.name, perHandlerOf(h, metrics)])),
    handlerQueues,
    inlineFirstTry: deps.inlineFirstTry ?? false,
    maxAttempts,
    backoffMs,
    maxBackoffMs,
    deliveryRetentionMs,
    keepDeliveries,
    ...(deps.archive ? { archive: deps.archive } : {}),
  };
  registerRedisMemoryMetrics(metrics.registry, () => redisMemoryReport(connection, queuePrefix));

  const common: WorkerOptions = {
    ...traced,
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

  const intake = new Worker<IntakeJobData>(INTAKE_QUEUE, intakeProcessor(ctx), {
    ...common,
    concurrency: deps.intakeConcurrency ?? 50,
    removeOnComplete: keepDeliveries,
  });

  const workers = handlers.map(
    (handler) =>
      new Worker<HandlerJobData>(handlerQueueName(handler.name), handlerJobProcessor(ctx, ctx.perHandler.get(handler.name)!), {
        ...common,
        concurrency: handler.concurrency ?? DEFAULT_CONCURRENCY,
        limiter: handler.rateLimit ? { max: handler.rateLimit.max, duration: handler.rateLimit.durationMs } : undefined,
        removeOnComplete: { age: Math.ceil((deps.handlerJobRetentionMs ?? DAY) / SECOND), count: 10_000 },
      }),
  );

  intake.on('failed', onIntakeFailed(ctx));
  workers.forEach((w, i) => w.on('failed', onHandlerJobFailed(ctx, handlers[i]!.name)));
  for (const w of [intake, ...workers]) {
    w.on('error', (err) => logger.error('worker error', { queue: w.name, error: err.message }));
    w.on('stalled', (jobId) => logger.warn('job stalled (its worker died?): back to wait', { queue: w.name, jobId }));
  }

  // An operator pauses a handler's queue (`pnpm ops pause`, the dashboard); its inline first tries must stop too.
  // One look per handler every PAUSE_POLL_MS, whatever the event rate, rather than one per delivery.
  const watchPauses = async () => {
    await Promise.all(
      [...handlerQueues].map(async ([name, queue]) => {
        const paused = await queue.isPaused();
        const state = ctx.perHandler.get(name)!.pause;
        if (state.paused === paused) return;
        state.paused = paused;
        logger.info(paused ? 'handler paused: its first tries wait in its queue' : 'handler resumed', { handler: name });
        events.emit('paused', { handler: name, paused });
      }),
    );
  };
  const pauseWatch = setInterval(() => {
    // A missed look keeps the last known state; the next one tries again.
    watchPauses().catch(() => {});
  }, PAUSE_POLL_MS);
  pauseWatch.unref();

  // Bytes per event: what this process processed since its last sample goes into the deployment's shared count.
  let sampledProcessed = 0;
  const sampleMemory = async () => {
    const processed = (await metrics.deliveries.get()).values.reduce((sum, v) => sum + v.value, 0);
    await recordMemorySample(connection, queuePrefix, processed - sampledProcessed);
    sampledProcessed = processed;
  };
  const memorySampler =
    deps.memorySampleMs === undefined
      ? undefined
      : setInterval(() => {
          sampleMemory().catch((err: unknown) => logger.debug('redis memory sample failed', { error: coerceError(err).message }));
        }, deps.memorySampleMs);
  memorySampler?.unref();

  const readyPromise = Promise.all([
    watchPauses(),
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
        clearInterval(pauseWatch);
        clearInterval(memorySampler);
        const abortTimer = setTimeout(() => runs.endGrace(), graceMs);
        try {
          await Promise.all([intake, ...workers].map((w) => w.close()));
        } finally {
          clearTimeout(abortTimer);
        }
        await records.close();
        await Promise.all([intakeQueue, ...handlerQueues.values()].map((q) => q.close()));
      })();
      return closing;
    },
  };
}
