import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEvents } from 'bullmq';
import type { AnyHandler } from '@vouchflow/handler-kit';
import {
  createDeadLetterStore,
  handlerJobId,
  handlerRegistryKey,
  intakeJobId,
  onceKey,
  openHandlerQueue,
  readHandlerRegistry,
  type IntakeJobData,
  type RedisDeadLetterStore,
} from '@vouchflow/pipeline';
import { createOperations, type Operations } from '../src/operations.js';
import { Deployment, delivery, switchableHandler, undecodable, waitForEvents } from './support.js';

/** Another event reporting the same loyalty transaction (the project webhook's twin of a distribution's event). */
function twinOf(original: IntakeJobData, eventId: string): IntakeJobData {
  const body = JSON.parse(original.body) as { event: { id: string } };
  body.event.id = eventId;
  return { ...original, eventId, body: JSON.stringify(body) };
}

/** A handler whose runs wait until the test lets them go, announcing each start. */
function gatedHandler(name: string) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const handler = {
    name,
    events: ['customer.voucher.loyalty_card.points_added'],
    async handle() {
      started();
      await gate;
    },
  } as unknown as AnyHandler;
  return { handler, running, open };
}

/*
 * `events show` against the worker as the app runs it (INLINE_FIRST_TRY):
 * units that succeed on their first try leave no handler job, only a
 * once-only record, and must still read as completed (or skipped, for a twin).
 */
describe('events show with first tries inline', () => {
  const d = new Deployment();
  const email = switchableHandler('email');
  const slow = gatedHandler('slow');
  const first = delivery();
  const twin = twinOf(first, `${first.eventId}_twin`);
  const bad = undecodable();
  let intakeEvents: QueueEvents;
  let deadLetters: RedisDeadLetterStore;
  let ops: Operations;

  /** Resolves when the intake job of `d` completes: its units' first tries have all ended by then. */
  const takenIn = (sent: IntakeJobData) =>
    waitForEvents<{ jobId: string }>(intakeEvents, 'completed', (a) => a.jobId.startsWith(`${intakeJobId(sent.eventId)}.`));

  beforeAll(async () => {
    await d.start([email, slow.handler], { inlineFirstTry: true, maxAttempts: 4, backoffMs: 25 });
    intakeEvents = await d.events('intake');
    deadLetters = createDeadLetterStore({ connection: d.redis, queuePrefix: d.prefix });
    ops = createOperations({
      connection: d.redis,
      queuePrefix: d.prefix,
      deadLetters,
      handlers: () => readHandlerRegistry(d.redis, d.prefix),
    });
  }, 60_000);

  afterAll(async () => {
    slow.open();
    await ops?.close();
    await deadLetters?.close();
    await d.cleanup();
  });

  it('reports a unit still running inline as active, then as completed', async () => {
    const done = takenIn(first);
    await d.send(first);
    await slow.running;
    const during = await ops.showEvent(first.eventId);
    expect(during.intake).toMatchObject({ state: 'active' });
    expect(during.handlers.find((h) => h.handler === 'slow')).toMatchObject({
      state: 'active',
      jobId: handlerJobId(first.eventId, 'slow'),
    });
    slow.open();
    await done;

    const report = await ops.showEvent(first.eventId);
    expect(report.intake).toMatchObject({ state: 'completed' });
    expect(report.handlers).toEqual([
      {
        handler: 'email',
        jobId: handlerJobId(first.eventId, 'email'),
        state: 'completed',
        attemptsMade: 1,
        finishedAt: expect.any(Number) as number,
        reason: null,
        replay: false,
        nextRunAt: null,
        errors: [],
        inDoubt: null,
      },
      {
        handler: 'slow',
        jobId: handlerJobId(first.eventId, 'slow'),
        state: 'completed',
        attemptsMade: 1,
        finishedAt: expect.any(Number) as number,
        reason: null,
        replay: false,
        nextRunAt: null,
        errors: [],
        inDoubt: null,
      },
    ]);
    expect(report.deadLetters).toEqual([]);
    // Inline for real: the units left no job behind.
    const queue = openHandlerQueue('email', { connection: d.redis, queuePrefix: d.prefix });
    try {
      expect(await queue.getJob(handlerJobId(first.eventId, 'email'))).toBeUndefined();
    } finally {
      await queue.close();
    }
  });

  it('reports a twin of a business fact already handled as skipped, naming the unit that did it', async () => {
    const done = takenIn(twin);
    await d.send(twin);
    await done;
    const report = await ops.showEvent(twin.eventId);
    expect(report.handlers.map((h) => [h.handler, h.state, h.reason])).toEqual([
      ['email', 'completed', `skipped: already done by ${handlerJobId(first.eventId, 'email')}`],
      ['slow', 'completed', `skipped: already done by ${handlerJobId(first.eventId, 'slow')}`],
    ]);
    expect(email.runs).toEqual([first.eventId]);
  });

  it('reports a unit as gone once its once-only record has expired too', async () => {
    const transactionId = (JSON.parse(first.body) as { data: { transaction: { id: string } } }).data.transaction.id;
    await d.redis.hdel(onceKey(d.prefix, transactionId), 'email');
    const report = await ops.showEvent(first.eventId);
    expect(report.handlers.find((h) => h.handler === 'email')).toMatchObject({ state: 'gone' });
    expect(report.handlers.find((h) => h.handler === 'slow')).toMatchObject({ state: 'completed', reason: null });
  });

  it('replays with the attempts and backoff the workers registered; entries written before they were recorded read as the defaults', async () => {
    const registry = await readHandlerRegistry(d.redis, d.prefix);
    expect(registry.get('email')).toMatchObject({ attempts: 4, backoffMs: 25, maxBackoffMs: expect.any(Number) });
    const queue = openHandlerQueue('email', { connection: d.redis, queuePrefix: d.prefix });
    try {
      const [replayed] = (await ops.replay(first.eventId, 'email')).jobs;
      expect((await queue.getJob(replayed!.jobId))?.opts).toMatchObject({ attempts: 4, backoff: { delay: 25 } });

      // As an older worker wrote it: no retry settings.
      await d.redis.hset(handlerRegistryKey(d.prefix), 'email', JSON.stringify({ events: email.events }));
      expect((await readHandlerRegistry(d.redis, d.prefix)).get('email')).toEqual({ events: email.events });
      const [old] = (await ops.replay(first.eventId, 'email')).jobs;
      expect((await queue.getJob(old!.jobId))?.opts).toMatchObject({ attempts: 8, backoff: { delay: 1000 } });
    } finally {
      await queue.close();
    }
  });

  it('finds dead letters by event id and intake’s alone, and counts intake’s dead letters directly', async () => {
    const failed = waitForEvents(intakeEvents, 'failed');
    await d.send(bad);
    await failed;
    expect((await deadLetters.list({ eventId: bad.eventId })).map((e) => [e.eventId, e.handler])).toEqual([[bad.eventId, null]]);
    expect(await deadLetters.list({ eventId: first.eventId })).toEqual([]);
    // An id whose segment another id contains is not taken for it.
    expect(await deadLetters.list({ eventId: bad.eventId.slice(0, -1) })).toEqual([]);
    expect(await deadLetters.count({ handler: null })).toBe(1);
    expect(await deadLetters.count({ handler: 'email' })).toBe(0);
    const stats = await ops.stats();
    expect(stats.find((s) => s.queue === 'intake')).toMatchObject({ dead: 1 });
    const report = await ops.showEvent(bad.eventId);
    expect(report).toMatchObject({ intake: { state: 'dead' }, handlers: [], deadLetters: [{ handler: null, eventId: bad.eventId }] });
  });
});
