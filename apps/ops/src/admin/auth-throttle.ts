import { LRUCache } from 'lru-cache';
import { MINUTE } from '@vouchflow/core';

/**
 * Failed authentications per client, whichever way they came (a wrong bearer
 * token or a wrong password in the login form): guessing is slowed down the
 * same on both doors. Memory is bounded twice over: entries expire with
 * their window, and past `maxClients` the least recently seen client is
 * forgotten, so a flood of new addresses cannot grow it.
 */
export interface AuthThrottle {
  /** True while `client` has used up its failures for the current window: answer 429, check nothing. */
  blocked(client: string): boolean;
  /** Counts one failure of `client`. */
  failed(client: string): void;
  /** A success forgets `client`'s failures. */
  succeeded(client: string): void;
  /** Clients remembered now (for tests and metrics). */
  readonly size: number;
}

export interface AuthThrottleOptions {
  /** Failures allowed per client and window. @defaultValue 10 */
  maxFailures?: number;
  /** @defaultValue 1 minute */
  windowMs?: number;
  /** Most clients remembered at once. @defaultValue 10000 */
  maxClients?: number;
  /** @defaultValue Date.now */
  now?: () => number;
}

interface Entry {
  count: number;
  resetAt: number;
}

export function createAuthThrottle(options: AuthThrottleOptions = {}): AuthThrottle {
  const maxFailures = options.maxFailures ?? 10;
  const windowMs = options.windowMs ?? MINUTE;
  const now = options.now ?? Date.now;
  const entries = new LRUCache<string, Entry>({ max: options.maxClients ?? 10_000, ttl: windowMs, perf: { now } });
  const current = (client: string): Entry | undefined => {
    const entry = entries.get(client);
    return entry && entry.resetAt > now() ? entry : undefined;
  };
  return {
    blocked: (client) => (current(client)?.count ?? 0) >= maxFailures,
    failed(client) {
      const entry = current(client) ?? { count: 0, resetAt: now() + windowMs };
      entry.count += 1;
      // The window runs from the first failure: later ones do not extend it.
      entries.set(client, entry, { ttl: Math.max(1, entry.resetAt - now()) });
    },
    succeeded(client) {
      entries.delete(client);
    },
    get size() {
      return entries.size;
    },
  };
}
