import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';

export type QueueEventName = 'completed' | 'failed' | 'delayed' | 'waiting' | 'active' | 'stalled';

/**
 * Resolves with the first `count` events `name` on `qe` matching `test`;
 * rejects after `timeoutMs`, saying how many it saw. Tests wait on this
 * instead of sleeping.
 */
export function waitForEvent<A extends { jobId: string }>(
  qe: QueueEvents,
  name: QueueEventName,
  test: (args: A) => boolean = () => true,
  { count = 1, timeoutMs = 15_000 } = {},
): Promise<A[]> {
  return new Promise((resolvePromise, reject) => {
    const seen: A[] = [];
    const listener = (args: A) => {
      if (!test(args)) return;
      seen.push(args);
      if (seen.length >= count) {
        clearTimeout(timer);
        qe.off(name, listener as never);
        resolvePromise(seen);
      }
    };
    const timer = setTimeout(() => {
      qe.off(name, listener as never);
      reject(new Error(`no ${count}× "${name}" on ${qe.name} within ${timeoutMs} ms (saw ${seen.length})`));
    }, timeoutMs);
    qe.on(name, listener as never);
  });
}

/**
 * BullMQ events of a deployment's queue on a connection of its own, every
 * event from the moment of this call on. Given connection options rather
 * than a client, QueueEvents owns its blocking connection and closes it with
 * itself. The caller closes it.
 */
export async function openQueueEvents(url: string, bullPrefix: string, queueName: string): Promise<QueueEvents> {
  const { hostname, port } = new URL(url);
  const connection = { host: hostname, port: Number(port || 6379) };
  // Left to itself, QueueEvents reads from `$`: the stream's end when its first
  // XREAD reaches Redis, a round trip after waitUntilReady() resolves. An
  // event added in between (a job that goes active as soon as the test sends
  // it) was never seen, and the wait for it ran out. Start from the
  // entries added from now on instead: a stream entry's id is the Redis clock's
  // millisecond it was added in, so the id of Redis's "now" is that point.
  const lastEventId = await redisNowId(connection);
  const qe = new QueueEvents(queueName, { connection, prefix: bullPrefix, lastEventId });
  await qe.waitUntilReady();
  return qe;
}

/**
 * A stream id for Redis's current millisecond, less one: XREAD returns what
 * comes after it, so every entry added from now on (and a few of this very
 * millisecond, harmless to a waiter that matches what it waits for).
 */
async function redisNowId(connection: { host: string; port: number }): Promise<string> {
  const redis = new Redis(connection);
  try {
    const [seconds, micros] = await redis.time();
    return `${Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - 1}-0`;
  } finally {
    await redis.quit();
  }
}
