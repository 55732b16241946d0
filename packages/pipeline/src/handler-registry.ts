import * as t from 'io-ts';
import { isRight } from 'fp-ts/lib/Either.js';
import { projectKey, type RedisClient } from '@vouchflow/core';

/**
 * What a worker process records about each handler it runs, so that tools
 * that run no handler (the operator CLI, the admin API, replay) know which
 * handler queues exist and what each subscribes to.
 */
export const RegisteredHandler = t.intersection(
  [
    t.type({ events: t.array(t.string) }),
    t.partial({
      /** Epoch milliseconds when a worker last started with this handler. */
      registeredAt: t.number,
      /** Tries per unit of work (the worker's MAX_ATTEMPTS); absent in entries written before it was recorded. */
      attempts: t.number,
      /** First retry delay in milliseconds (BACKOFF_MS); absent in older entries. */
      backoffMs: t.number,
      /** Longest retry delay in milliseconds; absent in older entries. */
      maxBackoffMs: t.number,
      /** Whether the handler has a `wasDone`, which the next run of a unit in doubt asks first; absent in older entries. */
      wasDone: t.boolean,
    }),
  ],
  'RegisteredHandler',
);
export type RegisteredHandler = t.TypeOf<typeof RegisteredHandler>;

/** The Redis hash of registered handlers: field = handler name, value = JSON {@link RegisteredHandler}. */
export const handlerRegistryKey = (queuePrefix: string): string => projectKey(queuePrefix, 'handlers');

/** How a worker retries each unit of work, recorded so that a replay retries the same way. */
export type RetrySettings = Required<Pick<RegisteredHandler, 'attempts' | 'backoffMs' | 'maxBackoffMs'>>;

/**
 * Records the handlers a worker runs, with its retry settings and whether
 * each has a `wasDone` (so `events show` can say what the next run of a unit
 * in doubt does). Entries are
 * never removed by workers: a handler taken out of `HANDLERS` may still own
 * dead letters an operator wants to see.
 */
export async function registerHandlers(
  redis: RedisClient,
  queuePrefix: string,
  handlers: ReadonlyArray<{ name: string; events: readonly string[]; wasDone?: unknown }>,
  retry?: RetrySettings,
  now = Date.now(),
): Promise<void> {
  if (handlers.length === 0) return;
  const fields = handlers.flatMap((h) => [
    h.name,
    JSON.stringify({
      events: [...h.events],
      registeredAt: now,
      ...retry,
      wasDone: typeof h.wasDone === 'function',
    } satisfies RegisteredHandler),
  ]);
  await redis.hset(handlerRegistryKey(queuePrefix), ...fields);
}

/** Every handler any worker of this deployment has registered, by name. Unreadable entries count as subscribing to nothing. */
export async function readHandlerRegistry(redis: RedisClient, queuePrefix: string): Promise<Map<string, RegisteredHandler>> {
  const raw = await redis.hgetall(handlerRegistryKey(queuePrefix));
  const out = new Map<string, RegisteredHandler>();
  for (const name of Object.keys(raw).sort()) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw[name] ?? '');
    } catch {
      parsed = undefined;
    }
    const decoded = RegisteredHandler.decode(parsed);
    out.set(name, isRight(decoded) ? decoded.right : { events: [] });
  }
  return out;
}
