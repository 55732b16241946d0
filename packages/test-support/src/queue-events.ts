import { QueueEvents, QueueKeys } from 'bullmq';
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
  // it) was never seen, and the wait for it ran out. Start from the stream's
  // last entry as of now instead.
  const lastEventId = await lastEntryId(connection, new QueueKeys(bullPrefix).toKey(queueName, 'events'));
  const qe = new QueueEvents(queueName, { connection, prefix: bullPrefix, lastEventId });
  await qe.waitUntilReady();
  return qe;
}

/** The id of a stream's last entry; `0-0` (before any entry) when it has none or does not exist yet. */
async function lastEntryId(connection: { host: string; port: number }, key: string): Promise<string> {
  const redis = new Redis(connection);
  try {
    const [last] = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
    return last?.[0] ?? '0-0';
  } finally {
    await redis.quit();
  }
}
