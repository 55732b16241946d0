import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Harness, delivery, settled, testHandler } from './support.js';
import { backoffDelay } from '../src/backoff.js';
import { Semaphore } from '../src/semaphore.js';

let h: Harness;
beforeEach(() => {
  h = new Harness();
});
afterEach(async () => {
  await h.cleanup();
});

describe('limits', () => {
  it('never runs more units of a handler at once than its concurrency, inline and queued together', async () => {
    let running = 0;
    let most = 0;
    const crm = testHandler(
      'crm',
      async () => {
        most = Math.max(most, ++running);
        await new Promise((r) => setTimeout(r, 30));
        running--;
      },
      { concurrency: 2 },
    );
    const worker = await h.start([crm], { intakeConcurrency: 10 });
    const done = settled(worker, 'crm', { count: 12 });
    for (let i = 0; i < 12; i++) await h.send(delivery());
    await done;
    expect(most).toBe(2);
  });

  it('sends a rate-limited handler through its queue, at its rate', async () => {
    const limited = testHandler('limited', undefined, { rateLimit: { max: 2, durationMs: 400 } });
    const worker = await h.start([limited]);
    const done = settled(worker, 'limited', { count: 5 });
    for (let i = 0; i < 5; i++) await h.send(delivery());
    await done;
    const at = limited.calls.map((c) => c.at);
    // Five runs at two per 400 ms span at least two full windows.
    expect(at.at(-1)! - at[0]!).toBeGreaterThanOrEqual(2 * 400 - 50);
  });
});

describe('backoff and permits', () => {
  it('doubles from the base, caps, and jitters down by at most a quarter', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, 100, 1000, () => 0))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(10, 100, 1000, () => 0)).toBe(1000);
    expect(backoffDelay(3, 100, 1000, () => 1)).toBe(300);
  });

  it('hands permits out first come, first served', async () => {
    const permits = new Semaphore(1);
    expect(permits.tryAcquire()).toBe(true);
    expect(permits.tryAcquire()).toBe(false);
    const order: number[] = [];
    const a = permits.acquire().then(() => order.push(1));
    const b = permits.acquire().then(() => order.push(2));
    permits.release();
    await a;
    permits.release();
    await b;
    expect(order).toEqual([1, 2]);
    permits.release();
    expect(permits.tryAcquire()).toBe(true);
  });
});
