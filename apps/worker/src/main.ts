import { closeRedis, createLogger, createRedis, createShutdown, exitOnSignals, ConfigError, SECOND } from '@vouchflow/core';
import { loadWorkerConfig } from './config.js';
import { createWorker } from './create-worker.js';
import { loadHandlers } from './load-handlers.js';
import { createBuiltInHandlers } from '@vouchflow/handlers';
import { HandlerRegistryError } from './registry.js';

async function main(): Promise<void> {
  const config = loadWorkerConfig(process.env);
  const logger = createLogger({ level: config.LOG_LEVEL, json: config.NODE_ENV === 'production', defaultMeta: { app: 'worker' } });
  const redis = createRedis({ urls: config.REDIS_URL, cluster: config.REDIS_CLUSTER, role: 'worker', connectionName: 'vouchflow-worker' });
  redis.on('error', (err: Error) => logger.debug('redis connection error', { error: err.message }));
  const builtIns = createBuiltInHandlers({ config, redis, queuePrefix: config.QUEUE_PREFIX, logger });
  const handlers = await loadHandlers(config.HANDLERS, builtIns);

  const worker = createWorker({
    connection: redis,
    queuePrefix: config.QUEUE_PREFIX,
    handlers,
    logger,
    maxAttempts: config.MAX_ATTEMPTS,
    backoffMs: config.BACKOFF_MS,
  });
  logger.info('worker started', { handlers: handlers.map((h) => h.name), queuePrefix: config.QUEUE_PREFIX });

  const shutdown = createShutdown(logger, [
    { name: 'finish running jobs and close queues', run: () => worker.close() },
    { name: 'close redis', run: () => closeRedis(redis) },
  ]);
  exitOnSignals(shutdown, logger, { deadlineMs: 30 * SECOND });
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError || err instanceof HandlerRegistryError ? err.message : err);
  process.exit(1);
});
