import {
  closeRedis,
  coerceError,
  createLogger,
  createRedis,
  createShutdown,
  exitOnSignals,
  ConfigError,
  DAY,
  HOUR,
  SECOND,
  redisReadiness,
  RedisRefusesWritesError,
  type RedisClient,
} from '@vouchflow/core';
import { Registry } from 'prom-client';
import { createBuiltInHandlers } from '@vouchflow/handlers';
import { loadWorkerConfig } from './config.js';
import { createWorker } from './create-worker.js';
import { loadHandlers } from './load-handlers.js';
import { HandlerRegistryError } from './registry.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { startTelemetry } from '@vouchflow/telemetry';
import { openWorkerArchive } from './archive.js';
import { ArchiveSchemaMissingError } from './errors/archive-schema-missing-error.js';

async function main(): Promise<void> {
  const config = loadWorkerConfig(process.env);
  // Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
  const telemetry = startTelemetry('vouchflow-worker', process.env);
  const logger = createLogger({ level: config.LOG_LEVEL, json: config.NODE_ENV === 'production', defaultMeta: { app: 'worker' } });
  const openRedis = (connectionName: string): RedisClient =>
    createRedis({ urls: config.REDIS_URL, cluster: config.REDIS_CLUSTER, role: 'worker', connectionName });
  const redis = openRedis('vouchflow-worker');
  redis.on('error', (err: Error) => logger.debug('redis connection error', { error: err.message }));
  // Without ARCHIVE_URL: no journal, no archiver, no PostgreSQL.
  const archive =
    config.ARCHIVE_URL === undefined
      ? undefined
      : openWorkerArchive({
          url: config.ARCHIVE_URL,
          retentionMs: config.ARCHIVE_RETENTION_DAYS * DAY,
          maxBacklog: config.ARCHIVE_MAX_BACKLOG,
          queuePrefix: config.QUEUE_PREFIX,
          redis,
          openRedis: () => openRedis('vouchflow-archiver'),
          logger,
        });
  if (archive) {
    try {
      await archive.start();
    } catch (err) {
      await archive.close();
      await closeRedis(redis);
      throw err;
    }
  }
  const builtIns = createBuiltInHandlers({ config, redis, queuePrefix: config.QUEUE_PREFIX, logger });
  // Plugins' own settings (HANDLER_<NAME>_*) are theirs to decode, with the codec they export.
  const handlers = await loadHandlers(config.HANDLERS, builtIns, process.cwd(), { env: process.env, logger });

  const worker = createWorker({
    connection: redis,
    telemetry: telemetry.bullmq,
    queuePrefix: config.QUEUE_PREFIX,
    handlers,
    logger,
    maxAttempts: config.MAX_ATTEMPTS,
    backoffMs: config.BACKOFF_MS,
    maxBackoffMs: config.BACKOFF_MAX_MS,
    intakeConcurrency: config.INTAKE_CONCURRENCY,
    deliveryRetentionMs: config.DELIVERY_RETENTION_MS ?? config.DELIVERY_RETENTION_HOURS * HOUR,
    onceWindowMs: config.IDEMPOTENCY_WINDOW_HOURS * HOUR,
    lockDurationMs: config.LOCK_DURATION_MS,
    stalledIntervalMs: config.STALLED_INTERVAL_MS,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    inlineFirstTry: config.INLINE_FIRST_TRY,
    retryLater: { maxDelayMs: config.MAX_RETRY_LATER_MS, maxInARow: config.MAX_RETRY_LATER },
    processMetrics: true,
    circuit: {
      failures: config.CIRCUIT_FAILURES,
      windowMs: config.CIRCUIT_WINDOW_MS,
      cooldownMs: config.CIRCUIT_COOLDOWN_MS,
      maxCooldownMs: config.CIRCUIT_COOLDOWN_MAX_MS,
    },
    ...(config.ALERT_WEBHOOK_URL ? { alertWebhookUrl: config.ALERT_WEBHOOK_URL } : {}),
    memorySampleMs: config.REDIS_MEMORY_SAMPLE_MS,
    ...(archive ? { archive: archive.journal } : {}),
  });
  const redisHealth = redisReadiness(redis, config.QUEUE_PREFIX, logger);

  let metricsServer: MetricsServer | undefined;
  if (config.METRICS_PORT !== 0) {
    try {
      metricsServer = await startMetricsServer(
        Registry.merge([worker.metrics.registry, builtIns.registry, ...(archive ? [archive.registry] : [])]),
        config.METRICS_PORT,
        config.METRICS_HOST,
        async () => {
          if (redis.status !== 'ready') throw new Error(`redis: connection is ${redis.status}`);
          // 503 only where writes fail (unreachable, or full under noeviction); nearly full is 200 degraded.
          try {
            return await redisHealth.check();
          } catch (err) {
            if (err instanceof RedisRefusesWritesError) throw err;
            throw new Error(`redis: ${coerceError(err).message}`);
          }
        },
      );
    } catch (err) {
      // Several workers on one host share no port: work on without metrics rather than refuse to work.
      logger.warn('metrics server did not start: running without /metrics', {
        host: config.METRICS_HOST,
        port: config.METRICS_PORT,
        error: (err as Error).message,
      });
    }
  }

  const shutdown = createShutdown(logger, [
    { name: 'stop taking jobs, finish or abort running ones, close queues', run: () => worker.close() },
    { name: 'stop the archiver, flush the archive journal, close PostgreSQL', run: () => archive?.close() },
    { name: 'close built-in handlers (SMTP pool)', run: () => builtIns.close() },
    { name: 'close metrics server', run: () => metricsServer?.close() },
    { name: 'close redis', run: () => closeRedis(redis) },
    { name: 'send buffered traces', run: () => telemetry.shutdown() },
  ]);
  // Beyond the grace period, aborted jobs need a moment to go back to their queues.
  exitOnSignals(shutdown, logger, { deadlineMs: config.SHUTDOWN_GRACE_MS + 10 * SECOND });

  await worker.ready();
  logger.info('worker started', {
    handlers: handlers.map((h) => h.name),
    queuePrefix: config.QUEUE_PREFIX,
    metricsPort: metricsServer?.port ?? null,
  });
}

main().catch((err: unknown) => {
  console.error(
    err instanceof ConfigError || err instanceof HandlerRegistryError || err instanceof ArchiveSchemaMissingError ? err.message : err,
  );
  process.exit(1);
});
