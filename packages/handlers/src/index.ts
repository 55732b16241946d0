import type { AnyHandler } from '@vouchflow/handler-kit';
import type { ConfigOf, Logger, RedisClient } from '@vouchflow/core';
import { logHandler } from './log.js';

export { logHandler };

/**
 * The environment variables of the built-in handlers. The worker's config.ts
 * spreads this into its own spec, so they are decoded once with the rest.
 */
export const handlersEnv = {};

export type HandlersConfig = ConfigOf<typeof handlersEnv>;

export interface BuiltInDeps {
  config: HandlersConfig;
  /** For caches and ordering records; owned by the worker. */
  redis: RedisClient;
  queuePrefix: string;
  logger: Logger;
}

export interface BuiltIns {
  /** Every built-in by the name `HANDLERS` uses. */
  all: Record<string, AnyHandler>;
  /** The names that run when `HANDLERS` is unset. */
  defaults: string[];
}

/** Builds the built-in handlers from the decoded settings. */
export function createBuiltInHandlers(_deps: BuiltInDeps): BuiltIns {
  return { all: { log: logHandler }, defaults: ['log'] };
}
