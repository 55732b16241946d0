import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RetryLaterError } from '@vouchflow/handler-kit';
import { createDeadLetterStore } from '@vouchflow/pipeline';
import { Harness, delivery, testHandler, waitForEvent } from './support.js';

/*
 * RetryLaterError postpones a unit without spending an attempt, within
 * bounds: a delay of 400 digits waits MAX_RETRY_LATER_MS at most, and a
 * downstream answering 429 for ever costs an attempt every MAX_RETRY_LATER
 * postponements, so the unit ends as a dead letter instead of looping.
 */

let h: Harness;
beforeEach(() => {
  h = new Harness();
});
afterEach(async () => {
  await h.cleanup();
});

describe.each([
  ['first try inline', true],
  ['every unit queued', false],
])('RetryLaterError limits (%s)', (_mode, inlineFirstTry) => {
  it('a 429 for ever, with a Retry-After of 400 digits, ends as a dead letter after bounded postponements', async () => {
    const forever = testHandler('forever', () => {
      throw new RetryLaterError('429 Too Many Requests', { delayMs: Number('9'.repeat(400)) * 1000 });
    });
    await h.start([forever], { inlineFirstTry, maxAttempts: 2, backoffMs: 10, retryLater: { maxDelayMs: 20, maxInARow: 3 } });
    // BullMQ announces "failed" once, when the unit is out of attempts (a dead letter).
    const failed = waitForEvent<{ jobId: string; failedReason: string }>(await h.events('forever'), 'failed', undefined, {
      timeoutMs: 20_000,
    });
    const d = delivery();
    await h.send(d);
    const [last] = await failed;
    expect(last!.failedReason).toMatch(/asked to retry later 3 times in a row \(MAX_RETRY_LATER\).*429 Too Many Requests/);
    // Two attempts, three postponements each; every wait was the 20 ms cap, not the 400-digit one.
    expect(forever.calls).toHaveLength(6);
    expect(forever.calls.map((c) => c.ctx.attempt)).toEqual([1, 1, 1, 2, 2, 2]);

    const store = createDeadLetterStore({ connection: h.redis, queuePrefix: h.prefix });
    h.onClose(() => store.close());
    const [dead] = await store.list();
    expect(dead).toMatchObject({ handler: 'forever', eventId: d.eventId });
  });
});
