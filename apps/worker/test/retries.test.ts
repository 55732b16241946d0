import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PermanentError, RetryLaterError } from '@vouchflow/handler-kit';
import { createDeadLetterStore } from '@vouchflow/pipeline';
import { Harness, delivery, settled, testHandler, waitForEvent } from './support.js';

let h: Harness;
beforeEach(() => {
  h = new Harness();
});
afterEach(async () => {
  await h.cleanup();
});

const gaps = (calls: Array<{ at: number }>) => calls.slice(1).map((c, i) => c.at - calls[i]!.at);

describe.each([
  ['first try inline', true],
  ['every unit queued', false],
])('retries (%s)', (_mode, inlineFirstTry) => {
  it('tries exactly MAX_ATTEMPTS times with exponential, jittered backoff, then dead-letters', async () => {
    const failing = testHandler('flaky', () => {
      throw new Error('CRM answered 503');
    });
    await h.start([failing], { inlineFirstTry, maxAttempts: 4, backoffMs: 200 });
    const events = await h.events('flaky');
    const failed = waitForEvent(events, 'failed');
    const d = delivery();
    await h.send(d);
    await failed;

    expect(failing.calls.map((c) => c.ctx.attempt)).toEqual([1, 2, 3, 4]);
    const observed = gaps(failing.calls);
    [200, 400, 800].forEach((full, i) => {
      // Jitter takes up to a quarter off; allow scheduling slack above.
      expect(observed[i]).toBeGreaterThanOrEqual(full * 0.75 - 20);
      expect(observed[i]).toBeLessThan(full + 400);
    });
    const store = createDeadLetterStore({ connection: h.redis, queuePrefix: h.prefix });
    h.onClose(() => store.close());
    const [dead] = await store.list();
    expect(dead).toMatchObject({ eventId: d.eventId, handler: 'flaky', attempts: 4, reason: 'CRM answered 503', delivery: d.body });
    expect(dead!.stack).toContain('CRM answered 503');
    expect(dead!.firstFailedAt).toBeLessThanOrEqual(dead!.lastFailedAt);
    expect(dead!.lastFailedAt - dead!.firstFailedAt).toBeGreaterThanOrEqual(1000);
  });

  it('caps the backoff', async () => {
    const failing = testHandler('capped', () => {
      throw new Error('down');
    });
    await h.start([failing], { inlineFirstTry, maxAttempts: 4, backoffMs: 100, maxBackoffMs: 150 });
    const failed = waitForEvent(await h.events('capped'), 'failed');
    await h.send(delivery());
    await failed;
    for (const gap of gaps(failing.calls)) expect(gap).toBeLessThan(150 + 400);
    expect(gaps(failing.calls)[2]).toBeGreaterThanOrEqual(150 * 0.75 - 20);
  });

  it('dead-letters a PermanentError after one attempt', async () => {
    const permanent = testHandler('strict', () => {
      throw new PermanentError('422: contact has no e-mail');
    });
    await h.start([permanent], { inlineFirstTry, maxAttempts: 8 });
    const failed = waitForEvent(await h.events('strict'), 'failed');
    const d = delivery();
    await h.send(d);
    await failed;
    expect(permanent.calls).toHaveLength(1);
    const store = createDeadLetterStore({ connection: h.redis, queuePrefix: h.prefix });
    h.onClose(() => store.close());
    const dead = await store.get(`handler-strict/ev-${d.eventId}-strict`);
    expect(dead).toMatchObject({ attempts: 1, handler: 'strict', reason: 'PermanentError: 422: contact has no e-mail' });
    expect(dead!.stack).toContain('PermanentError');
  });

  it('retries after a RetryLaterError without spending an attempt', async () => {
    const limited = testHandler('limited', (_ctx, call) => {
      if (call <= 3) throw new RetryLaterError('429', { delayMs: 150 });
    });
    // One attempt only: a spent attempt would dead-letter it.
    const worker = await h.start([limited], { inlineFirstTry, maxAttempts: 1 });
    const completed = settled(worker, 'limited');
    await h.send(delivery());
    await completed;
    expect(limited.calls.map((c) => c.ctx.attempt)).toEqual([1, 1, 1, 1]);
    for (const gap of gaps(limited.calls)) expect(gap).toBeGreaterThanOrEqual(140);
  });

  it('aborts a handler at its timeout and counts the try as failed', async () => {
    let aborted = 0;
    const slow = testHandler(
      'slow',
      (ctx) =>
        new Promise<void>((resolve) =>
          ctx.signal.addEventListener('abort', () => {
            aborted++;
            resolve();
          }),
        ),
      { timeoutMs: 100 },
    );
    await h.start([slow], { inlineFirstTry, maxAttempts: 2, backoffMs: 10 });
    const failed = waitForEvent<{ jobId: string; failedReason: string }>(await h.events('slow'), 'failed');
    await h.send(delivery());
    const [event] = await failed;
    expect(slow.calls).toHaveLength(2);
    expect(aborted).toBe(2);
    expect(event!.failedReason).toContain('did not finish within 100 ms');
  });

  it('keeps one handler failing apart from another that succeeds once', async () => {
    const crm = testHandler('crm', () => {
      throw new Error('CRM down');
    });
    const email = testHandler('email');
    const worker = await h.start([crm, email], { inlineFirstTry, maxAttempts: 3, backoffMs: 20 });
    const crmFailed = waitForEvent(await h.events('crm'), 'failed');
    const emailDone = settled(worker, 'email');
    const d = delivery();
    await h.send(d);
    await Promise.all([crmFailed, emailDone]);
    expect(crm.calls).toHaveLength(3);
    expect(email.calls).toHaveLength(1);
    expect(email.calls[0]!.ctx.idempotencyKey).toBe(`email:${JSON.parse(d.body).data.transaction.id}`);
    expect(email.calls[0]!.ctx.occurredAt.toISOString()).toBe(JSON.parse(d.body).data.transaction.created_at);
  });
});
