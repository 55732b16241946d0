import { QueueEvents } from 'bullmq';

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
 * BullMQ events of a deployment's queue on a connection of its own. Given
 * connection options rather than a client, QueueEvents owns its blocking
 * connection and closes it with itself. The caller closes it.
 */
export async function openQueueEvents(url: string, bullPrefix: string, queueName: string): Promise<QueueEvents> {
  const { hostname, port } = new URL(url);
  const qe = new QueueEvents(queueName, { connection: { host: hostname, port: Number(port || 6379) }, prefix: bullPrefix });
  await qe.waitUntilReady();
  return qe;
}
