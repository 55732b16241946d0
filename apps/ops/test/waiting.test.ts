import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE } from '@vouchflow/core';
import { RetryLaterError, type AnyHandler } from '@vouchflow/handler-kit';
import { createDeadLetterStore, openHandlerQueue, readHandlerRegistry, type RedisDeadLetterStore } from '@vouchflow/pipeline';
import { createOperations, type HandlerWork, type Operations } from '../src/operations.js';
import { Deployment, delivery } from './support.js';

/*
 * `events show` gives every waiting or delayed unit its reason and its next
 * run time, whatever holds it: a rate limit, a paused handler, a first try
 * that failed inline (the unit waits out its backoff as a job), a claim held
 * by another run.
 */
describe('why a unit waits', () => {
  const d = new Deployment();
  let deadLetters: RedisDeadLetterStore;
  let ops: Operations;
  const ran: string[] = [];
  const limited: AnyHandler = {
    name: 'limited',
    events: ['customer.voucher.loyalty_card.points_added'],
    rateLimit: { max: 1, durationMs: 10 * MINUTE },
    handle: async (event: { event: { id: string } }) => {
      ran.push(event.event.id);
    },
  } as AnyHandler;
  const flaky: AnyHandler = {
    name: 'flaky',
    events: ['customer.voucher.loyalty_card.points_added'],
    handle: async () => {
      throw new Error('ECONNRESET from the CRM');
    },
  };
  const held: AnyHandler = { name: 'held', events: ['customer.voucher.loyalty_card.points_added'], handle: async () => {} };

  const unit = async (eventId: string, handler: string): Promise<HandlerWork | undefined> =>
    (await ops.showEvent(eventId)).handlers.find((h) => h.handler === handler);

  beforeAll(async () => {
    await d.start([limited, flaky, held], { inlineFirstTry: true, maxAttempts: 3, backoffMs: 10 * MINUTE, maxBackoffMs: 10 * MINUTE });
    deadLetters = createDeadLetterStore({ connection: d.redis, queuePrefix: d.prefix });
    ops = createOperations({
      connection: d.redis,
      queuePrefix: d.prefix,
      deadLetters,
      handlers: () => readHandlerRegistry(d.redis, d.prefix),
    });
  });

  afterAll(async () => {
    await ops.close();
    await deadLetters.close();
    await d.cleanup();
  });

  it('names the rate limit, the paused handler and the failed first try, each with when it runs next', async () => {
    const sawPaused = d.sawPause('held', true);
    await ops.pauseHandler('held');
    await sawPaused;
    const first = delivery();
    const second = delivery();
    await d.send(first);
    await expect.poll(() => ran, { timeout: 20_000 }).toEqual([first.eventId]);
    await d.send(second);
    const before = Date.now();

    await expect.poll(async () => (await unit(second.eventId, 'limited'))?.reason, { timeout: 20_000 }).toBe('rate limited');
    const rateLimited = (await unit(second.eventId, 'limited'))!;
    expect(rateLimited.state).toBe('waiting');
    expect(rateLimited.nextRunAt).toBeGreaterThan(before + 8 * MINUTE);

    const failed = (await unit(second.eventId, 'flaky'))!;
    expect(failed).toMatchObject({ state: 'delayed', reason: 'retry after failure: ECONNRESET from the CRM' });
    expect(failed.nextRunAt).toBeGreaterThan(before);

    const paused = (await unit(second.eventId, 'held'))!;
    expect(paused).toMatchObject({ state: 'waiting', reason: 'handler paused: runs after `pnpm ops resume held`', nextRunAt: null });

    const resumed = d.sawPause('held', false);
    await ops.resumeHandler('held');
    await resumed;
    await expect.poll(async () => (await unit(second.eventId, 'held'))?.state, { timeout: 20_000 }).toBe('completed');
    expect((await unit(second.eventId, 'held'))?.nextRunAt).toBeNull();
  });
});

describe('why a unit waits, from its job', () => {
  const d = new Deployment();
  let deadLetters: RedisDeadLetterStore;
  let ops: Operations;
  const tries = new Map<string, number>();
  // First asks to retry a moment later, then fails: the reason shown is the failure's, not the postponement's.
  const hubspot: AnyHandler = {
    name: 'hubspot',
    events: ['customer.voucher.loyalty_card.points_added'],
    handle: async (event: { event: { id: string } }) => {
      const n = (tries.get(event.event.id) ?? 0) + 1;
      tries.set(event.event.id, n);
      if (n === 1) throw new RetryLaterError('HubSpot rate limit (429)', { delayMs: 10 * MINUTE });
      throw new Error('HubSpot 503: Service Unavailable');
    },
  } as AnyHandler;

  beforeAll(async () => {
    await d.start([hubspot], { inlineFirstTry: false, maxAttempts: 3, backoffMs: 10 * MINUTE, maxBackoffMs: 10 * MINUTE });
    deadLetters = createDeadLetterStore({ connection: d.redis, queuePrefix: d.prefix });
    ops = createOperations({
      connection: d.redis,
      queuePrefix: d.prefix,
      deadLetters,
      handlers: () => readHandlerRegistry(d.redis, d.prefix),
    });
  });

  afterAll(async () => {
    await ops.close();
    await deadLetters.close();
    await d.cleanup();
  });

  it('gives a postponed job the RetryLaterError’s message, and a failed try BullMQ’s reason', async () => {
    const sent = delivery();
    const before = Date.now();
    await d.send(sent);
    const unit = async () => (await ops.showEvent(sent.eventId)).handlers.find((h) => h.handler === 'hubspot');
    await expect.poll(async () => (await unit())?.reason, { timeout: 20_000 }).toBe('HubSpot rate limit (429)');
    const postponed = (await unit())!;
    expect(postponed.state).toBe('delayed');
    expect(postponed.nextRunAt).toBeGreaterThan(before + 9 * MINUTE);

    // Run it now (the dashboard's promote): this try fails, and waits out its backoff.
    const queue = openHandlerQueue('hubspot', { connection: d.redis, queuePrefix: d.prefix });
    try {
      await (await queue.getJob(postponed.jobId))!.promote();
    } finally {
      await queue.close();
    }
    await expect
      .poll(async () => (await unit())?.reason, { timeout: 20_000 })
      .toBe('retry after failure: HubSpot 503: Service Unavailable');
    const failed = (await unit())!;
    expect(failed).toMatchObject({ state: 'delayed', errors: ['Error: HubSpot 503: Service Unavailable'] });
    expect(failed.nextRunAt).toBeGreaterThan(Date.now() + MINUTE);
  });
});

describe('why a unit waits, behind an open circuit', () => {
  const d = new Deployment();
  let deadLetters: RedisDeadLetterStore;
  let ops: Operations;
  const crm: AnyHandler = {
    name: 'crm',
    events: ['customer.voucher.loyalty_card.points_added'],
    circuit: { failures: 1, windowMs: MINUTE, cooldownMs: 10 * MINUTE },
    handle: async () => {
      throw new Error('HubSpot 503: Service Unavailable');
    },
  };

  beforeAll(async () => {
    await d.start([crm], { inlineFirstTry: true, maxAttempts: 3, backoffMs: 10 * MINUTE, maxBackoffMs: 10 * MINUTE });
    deadLetters = createDeadLetterStore({ connection: d.redis, queuePrefix: d.prefix });
    ops = createOperations({
      connection: d.redis,
      queuePrefix: d.prefix,
      deadLetters,
      handlers: () => readHandlerRegistry(d.redis, d.prefix),
    });
  });

  afterAll(async () => {
    await ops.close();
    await deadLetters.close();
    await d.cleanup();
  });

  it('says "circuit open" for a unit held by its handler’s breaker, with when it is tried next', async () => {
    const first = delivery();
    const second = delivery();
    const unit = async (eventId: string) => (await ops.showEvent(eventId)).handlers.find((h) => h.handler === 'crm');
    await d.send(first);
    // One failure opens this breaker; the next unit is held, not tried.
    await expect.poll(async () => (await unit(first.eventId))?.state, { timeout: 20_000 }).toBe('delayed');
    await d.send(second);
    await expect.poll(async () => (await unit(second.eventId))?.reason, { timeout: 20_000 }).toBe('circuit open');
    const held = (await unit(second.eventId))!;
    expect(held).toMatchObject({ state: 'delayed', attemptsMade: 0 });
    expect(held.nextRunAt).toBeGreaterThan(Date.now());
    const [row] = await ops.findEvents({
      customer: (JSON.parse(second.body) as { data: { customer: { id: string } } }).data.customer.id,
      limit: 1,
    });
    expect(row?.handlers).toEqual([expect.objectContaining({ handler: 'crm', outcome: 'delayed', reason: 'circuit open' })]);
  });
});
