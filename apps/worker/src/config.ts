import {
  archiveEnv,
  BooleanFromString,
  CommaList,
  IntFromString,
  NonEmptyString,
  PortFromString,
  alertEnv,
  commonEnv,
  decodeEnv,
  type ConfigOf,
} from '@vouchflow/core';
import { handlersEnv } from '@vouchflow/handlers';

const HOURS = (name: string, min: number) => IntFromString(name, min, 24 * 365);
const MS = (name: string, min = 0) => IntFromString(name, min, 24 * 3600 * 1000);

export const workerEnv = {
  ...commonEnv,
  ...handlersEnv,
  /** ARCHIVE_URL (unset: no archive, no journal, no PostgreSQL) and ARCHIVE_RETENTION_DAYS (default 90). */
  ...archiveEnv,
  /** Entries waiting for the archive past which new ones are dropped (PostgreSQL away for long): Redis stays bounded. */
  ARCHIVE_MAX_BACKLOG: { codec: IntFromString('ArchiveMaxBacklog', 1000, 100_000_000), default: '1000000' },
  /** How often the worker samples Redis's used memory and the deliveries processed, for bytes per event (ms). */
  REDIS_MEMORY_SAMPLE_MS: { codec: MS('RedisMemorySampleMs', 100), default: String(60 * 1000) },
  /** Handlers to run: built-in names and module specifiers, comma-separated. Unset: the built-ins whose settings are present. */
  HANDLERS: { codec: CommaList },
  /** Tries per (event, handler) before it is dead-lettered. */
  MAX_ATTEMPTS: { codec: IntFromString('MaxAttempts', 1, 100), default: '8' },
  /** First retry delay in milliseconds; doubles each try. */
  BACKOFF_MS: { codec: MS('BackoffMs'), default: '1000' },
  /** Longest retry delay in milliseconds. */
  BACKOFF_MAX_MS: { codec: MS('BackoffMaxMs'), default: String(15 * 60 * 1000) },
  /** Longest wait a RetryLaterError (a 429's Retry-After) gets, in ms. */
  MAX_RETRY_LATER_MS: { codec: MS('MaxRetryLaterMs', 1), default: String(60 * 60 * 1000) },
  /** RetryLaterErrors in a row after which the next one counts as a failed try (backoff, then a dead letter). */
  MAX_RETRY_LATER: { codec: IntFromString('MaxRetryLater', 1, 100_000), default: '50' },
  /** Port of `GET /metrics` (Prometheus); 0 turns it off. */
  METRICS_PORT: { codec: PortFromString, default: '3001' },
  /** Interface of the metrics port. Loopback by default: metrics are for the scraper, not the world. */
  METRICS_HOST: { codec: NonEmptyString, default: '127.0.0.1' },
  /** Hours completed deliveries are kept, so `pnpm ops replay <eventId>` finds them. */
  DELIVERY_RETENTION_HOURS: { codec: HOURS('DeliveryRetentionHours', 1), default: '168' },
  /** Tests only: the delivery retention in ms, overriding DELIVERY_RETENTION_HOURS (a hot window that expires within a test). */
  DELIVERY_RETENTION_MS: { codec: MS('DeliveryRetentionMs', 1000) },
  /** Hours a handled (handler, business fact) is remembered; at least the intake dedup window (72 h). */
  IDEMPOTENCY_WINDOW_HOURS: { codec: HOURS('IdempotencyWindowHours', 1), default: '72' },
  /** Deliveries decoded and fanned out at once per worker process. */
  INTAKE_CONCURRENCY: { codec: IntFromString('IntakeConcurrency', 1, 1000), default: '50' },
  /** Lock of a running job in ms (renewed every half); a process silent this long is presumed dead. */
  LOCK_DURATION_MS: { codec: MS('LockDurationMs', 1000), default: '30000' },
  /** How often each worker looks for jobs of dead processes, in ms. */
  STALLED_INTERVAL_MS: { codec: MS('StalledIntervalMs', 100), default: '15000' },
  /** Run each unit's first try inside its intake job; only units that do not succeed at once become handler jobs. */
  INLINE_FIRST_TRY: { codec: BooleanFromString, default: 'true' },
  /** On SIGTERM, ms running handlers may take to finish before they are aborted (and retried later). */
  SHUTDOWN_GRACE_MS: { codec: MS('ShutdownGraceMs'), default: '20000' },
  /** Failures in a row (not PermanentError) within CIRCUIT_WINDOW_MS that open a handler's circuit breaker; 0 turns breakers off. */
  CIRCUIT_FAILURES: { codec: IntFromString('CircuitFailures', 0, 10_000), default: '10' },
  /** The window those failures must fall within, in ms. */
  CIRCUIT_WINDOW_MS: { codec: MS('CircuitWindowMs', 1), default: '60000' },
  /** How long an open breaker holds its handler's units before one probe runs, in ms. */
  CIRCUIT_COOLDOWN_MS: { codec: MS('CircuitCooldownMs', 1), default: '30000' },
  /** Longest cool-down: each failed probe doubles it up to this, in ms. */
  CIRCUIT_COOLDOWN_MAX_MS: { codec: MS('CircuitCooldownMaxMs', 1), default: '600000' },
  /** Told once each time a handler's circuit breaker opens or closes (see alertEnv). */
  ...alertEnv,
};

export type WorkerConfig = ConfigOf<typeof workerEnv>;

/** Decodes the worker settings once, at start. */
export const loadWorkerConfig = (env: Record<string, string | undefined>): WorkerConfig => decodeEnv(workerEnv, env);
