import { BooleanFromString, IntFromString, OneOf, NonEmptyString, RedisUrlList, UrlString } from './env-codecs.js';
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

/**
 * The optional PostgreSQL archive, read by the worker (which fills it) and
 * by `pnpm ops` and the admin API (which read it). Unset: no archive, and
 * nothing needs a database.
 */
export const archiveEnv = {
  /** `postgres://user:password@host:5432/db`. A secret: it holds the password. */
  ARCHIVE_URL: { codec: UrlString('ArchiveUrl', ['postgres', 'postgresql']), secret: true },
  /** Days an archived delivery is kept; whole days are dropped once past it. */
  ARCHIVE_RETENTION_DAYS: { codec: IntFromString('ArchiveRetentionDays', 1, 3650), default: '90' },
} satisfies EnvSpec;

/** Where alerts go: the admin process tells it about dead letters, the worker about circuit breakers opening and closing. */
export const alertEnv = {
  /** Slack-compatible incoming webhook (`{"text": …}`). Unset: no alerts. A Slack webhook URL is a secret. */
  ALERT_WEBHOOK_URL: { codec: UrlString('AlertWebhookUrl', ['http', 'https']), secret: true },
} satisfies EnvSpec;
