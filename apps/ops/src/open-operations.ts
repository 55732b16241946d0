import { closeRedis, createRedis, redactUrl, SECOND, type Logger, type RedisClient } from '@vouchflow/core';
import { createDeadLetterStore, readHandlerRegistry, type RedisDeadLetterStore } from '@vouchflow/pipeline';
import { createArchiveStore, type ArchiveStore } from '@vouchflow/archive';
import type { CliConfig } from './config.js';
import { createOperations, type Operations } from './operations.js';
import { RedisUnavailableError } from './errors/redis-unavailable-error.js';

export interface OpenedOperations {
  ops: Operations;
  deadLetters: RedisDeadLetterStore;
  redis: RedisClient;
  /** The PostgreSQL archive, when `ARCHIVE_URL` is set. */
  archive: ArchiveStore | undefined;
  /** Closes the queues, then Redis. */
  close(): Promise<void>;
}

/** Ready, or the first connection error: nobody is served by waiting out the timeout on a refused connection. */
function readyOrRefused(redis: RedisClient, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs / SECOND} s`)), timeoutMs);
    const onReady = () => done();
    const onError = (err: Error) => done(err);
    const done = (err?: Error) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    if (redis.status === 'ready') return done();
    redis.once('ready', onReady);
    redis.once('error', onError);
  });
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
  redis.on('error', (err: Error) => options.logger?.debug('redis connection error', { error: err.message }));
  try {
    await readyOrRefused(redis, 5 * SECOND);
  } catch (err) {
    redis.disconnect();
    throw new RedisUnavailableError(`cannot reach Redis at ${config.REDIS_URL.map(redactUrl).join(',')}: ${(err as Error).message}`);
  }
  const deadLetters = createDeadLetterStore({ connection: redis, queuePrefix: config.QUEUE_PREFIX });
  // Opened lazily by pg: an unreachable archive fails only the look-ups that need it.
  const archive = config.ARCHIVE_URL === undefined ? undefined : createArchiveStore(config.ARCHIVE_URL, config.QUEUE_PREFIX);
  const ops = createOperations({
    connection: redis,
    queuePrefix: config.QUEUE_PREFIX,
    deadLetters,
    ...(archive ? { archive } : {}),
    // Every handler a worker of this deployment ever ran: a retired one may still own dead letters.
    handlers: () => readHandlerRegistry(redis, config.QUEUE_PREFIX),
  });
  return {
    ops,
    deadLetters,
    redis,
    archive,
    async close() {
      await ops.close();
      await deadLetters.close();
      await archive?.close();
      await closeRedis(redis);
    },
  };
}
