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
  postAlert,
  recordMemorySample,
  redisMemoryReport,
  SECOND,
  type Logger,
  type RedisClient,
} from '@vouchflow/core';
import type { ArchiveJournal } from '@vouchflow/archive';
import type { AnyHandler } from '@vouchflow/handler-kit';
import {
  circuitStore,
  unitRecords,
  openHandlerQueue,
  openIntakeQueue,
  registerHandlers,
  type HandlerJobData,
  type IntakeJobData,
  keptDeliveryDictionary,
  threadDeflater,
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
import {
  CIRCUIT_REFRESH_MS,
  CircuitBreaker,
  circuitSettingsOf,
  DEFAULT_CIRCUIT,
  type CircuitDefaults,
  type CircuitTransition,
} from './circuit.js';
import { CIRCUIT_STATE_VALUE } from './metrics.js';

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
  /**
   * Every handler's circuit breaker (CIRCUIT_*), which a handler's own
   * `circuit` overrides; `false` (or `failures: 0`) turns them all off.
   * @defaultValue 10 failures within 1 minute, 30 seconds of cool-down doubling up to 10 minutes
   */
  circuit?: Partial<CircuitDefaults> | false;
  /** Slack-compatible webhook told once each time a breaker opens or closes (ALERT_WEBHOOK_URL). @defaultValue none */
  alertWebhookUrl?: string;
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

  const breakers = circuitBreakers(deps, metrics, events);
  const deflater = threadDeflater(keptDeliveryDictionary());

  const ctx: IntakeContext = {
    connection,
    queuePrefix,
    logger,
    metrics,
    records,
    deflater,
    cache,
    events,
    runs,
    retryLater: { ...DEFAULT_RETRY_LATER_LIMITS, ...deps.retryLater },
    route,
    findDrift: deps.findDrift ?? schemaDrift,
    perHandler: new Map(handlers.map((h) => [h.name, perHandlerOf(h, metrics, breakers.get(h.name))])),
    handlerQueues,
    inlineFirstTry: deps.inlineFirstTry ?? false,
    maxAttempts,
    backoffMs,
    maxBackoffMs,
    deliveryRetentionMs,
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
    // A processed delivery is kept as a compact record (intake-processor.ts), not as its job.
    removeOnComplete: { count: 0 },
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

  // Each process's view of every breaker, at most about a second old: a closed breaker costs no round trip per unit.
  const refreshBreakers = () => Promise.all([...breakers.values()].map((b) => b.refresh()));
  const circuitWatch = setInterval(() => {
    // A missed look keeps the last known view; the next one tries again.
    refreshBreakers().catch(() => {});
  }, CIRCUIT_REFRESH_MS);
  circuitWatch.unref();
  // Bytes per event: what this process processed since its last sample goes into the deployment's shared count.
  let sampledProcessed = 0;
  const sampleMemory = async () => {
    const processed = (await metrics.deliveries.get()).values.reduce((sum, v) => sum + v.value, 0);
    await recordMemorySample(connection, queuePrefix, processed - sampledProcessed);
    sampledProcessed = processed;
  };
  const takeMemorySample = (): void => {
    sampleMemory().catch((err: unknown) => logger.debug('redis memory sample failed', { error: coerceError(err).message }));
  };
  const memorySampler = deps.memorySampleMs === undefined ? undefined : setInterval(takeMemorySample, deps.memorySampleMs);
  memorySampler?.unref();
  // A first sample at start, before any delivery: without it, the deliveries of the first interval had no
  // sample before them, and a short burst (everything processed within one interval) gave no figure at all.
  if (memorySampler) takeMemorySample();

  const readyPromise = Promise.all([
    watchPauses(),
    refreshBreakers(),
    ...[intake, ...workers].map((w) => w.waitUntilReady()),
    // With the retry settings, so an operator's replay retries as this deployment does, and which handlers have a wasDone.
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
        clearInterval(circuitWatch);
        clearInterval(memorySampler);
        const abortTimer = setTimeout(() => runs.endGrace(), graceMs);
        try {
          await Promise.all([intake, ...workers].map((w) => w.close()));
        } finally {
          clearTimeout(abortTimer);
        }
        await deflater.close();
        await records.close();
        await Promise.all([intakeQueue, ...handlerQueues.values()].map((q) => q.close()));
      })();
      return closing;
    },
  };
}

/** One breaker per handler whose breaker is on, reporting to the logs, the metrics, `events` and the alert webhook. */
function circuitBreakers(deps: WorkerDeps, metrics: WorkerMetrics, events: EventEmitter<WorkerEvents>): Map<string, CircuitBreaker> {
  const { connection, queuePrefix, handlers, logger } = deps;
  const defaults = deps.circuit === false ? false : { ...DEFAULT_CIRCUIT, ...deps.circuit };
  const store = circuitStore(connection, queuePrefix);
  const alert = (text: string) => {
    if (!deps.alertWebhookUrl) return;
    postAlert(deps.alertWebhookUrl, text).catch((err: unknown) =>
      logger.warn('circuit alert not delivered', { error: coerceError(err).message }),
    );
  };
  const breakers = new Map<string, CircuitBreaker>();
  for (const h of handlers) {
    const settings = circuitSettingsOf(h.circuit, defaults);
    if (!settings) continue;
    const gauge = metrics.circuitState.labels({ handler: h.name });
    gauge.set(CIRCUIT_STATE_VALUE.closed);
    const breaker = new CircuitBreaker(h.name, settings, store, {
      // A probe that outlives its timeout, its abort grace and a margin has lost its process: another may probe.
      probeLeaseMs: (h.timeoutMs ?? 30 * SECOND) + 10 * SECOND,
      onState: (state) => {
        gauge.set(CIRCUIT_STATE_VALUE[state]);
        events.emit('circuit', { handler: h.name, state });
      },
      onTransition: (t) => {
        metrics.circuitTransitions.inc({ handler: h.name, to: t.to });
        const fields = { handler: h.name, from: t.from, to: t.to, cooldownMs: t.cooldownMs, error: t.error };
        if (t.to === 'open' && t.from === 'closed') {
          logger.warn("circuit opened: the handler's units wait, no attempt spent, until a probe succeeds", {
            ...fields,
            failures: t.failures,
          });
        } else if (t.to === 'open') {
          logger.warn('circuit probe failed: stays open for a longer cool-down', fields);
        } else if (t.to === 'closed') {
          logger.info('circuit closed: the probe succeeded, waiting units run again', { handler: h.name, openMs: t.openMs });
        } else {
          logger.info('circuit half-open: one probe unit runs', { handler: h.name });
        }
        const text = circuitAlertText(queuePrefix, t, settings);
        if (text) alert(text);
      },
    });
    breakers.set(h.name, breaker);
  }
  return breakers;
}

const seconds = (ms: number) => (ms % SECOND === 0 ? `${ms / SECOND} s` : `${ms} ms`);

/** The alert for a breaker opening or closing (probes and failed probes are only logged and counted), or undefined. */
export function circuitAlertText(queuePrefix: string, t: CircuitTransition, settings: CircuitDefaults): string | undefined {
  if (t.to === 'open' && t.from === 'closed') {
    return [
      `:rotating_light: vouchflow (${queuePrefix}): circuit of handler ${t.handler} opened after ${settings.failures} failures within ${seconds(settings.windowMs)}.`,
      t.error ? `Last error: ${t.error.split('\n')[0]?.slice(0, 200)}` : '',
      `Its units wait, spending no attempt; a probe runs in ${seconds(t.cooldownMs ?? settings.cooldownMs)}. Watch with \`pnpm ops handlers\`.`,
    ]
      .filter(Boolean)
      .join('\n');
  }
  if (t.to === 'closed') {
    const open = t.openMs !== undefined ? ` after ${Math.round(t.openMs / SECOND)} s open` : '';
    return `:white_check_mark: vouchflow (${queuePrefix}): circuit of handler ${t.handler} closed${open}: a probe succeeded, waiting units run again.`;
  }
  return undefined;
}
