export { MILLISECOND, SECOND, MINUTE, HOUR, DAY } from './durations.js';
export { coerceError } from './coerce-error.js';
export { decodeEnv, ConfigError, type EnvSpec, type ConfigOf } from './config.js';
export * from './env-codecs.js';
export { commonEnv, archiveEnv, alertEnv } from './common-env.js';
export { createLogger, LOG_LEVELS, type Logger, type LogLevel, type LoggerOptions } from './logger.js';
export { bullPrefix, projectKey, INTAKE_QUEUE, HANDLER_NAME_PATTERN, handlerQueueName } from './keys.js';
export { createRedis, waitForReady, closeRedis, type RedisClient, type RedisRole, type RedisSettings } from './redis.js';
export { createShutdown, exitOnSignals, type Shutdown, type ShutdownStep, type SignalOptions } from './shutdown.js';
export { startMetricsServer, type MetricsServer, type MetricsSource } from './metrics-server.js';
export { postAlert } from './alert-webhook.js';
export {
  readRedisMemory,
  redisReadiness,
  recordMemorySample,
  memorySamples,
  bytesPerEvent,
  redisMemoryReport,
  RedisRefusesWritesError,
  DEGRADED_RATIO,
  MEMORY_WINDOW_MS,
  type RedisMemory,
  type RedisReadiness,
  type MemorySample,
  type RedisMemoryReport,
} from './redis-memory.js';
