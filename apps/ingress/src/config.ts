import * as t from 'io-ts';
import {
  BooleanFromString,
  CommaList,
  ConfigError,
  HOUR,
  IntFromString,
  NonEmptyString,
  PortFromString,
  SECOND,
  commonEnv,
  decodeEnv,
  type ConfigOf,
} from '@vouchflow/core';

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 * 1024 };
const MAX_BODY_LIMIT = 64 * 1024 * 1024;

/** A size in bytes: `1048576`, `512kb`, `1mb` (binary units, case-insensitive). */
export const ByteSize = new t.Type<number, string, unknown>(
  'ByteSize',
  (u): u is number => typeof u === 'number' && Number.isInteger(u) && u > 0,
  (u, c) => {
    const m = typeof u === 'string' ? /^\s*(\d+)\s*(b|kb|mb)?\s*$/i.exec(u) : null;
    if (!m) return t.failure(u, c, `expected a size such as 1mb, 512kb or 1048576, got ${JSON.stringify(u)}`);
    const bytes = Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]!;
    if (bytes < 1 || bytes > MAX_BODY_LIMIT) return t.failure(u, c, `expected a size from 1 byte to 64mb, got ${JSON.stringify(u)}`);
    return t.success(bytes);
  },
  String,
);

export const ingressEnv = {
  ...commonEnv,
  /** HTTP port of the ingress: the webhook, /healthz and /readyz. */
  PORT: { codec: PortFromString, default: '3000' },
  /** Port of the ingress's `GET /metrics` (Prometheus), apart from the webhook port; 0 turns it off. Named apart from the worker's METRICS_PORT so one .env serves both. */
  INGRESS_METRICS_PORT: { codec: PortFromString, default: '3002' },
  /** Interface of the metrics port. Loopback by default: metrics are for the scraper, not the world. */
  METRICS_HOST: { codec: NonEmptyString, default: '127.0.0.1' },
  /** One or more webhook secrets, comma-separated: during a rotation both old and new verify. */
  VOUCHERIFY_WEBHOOK_SECRET: { codec: CommaList, secret: true },
  /** Accept deliveries without a valid signature. Local experiments only; logged loudly. */
  WEBHOOK_ALLOW_UNSIGNED: { codec: BooleanFromString, default: 'false' },
  /** Largest request body accepted; larger ones are answered 413. */
  BODY_LIMIT: { codec: ByteSize, default: '1mb' },
  /** How long an event id is remembered, so a re-sent event is answered "duplicate" and not processed again. Voucherify retries for about 2.5 days. */
  DEDUP_WINDOW_HOURS: { codec: IntFromString('Hours', 1, 24 * 365), default: '72' },
  /** Intake jobs waiting for a worker above which the ingress answers 503 (back-pressure protects Redis memory). */
  MAX_BACKLOG: { codec: IntFromString('Count', 1), default: '100000' },
  /** How often the backlog is read from Redis (requests never read it themselves). */
  BACKLOG_CHECK_MS: { codec: IntFromString('Milliseconds', 50, 60_000), default: '1000' },
  /** Longest wait for Redis to store a delivery before answering 503. */
  ENQUEUE_TIMEOUT_MS: { codec: IntFromString('Milliseconds', 50, 9000), default: '1000' },
  /**
   * Most deliveries stored in one Redis round trip. Small enough that Redis stores one batch while
   * this process reads the next requests (see intake.ts), large enough to amortise the round trip.
   */
  ENQUEUE_BATCH_MAX: { codec: IntFromString('Count', 1, 10_000), default: '32' },
  /** Longest graceful shutdown (finish requests, flush, close) before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: { codec: IntFromString('Milliseconds', 100, 120_000), default: '8000' },
};

/** The settings the ingress runs with; durations in milliseconds, sizes in bytes. */
export interface IngressSettings {
  secrets: readonly string[];
  allowUnsigned: boolean;
  queuePrefix: string;
  /** @defaultValue 1 MiB */
  bodyLimitBytes: number;
  /** @defaultValue 72 hours */
  dedupWindowMs: number;
  /** @defaultValue 100000 */
  maxBacklog: number;
  /** @defaultValue 1 second */
  backlogCheckMs: number;
  /** @defaultValue 1 second */
  enqueueTimeoutMs: number;
  /** @defaultValue 500 */
  enqueueBatchMax: number;
}

export type IngressConfig = ConfigOf<typeof ingressEnv> & IngressSettings & { shutdownTimeoutMs: number };

/** Voucherify's retries span about 2.5 days; a shorter window lets a late retry be processed twice. */
export const VOUCHERIFY_RETRY_SPAN_MS = 60 * HOUR;

/** A shorter webhook secret can be guessed offline from one signed delivery; production refuses it. */
export const MIN_SECRET_LENGTH = 16;

/**
 * What production refuses to start with, each naming its variable and never
 * its value: the development conveniences that would let anyone post deliveries.
 */
function productionProblems(config: ConfigOf<typeof ingressEnv>, secrets: readonly string[]): string[] {
  if (config.NODE_ENV !== 'production') return [];
  const problems: string[] = [];
  if (config.WEBHOOK_ALLOW_UNSIGNED) {
    problems.push('WEBHOOK_ALLOW_UNSIGNED: true is refused with NODE_ENV=production: anyone could post deliveries; unset it');
  }
  const short = secrets.filter((s) => s.length < MIN_SECRET_LENGTH).length;
  if (short > 0) {
    problems.push(
      `VOUCHERIFY_WEBHOOK_SECRET: ${short} of ${secrets.length} secret(s) shorter than ${MIN_SECRET_LENGTH} characters, refused with NODE_ENV=production`,
    );
  }
  return problems;
}

/**
 * Decodes the ingress settings once, at start. Fails closed: no secret and no
 * explicit opt-out stops the process, and production refuses unsafe settings.
 */
export function loadIngressConfig(env: Record<string, string | undefined>): IngressConfig {
  const config = decodeEnv(ingressEnv, env);
  const secrets = config.VOUCHERIFY_WEBHOOK_SECRET ?? [];
  const problems = productionProblems(config, secrets);
  if (secrets.length === 0 && !config.WEBHOOK_ALLOW_UNSIGNED) {
    problems.push(
      'VOUCHERIFY_WEBHOOK_SECRET: required (the webhook secret from Voucherify Project Settings → Webhooks); set WEBHOOK_ALLOW_UNSIGNED=true only for local experiments',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ...config,
    secrets,
    allowUnsigned: config.WEBHOOK_ALLOW_UNSIGNED,
    queuePrefix: config.QUEUE_PREFIX,
    bodyLimitBytes: config.BODY_LIMIT,
    dedupWindowMs: config.DEDUP_WINDOW_HOURS * HOUR,
    maxBacklog: config.MAX_BACKLOG,
    backlogCheckMs: config.BACKLOG_CHECK_MS,
    enqueueTimeoutMs: config.ENQUEUE_TIMEOUT_MS,
    enqueueBatchMax: config.ENQUEUE_BATCH_MAX,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  };
}

/** Defaults of {@link IngressSettings}, for tests and benchmarks that build settings without an environment. */
export const DEFAULT_SETTINGS = {
  allowUnsigned: false,
  bodyLimitBytes: 1024 * 1024,
  dedupWindowMs: 72 * HOUR,
  maxBacklog: 100_000,
  backlogCheckMs: SECOND,
  enqueueTimeoutMs: SECOND,
  enqueueBatchMax: 32,
} satisfies Partial<IngressSettings>;
