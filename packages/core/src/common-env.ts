import { BooleanFromString, OneOf, NonEmptyString, RedisUrlList } from './env-codecs.js';
import { LOG_LEVELS } from './logger.js';
import type { EnvSpec } from './config.js';

/**
 * The variables every app reads. Each app's config.ts spreads this into its
 * own spec, so the names, defaults and meanings are the same everywhere.
 */
export const commonEnv = {
  /** Redis to use; for a cluster, comma-separated seed nodes with REDIS_CLUSTER=true. */
  REDIS_URL: { codec: RedisUrlList, default: 'redis://127.0.0.1:6379' },
  REDIS_CLUSTER: { codec: BooleanFromString, default: 'false' },
  /** Prefix of every Redis key the project writes. */
  QUEUE_PREFIX: { codec: NonEmptyString, default: 'vouchflow' },
  LOG_LEVEL: { codec: OneOf('LogLevel', LOG_LEVELS), default: 'info' },
  /** `production` switches logs to JSON and makes unsafe development defaults refuse to start. */
  NODE_ENV: { codec: OneOf('NodeEnv', ['development', 'production', 'test'] as const), default: 'development' },
} satisfies EnvSpec;
