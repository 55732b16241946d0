import { createServer } from 'node:http';
import { closeRedis, createLogger, createRedis, createShutdown, exitOnSignals, ConfigError, SECOND } from '@vouchflow/core';
import { openIntakeQueue } from '@vouchflow/pipeline';
import { loadIngressConfig } from './config.js';
import { createApp } from './app.js';
import { queueIntake } from './intake.js';

async function main(): Promise<void> {
  const config = loadIngressConfig(process.env);
  const logger = createLogger({ level: config.LOG_LEVEL, json: config.NODE_ENV === 'production', defaultMeta: { app: 'ingress' } });
  if (config.secrets.length === 0)
    logger.warn('WEBHOOK_ALLOW_UNSIGNED=true: deliveries without a valid signature are accepted. Never do this in production.');

  const redis = createRedis({
    urls: config.REDIS_URL,
    cluster: config.REDIS_CLUSTER,
    role: 'request-path',
    connectionName: 'vouchflow-ingress',
  });
  redis.on('error', (err: Error) => logger.debug('redis connection error', { error: err.message }));
  const queue = openIntakeQueue({ connection: redis, queuePrefix: config.QUEUE_PREFIX });
  queue.on('error', (err) => logger.debug('intake queue error', { error: err.message }));

  const app = createApp({
    secrets: config.secrets,
    allowUnsigned: config.WEBHOOK_ALLOW_UNSIGNED,
    intake: queueIntake(queue),
    logger,
    isReady: async () => (await redis.ping()) === 'PONG',
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(config.PORT, resolve));
  const address = server.address();
  logger.info('ingress listening', {
    port: typeof address === 'object' && address ? address.port : config.PORT,
    queuePrefix: config.QUEUE_PREFIX,
  });

  const shutdown = createShutdown(logger, [
    { name: 'stop accepting requests', run: () => new Promise<void>((resolve) => server.close(() => resolve())) },
    { name: 'close intake queue', run: () => queue.close() },
    { name: 'close redis', run: () => closeRedis(redis) },
  ]);
  exitOnSignals(shutdown, logger, { deadlineMs: 10 * SECOND });
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
