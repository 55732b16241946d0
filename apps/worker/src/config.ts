import { CommaList, IntFromString, commonEnv, decodeEnv, type ConfigOf } from '@vouchflow/core';
import { handlersEnv } from '@vouchflow/handlers';

export const workerEnv = {
  ...commonEnv,
  ...handlersEnv,
  /** Handlers to run: built-in names and module specifiers, comma-separated. Unset: the built-ins whose settings are present. */
  HANDLERS: { codec: CommaList },
  /** Tries per (event, handler) before it is dead-lettered. */
  MAX_ATTEMPTS: { codec: IntFromString('MaxAttempts', 1, 100), default: '8' },
  /** First retry delay in milliseconds; doubles each try. */
  BACKOFF_MS: { codec: IntFromString('BackoffMs', 0, 24 * 3600 * 1000), default: '1000' },
};

export type WorkerConfig = ConfigOf<typeof workerEnv>;

/** Decodes the worker settings once, at start. */
export const loadWorkerConfig = (env: Record<string, string | undefined>): WorkerConfig => decodeEnv(workerEnv, env);
