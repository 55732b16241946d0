import type { QueueEvents } from 'bullmq';

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
