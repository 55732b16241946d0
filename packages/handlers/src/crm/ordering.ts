import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DAY, MILLISECOND, projectKey, SECOND, type RedisClient } from '@vouchflow/core';
import { RetryLaterError } from '@vouchflow/handler-kit';

/*
 * Events arrive out of order (Voucherify retries with backoff), so the CRM
 * must not take an older balance over a newer one. Per customer we keep the
 * occurrence time of the last change written. Jobs of one customer are
 * serialised by a short lock, so "check, write to HubSpot, record" cannot
 * interleave with another job's; the record itself is a compare-and-set in
 * Lua, so it only ever moves forward even if a lock expired.
 */

const SET_IF_NEWER = `
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Longer than Voucherify's 2.5 days of retries, with room for dead-letter replays. */
const RECORD_TTL = 30 * DAY;
const LOCK_POLL = 100 * MILLISECOND;
const LOCK_WAIT = 2 * SECOND;

export interface CustomerOrdering {
  /** The occurrence time (ms) of the last change applied for a customer, if any. */
  lastApplied(customerId: string): Promise<number | undefined>;
  /** Records `occurredAtMs` unless a newer one is there; false when it was older. */
  recordApplied(customerId: string, occurredAtMs: number): Promise<boolean>;
  /**
   * Runs `work` while holding the customer's lock. Waits a little for a busy
   * lock, then asks the worker to retry later (the attempt is not spent).
   */
  withLock<T>(customerId: string, lockMs: number, signal: AbortSignal, work: () => Promise<T>): Promise<T>;
}

export function createCustomerOrdering(redis: RedisClient, queuePrefix: string, name: string): CustomerOrdering {
  const appliedKey = (id: string) => projectKey(queuePrefix, name, 'applied', id);
  const lockKey = (id: string) => projectKey(queuePrefix, name, 'lock', id);
  return {
    async lastApplied(customerId) {
      const value = await redis.get(appliedKey(customerId));
      return value === null ? undefined : Number(value);
    },
    async recordApplied(customerId, occurredAtMs) {
      const done = await redis.eval(SET_IF_NEWER, 1, appliedKey(customerId), String(occurredAtMs), String(RECORD_TTL));
      return done === 1;
    },
    async withLock(customerId, lockMs, signal, work) {
      const key = lockKey(customerId);
      const token = randomUUID();
      const deadline = Date.now() + LOCK_WAIT;
      while ((await redis.set(key, token, 'PX', lockMs, 'NX')) !== 'OK') {
        if (Date.now() >= deadline) {
          throw new RetryLaterError(`another update of customer ${customerId} is in progress`, { delayMs: SECOND });
        }
        await sleep(LOCK_POLL, undefined, { signal });
      }
      try {
        return await work();
      } finally {
        await redis.eval(RELEASE, 1, key, token);
      }
    },
  };
}
