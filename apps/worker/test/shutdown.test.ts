import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Harness, delivery, settled, testHandler, waitForEvent } from './support.js';

let h: Harness;
beforeEach(() => {
  h = new Harness();
});
afterEach(async () => {
  await h.cleanup();
});

describe('graceful shutdown', () => {
  it('finishes jobs in flight, takes no new ones, and the rest run after a restart: nothing lost, nothing twice', async () => {
    const effects: string[] = [];
    let firstStarted!: () => void;
    const someStarted = new Promise<void>((r) => (firstStarted = r));
    const slow = () =>
      testHandler(
        'email',
        async (ctx) => {
          firstStarted();
          await new Promise((r) => setTimeout(r, 150));
          effects.push(ctx.idempotencyKey);
        },
        { concurrency: 4 },
      );
    const before = slow();
    // Few deliveries at a time, so most are still waiting when the worker stops.
    const first = await h.start([before], { intakeConcurrency: 2 });
    const completedFirst = settled(first, 'email', { count: 1 });
    const sent = Array.from({ length: 20 }, () => delivery());
    for (const d of sent) await h.send(d);
    await someStarted;
    await first.close();
    // Every run that started also finished before close() resolved.
    expect(effects).toHaveLength(before.calls.length);
    expect(before.calls.length).toBeGreaterThan(0);
    expect(before.calls.length).toBeLessThan(20);
    expect(await h.handlerQueue('email').getActiveCount()).toBe(0);

    await completedFirst;
    const second = await h.start([slow()]);
    await settled(second, 'email', { count: 20 - effects.length, timeoutMs: 30_000 });
    expect(effects).toHaveLength(20);
    expect(new Set(effects).size).toBe(20);
  });

  it('aborts handlers that outlive the grace period; they go back without spending an attempt', async () => {
    let running!: () => void;
    const started = new Promise<void>((r) => (running = r));
    const stuck = testHandler('crm', (ctx) => {
      running();
      return new Promise<void>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)));
    });
    const first = await h.start([stuck], { shutdownGraceMs: 100, maxAttempts: 1 });
    const d = delivery();
    const queued = waitForEvent(await h.events('crm'), 'waiting');
    await h.send(d);
    // The handler itself is running (not only its delivery taken) when the worker stops.
    await started;
    await first.close();
    expect(stuck.calls).toHaveLength(1);
    // The aborted first try became a job of the handler's queue.
    await queued;
    const job = await h.handlerQueue('crm').getJob(`ev-${d.eventId}-crm`);
    expect(job!.attemptsMade).toBe(0);

    const working = testHandler('crm');
    const completed = waitForEvent(await h.events('crm'), 'completed');
    await h.start([working], { maxAttempts: 1 });
    await completed;
    expect(working.calls.map((c) => c.ctx.attempt)).toEqual([1]);
  });
});
