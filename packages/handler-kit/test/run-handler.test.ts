import { describe, expect, it } from 'vitest';
import { defineHandler, isKnownEvent, PermanentError, RetryLaterError, subscribesTo } from '@vouchflow/handler-kit';
import { fixtureNames, loadFixture, runHandler } from '@vouchflow/handler-kit/testing';

const pointsAdded = defineHandler({
  name: 'probe',
  events: ['customer.voucher.loyalty_card.points_added'],
  async handle(event, ctx) {
    ctx.logger.info('seen', { points: event.data.balance.points, key: ctx.idempotencyKey });
    if (event.data.balance.points > 1000) return { skipped: 'too many points' };
  },
});

describe('runHandler', () => {
  it('runs a handler against a shipped fixture with a real context and captures its log lines', async () => {
    const run = await runHandler(pointsAdded, 'points_added');
    expect(run.status).toBe('done');
    expect(run.event.event.type).toBe('customer.voucher.loyalty_card.points_added');
    expect(run.ctx.idempotencyKey).toBe('probe:vtx_0e6d44043e9e51d377');
    expect(run.ctx.occurredAt.toISOString()).toBe('2024-03-11T15:27:44.884Z');
    expect(run.ctx.attempt).toBe(1);
    expect(run.ctx.inDoubt).toBe(false);
    expect(run.ctx.signal).toBeInstanceOf(AbortSignal);
    expect(run.logs).toEqual([
      expect.objectContaining({ level: 'info', message: 'seen', points: 40, handler: 'probe', eventId: 'evcus_0e6d44043e9e51d3aa' }),
    ]);
  });

  it('reports a skipped outcome with its reason', async () => {
    const delivery = loadFixture<{ data: { balance: { points: number } } }>('points_added');
    delivery.data.balance.points = 5000;
    const run = await runHandler(pointsAdded, delivery);
    expect(run.status).toBe('skipped');
    if (run.status === 'skipped') expect(run.skipped).toBe('too many points');
  });

  it('classifies errors the way the worker treats them', async () => {
    const throwing = (error: unknown) => ({
      name: 'thrower',
      events: ['customer.voucher.loyalty_card.*'],
      handle: async () => {
        throw error;
      },
    });
    const permanent = await runHandler(throwing(new PermanentError('bad payload')), 'points_added');
    expect(permanent).toMatchObject({ status: 'failed', errorKind: 'permanent', error: { message: 'bad payload' } });
    const later = await runHandler(throwing(new RetryLaterError('busy', { delayMs: 2500 })), 'points_added');
    expect(later).toMatchObject({ status: 'failed', errorKind: 'retry-later', retryAfterMs: 2500 });
    const retryable = await runHandler(throwing('a string'), 'points_expired');
    expect(retryable).toMatchObject({ status: 'failed', errorKind: 'retryable', error: { message: 'a string' } });
  });

  it('runs a plain-JavaScript handler that uses ctx.errors instead of imports', async () => {
    const plain = {
      name: 'plain',
      events: ['*'],
      async handle(_event: unknown, ctx: { errors: { PermanentError: typeof PermanentError } }) {
        throw new ctx.errors.PermanentError('nope');
      },
    };
    const run = await runHandler(plain, 'points_expired');
    expect(run).toMatchObject({ status: 'failed', errorKind: 'permanent' });
  });

  it('aborts ctx.signal after the timeout, like the worker', async () => {
    const slow = {
      name: 'slow',
      events: ['*'],
      timeoutMs: 50,
      handle: (_event: unknown, ctx: { signal: AbortSignal }) =>
        new Promise<void>((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error))),
    };
    const run = await runHandler(slow, 'points_added');
    expect(run).toMatchObject({ status: 'failed', errorKind: 'retryable', error: { name: 'TimeoutError' } });
  });

  it('refuses a delivery the handler does not subscribe to, and one that does not decode', async () => {
    await expect(runHandler(pointsAdded, 'points_expired')).rejects.toThrow(
      /does not subscribe to customer.voucher.loyalty_card.points_expired/,
    );
    await expect(runHandler(pointsAdded, { id: 'x' })).rejects.toThrow(/does not decode/);
  });

  it('hands an event type without a codec to a pattern handler, data untyped, and never to an exact name', async () => {
    const referrals = defineHandler({
      name: 'referrals',
      events: ['customer.*'],
      async handle(event, ctx) {
        if (isKnownEvent(event)) return { skipped: 'known' };
        const data = event.data as { customer?: { id?: unknown } };
        ctx.logger.info('referred', { type: event.event.type, customerId: data.customer?.id });
      },
    });
    const delivery = loadFixture<{ event: { type: string } }>('points_added');
    delivery.event.type = 'customer.referred';
    const run = await runHandler(referrals, delivery);
    expect(run.status).toBe('done');
    expect(run.ctx.idempotencyKey).toBe('referrals:vtx_0e6d44043e9e51d377');
    expect(run.logs).toEqual([
      expect.objectContaining({ message: 'referred', type: 'customer.referred', customerId: 'cust_2p0TvCOvB25HWUrW9JFf4czJ' }),
    ]);
    await expect(runHandler(pointsAdded, delivery)).rejects.toThrow(/does not subscribe to customer.referred/);
  });

  it('lists the shipped fixtures and explains a missing one', () => {
    expect(fixtureNames()).toEqual(expect.arrayContaining(['points_added', 'points_expired']));
    expect(() => loadFixture('nope')).toThrow(/No fixture "nope".*points_added/);
  });
});

describe('subscribesTo', () => {
  it('matches names and prefix patterns', () => {
    expect(subscribesTo(['*'], 'anything')).toBe(true);
    expect(subscribesTo(['customer.voucher.*'], 'customer.voucher.loyalty_card.points_added')).toBe(true);
    expect(subscribesTo(['voucher.loyalty_card.points_added'], 'customer.voucher.loyalty_card.points_added')).toBe(false);
  });
});

describe('runHandler with inDoubt, as the worker runs a unit in doubt', () => {
  const effects: string[] = [];
  const downstream = new Set<string>();
  const checked = defineHandler({
    name: 'checked',
    events: ['customer.voucher.loyalty_card.points_added'],
    async handle(event, ctx) {
      effects.push(ctx.idempotencyKey);
      downstream.add(ctx.idempotencyKey);
    },
    async wasDone(event, ctx) {
      if (ctx.attempt === 13) throw new RetryLaterError('downstream busy', { delayMs: 5_000 });
      return downstream.has(ctx.idempotencyKey);
    },
  });

  it('asks wasDone first: false runs handle, true ends the run without it', async () => {
    effects.length = 0;
    downstream.clear();
    const first = await runHandler(checked, 'points_added', { inDoubt: true });
    expect(first).toMatchObject({ status: 'done', wasDone: false });
    expect(first.ctx.inDoubt).toBe(true);
    expect(effects).toEqual(['checked:vtx_0e6d44043e9e51d377']);
    const again = await runHandler(checked, 'points_added', { inDoubt: true });
    expect(again).toMatchObject({ status: 'skipped', wasDone: true });
    expect(effects).toHaveLength(1);
  });

  it('never asks wasDone outside doubt, and a throwing wasDone fails the run without handle', async () => {
    effects.length = 0;
    downstream.add('checked:vtx_0e6d44043e9e51d377');
    const plain = await runHandler(checked, 'points_added');
    expect(plain.status).toBe('done');
    expect(plain.wasDone).toBeUndefined();
    expect(effects).toHaveLength(1);
    const failing = await runHandler(checked, 'points_added', { inDoubt: true, attempt: 13 });
    expect(failing).toMatchObject({ status: 'failed', errorKind: 'retry-later', retryAfterMs: 5_000 });
    expect(failing.wasDone).toBeUndefined();
    expect(effects).toHaveLength(1);
  });

  it('runs handle, told it is in doubt, when the handler has no wasDone', async () => {
    const run = await runHandler(pointsAdded, 'points_added', { inDoubt: true });
    expect(run).toMatchObject({ status: 'done' });
    expect(run.ctx.inDoubt).toBe(true);
    expect(run.wasDone).toBeUndefined();
  });
});
