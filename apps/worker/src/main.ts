import { closeRedis, createLogger, createRedis, createShutdown, exitOnSignals, ConfigError, HOUR, SECOND } from '@vouchflow/core';
import { Registry } from 'prom-client';
import { createBuiltInHandlers } from '@vouchflow/handlers';
import { loadWorkerConfig } from './config.js';
import { createWorker } from './create-worker.js';
import { loadHandlers } from './load-handlers.js';
import { HandlerRegistryError } from './registry.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { startTelemetry } from '@vouchflow/telemetry';

async function main(): Promise<void> {
  const config = loadWorkerConfig(process.env);
  // Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
  const telemetry = startTelemetry('vouchflow-worker', process.env);
  const logger = createLogger({ level: config.LOG_LEVEL, json: config.NODE_ENV === 'production', defaultMeta: { app: 'worker' } });
  const redis = createRedis({ urls: config.REDIS_URL, cluster: config.REDIS_CLUSTER, role: 'worker', connectionName: 'vouchflow-worker' });
  redis.on('error', (err: Error) => logger.debug('redis connection error', { error: err.message }));
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
    deliveryRetentionMs: config.DELIVERY_RETENTION_HOURS * HOUR,
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
  });

  let metricsServer: MetricsServer | undefined;
  if (config.METRICS_PORT !== 0) {
    try {
      metricsServer = await startMetricsServer(
        Registry.merge([worker.metrics.registry, builtIns.registry]),
        config.METRICS_PORT,
        config.METRICS_HOST,
        async () => {
          if (redis.status !== 'ready') throw new Error(`redis: connection is ${redis.status}`);
          await redis.ping();
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
  console.error(err instanceof ConfigError || err instanceof HandlerRegistryError ? err.message : err);
  process.exit(1);
});
