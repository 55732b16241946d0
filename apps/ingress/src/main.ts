import { closeRedis, createLogger, createRedis, createShutdown, exitOnSignals, ConfigError } from '@vouchflow/core';
import { VOUCHERIFY_RETRY_SPAN_MS, loadIngressConfig } from './config.js';
import { startTelemetry } from '@vouchflow/telemetry';
import { startIngress } from './ingress.js';
import { createIngressMetrics } from './metrics.js';

async function main(): Promise<void> {
  const config = loadIngressConfig(process.env);
  const logger = createLogger({ level: config.LOG_LEVEL, json: config.NODE_ENV === 'production', defaultMeta: { app: 'ingress' } });
  if (config.allowUnsigned)
    logger.warn('WEBHOOK_ALLOW_UNSIGNED=true: deliveries without a valid signature are accepted. Never do this in production.');
  if (config.dedupWindowMs < VOUCHERIFY_RETRY_SPAN_MS)
    logger.warn('DEDUP_WINDOW_HOURS is shorter than Voucherify retries last (about 60 hours): a late retry may be processed twice', {
      dedupWindowHours: config.DEDUP_WINDOW_HOURS,
    });

  // Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
  const telemetry = startTelemetry('vouchflow-ingress', process.env);
  const redis = createRedis({
    urls: config.REDIS_URL,
    cluster: config.REDIS_CLUSTER,
    role: 'request-path',
    commandTimeoutMs: config.enqueueTimeoutMs,
    connectionName: 'vouchflow-ingress',
  });
  redis.on('error', (err: Error) => logger.debug('redis connection error', { error: err.message }));

  const ingress = await startIngress({
    settings: config,
    redis,
    logger,
    port: config.PORT,
    metrics: createIngressMetrics({ processMetrics: true }),
    ...(config.INGRESS_METRICS_PORT === 0 ? {} : { metricsPort: config.INGRESS_METRICS_PORT, metricsHost: config.METRICS_HOST }),
    traced: telemetry.enabled,
  });
  const shutdown = createShutdown(logger, [
    ...ingress.shutdownSteps,
    { name: 'close redis', run: () => closeRedis(redis) },
    { name: 'send buffered traces', run: () => telemetry.shutdown() },
  ]);
  exitOnSignals(shutdown, logger, { deadlineMs: config.shutdownTimeoutMs });
  // Logged once signals are handled: whoever waits for this line may send SIGTERM straight away.
  logger.info('ingress listening', {
    port: ingress.port,
    metricsUrl: ingress.metricsUrl ?? null,
    queuePrefix: config.QUEUE_PREFIX,
    bodyLimitBytes: config.bodyLimitBytes,
    dedupWindowHours: config.DEDUP_WINDOW_HOURS,
    maxBacklog: config.maxBacklog,
  });
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
