import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeUnitRecord, handlerJobOptions, handlerReplayJobId, intakeJobId, onceKey } from '@vouchflow/pipeline';
import { Harness, delivery, settled, testHandler, waitForEvent } from './support.js';

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
])('side effects once (%s)', (_mode, inlineFirstTry) => {
  it('runs the distribution event and its project-level twin (one transaction) once', async () => {
    const email = testHandler('email');
    const worker = await h.start([email], { inlineFirstTry });
    const completed = settled(worker, 'email', { count: 2 });
    const firstDone = settled(worker, 'email');
    const first = delivery({ transactionId: 'vtx_twin_1' });
    const twin = delivery({ transactionId: 'vtx_twin_1', type: 'voucher.loyalty_card.points_added' });
    await h.send(first);
    const [done] = await firstDone;
    expect(done!.result).toEqual({ done: true });
    await h.send(twin);
    const results = await completed;
    expect(email.calls).toHaveLength(1);
    expect(results.map((r) => r.result)).toContainEqual({ skipped: expect.stringContaining('already done') });
  });

  it('runs twins arriving together once: the key is claimed atomically', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const email = testHandler('email', () => gate, { concurrency: 10 });
    const worker = await h.start([email], { inlineFirstTry });
    const events = await h.events('email');
    const completed = settled(worker, 'email', { count: 2 });
    const twins = [
      delivery({ transactionId: 'vtx_twin_2' }),
      delivery({ transactionId: 'vtx_twin_2', type: 'voucher.loyalty_card.points_added' }),
    ];
    await Promise.all(twins.map((d) => h.send(d)));
    // The second twin finds the claim taken and waits in the handler's queue while the first runs.
    await waitForEvent(events, 'delayed');
    expect(email.calls).toHaveLength(1);
    release();
    const results = await completed;
    expect(email.calls).toHaveLength(1);
    expect(results.filter((r) => JSON.stringify(r.result).includes('skipped'))).toHaveLength(1);
  });

  it('skips a re-sent event that slipped past intake deduplication', async () => {
    const email = testHandler('email');
    const worker = await h.start([email], { inlineFirstTry });
    const d = delivery();
    const first = waitForEvent(await h.events('intake'), 'completed');
    const unitJob = inlineFirstTry ? undefined : waitForEvent(await h.events('email'), 'completed');
    await h.send(d);
    await Promise.all([first, unitJob]);
    // As if the intake job (and the unit's job, when it had one) had aged out: the same event comes again.
    await h.intake.remove(intakeJobId(d.eventId));
    await h.handlerQueue('email').remove(`ev-${d.eventId}-email`);
    const again = settled(worker, 'email');
    await h.send(d);
    const [result] = await again;
    expect(result!.result).toEqual({ skipped: expect.stringContaining('already done') });
    expect(email.calls).toHaveLength(1);
  });

  it('runs an operator replay even though the fact was handled', async () => {
    const email = testHandler('email');
    const worker = await h.start([email], { inlineFirstTry });
    const d = delivery();
    const first = settled(worker, 'email');
    await h.send(d);
    await first;
    const replayed = settled(worker, 'email');
    const jobId = handlerReplayJobId(d.eventId, 'email', 'r1');
    await h.handlerQueue('email').add('run', { ...d, handler: 'email', replay: true }, handlerJobOptions(jobId));
    const [result] = await replayed;
    expect(result!.unitId).toBe(jobId);
    expect(email.calls).toHaveLength(2);
    expect(email.calls[1]!.ctx.idempotencyKey).toBe(email.calls[0]!.ctx.idempotencyKey);
  });

  it('gives the claim back when a try fails, and keeps done records for the window', async () => {
    const email = testHandler('email', (_ctx, call) => {
      if (call === 1) throw new Error('SMTP 451');
    });
    const worker = await h.start([email], { inlineFirstTry, onceWindowMs: 60_000 });
    const d = delivery({ transactionId: 'vtx_window' });
    const completed = settled(worker, 'email');
    await h.send(d);
    await completed;
    expect(email.calls).toHaveLength(2);
    const key = onceKey(h.prefix, 'vtx_window');
    expect(decodeUnitRecord(await h.redis.hget(key, 'email'), 'email')).toMatchObject({
      state: 'done',
      owner: `ev-${d.eventId}-email`,
      attempts: 2,
    });
    const ttl = await h.redis.pttl(key);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });
});
