import { closeRedis, createRedis, redactUrl, waitForReady, SECOND, type Logger, type RedisClient } from '@vouchflow/core';
import { createDeadLetterStore, readHandlerRegistry, type RedisDeadLetterStore } from '@vouchflow/pipeline';
import type { CliConfig } from './config.js';
import { createOperations, type Operations } from './operations.js';
import { RedisUnavailableError } from './errors/redis-unavailable-error.js';

export interface OpenedOperations {
  ops: Operations;
  deadLetters: RedisDeadLetterStore;
  redis: RedisClient;
  /** Closes the queues, then Redis. */
  close(): Promise<void>;
}

/**
 * Connects to the deployment's Redis and builds the operations on it.
 * Commands fail fast when Redis is down rather than hanging on a retry loop.
 */
export async function openOperations(config: CliConfig, options: { connectionName: string; logger?: Logger }): Promise<OpenedOperations> {
  const redis = createRedis({
    urls: config.REDIS_URL,
    cluster: config.REDIS_CLUSTER,
    role: 'request-path',
    // Bulk retry and purge run as long scripts; the request-path default of 1 s is for the ingress.
    commandTimeoutMs: 60 * SECOND,
    connectionName: options.connectionName,
  });
  let lastError = '';
  redis.on('error', (err: Error) => {
    lastError = err.message;
    options.logger?.debug('redis connection error', { error: err.message });
  });
  try {
    await waitForReady(redis, 5 * SECOND);
  } catch {
    redis.disconnect();
    throw new RedisUnavailableError(
      `cannot reach Redis at ${config.REDIS_URL.map(redactUrl).join(',')}${lastError ? `: ${lastError}` : ''}`,
    );
  }
  const deadLetters = createDeadLetterStore({ connection: redis, queuePrefix: config.QUEUE_PREFIX });
  const ops = createOperations({
    connection: redis,
    queuePrefix: config.QUEUE_PREFIX,
    deadLetters,
    // Every handler a worker of this deployment ever ran: a retired one may still own dead letters.
    handlerNames: async () => [...(await readHandlerRegistry(redis, config.QUEUE_PREFIX)).keys()],
  });
  return {
    ops,
    deadLetters,
    redis,
    async close() {
      await ops.close();
      await deadLetters.close();
      await closeRedis(redis);
    },
  };
}
