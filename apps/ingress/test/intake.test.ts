import { describe, expect, it } from 'vitest';
import { uniquePrefix } from '@vouchflow/test-support';
import type { IntakeJobData } from '@vouchflow/pipeline';
import { createBatchingIntake } from '../src/intake.js';
import { newEventId, useTestQueue } from './support.js';

describe('batching intake against real Redis', () => {
  const prefix = uniquePrefix('intake-batch');
  const t = useTestQueue(prefix);

  const delivery = (eventId: string): IntakeJobData => ({ body: `{"event":{"id":"${eventId}"}}`, eventId, eventType: 't', receivedAt: 1 });

  it('sends a batch as soon as it is full, mid-turn, and the rest at the end of the turn', async () => {
    const sizes: number[] = [];
    const intake = createBatchingIntake({
      queue: t.queue,
      redis: t.redis,
      queuePrefix: prefix,
      dedupWindowMs: 60_000,
      timeoutMs: 5_000,
      maxBatch: 3,
      onBatch: (n) => sizes.push(n),
    });
    const ids = Array.from({ length: 7 }, newEventId);
    // Handed over in one synchronous run, as one event-loop turn's requests are.
    const results = Promise.all(ids.map((id) => intake.enqueue(delivery(id))));
    // The two full batches left before the turn ended; the last one waits for it.
    expect(sizes).toEqual([3, 3]);
    expect(await results).toEqual(Array(7).fill('accepted'));
    expect(sizes).toEqual([3, 3, 1]);
    expect(await t.queue.getWaitingCount()).toBe(7);
    await intake.close();
  });

  it('answers duplicate for a copy in a later batch of the same turn', async () => {
    const intake = createBatchingIntake({
      queue: t.queue,
      redis: t.redis,
      queuePrefix: prefix,
      dedupWindowMs: 60_000,
      timeoutMs: 5_000,
      maxBatch: 2,
    });
    const [a, b] = [newEventId(), newEventId()];
    const results = await Promise.all([a, b, a, b, a].map((id) => intake.enqueue(delivery(id))));
    expect(results).toEqual(['accepted', 'accepted', 'duplicate', 'duplicate', 'duplicate']);
    await intake.close();
  });
});
