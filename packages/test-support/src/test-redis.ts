import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/** The Redis every test shares: REDIS_URL when given, else the private server the global setup started. */
export const testRedisUrl = (): string => inject('redisUrl');
