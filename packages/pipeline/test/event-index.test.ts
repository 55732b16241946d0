/*
 * The event index against a real Redis, through the unit records' batch as
 * the worker writes it: who and what each delivery is about, trimmed per key,
 * expiring with the delivery retention, and transactions found through the
 * once-only records.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { HOUR, MINUTE } from '@vouchflow/core';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@vouchflow/test-support';
import {
  EVENT_INDEX_MAX_PER_KEY,
  findIndexedEvents,
  handlerJobId,
  handlerReplayJobId,
  indexEvent,
  onceKey,
  unitRecords,
  type EventIndexQuery,
  type UnitRecords,
} from '@vouchflow/pipeline';

const prefix = uniquePrefix('find');
let redis: Redis;
let records: UnitRecords;

const delivery = (customer: Record<string, string> | null, code?: string, transaction?: string) => ({
  data: {
    ...(customer ? { customer } : {}),
    ...(code ? { voucher: { code } } : {}),
    ...(transaction ? { transaction: { id: transaction } } : {}),
  },
});
const find = (query: EventIndexQuery, handlers: string[] = []) => findIndexedEvents(redis, prefix, query, handlers);
const ids = async (query: EventIndexQuery, handlers: string[] = []) => (await find(query, handlers)).map((e) => e.eventId);

beforeAll(() => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  records = unitRecords(redis, prefix, { leaseMs: MINUTE, keepMs: HOUR });
});
afterAll(async () => {
  await records.close();
  await deletePrefix(testRedisUrl(), prefix);
  await redis.quit();
});

describe('the event index', () => {
  it('finds a customer’s events by id, source id and e-mail (any case), and by voucher code, newest first', async () => {
    const alex = { id: 'cust_alex', source_id: 'alex-src', email: 'Alex.Doe@Example.COM' };
    await Promise.all([
      indexEvent(records, prefix, { eventId: 'evcus_a1', receivedAt: 1_000, delivery: delivery(alex, 'CARD-1') }, HOUR),
      indexEvent(records, prefix, { eventId: 'evcus_a2', receivedAt: 3_000, delivery: delivery(alex) }, HOUR),
      indexEvent(records, prefix, { eventId: 'evcus_a3', receivedAt: 2_000, delivery: delivery(alex, 'CARD-1') }, HOUR),
      indexEvent(records, prefix, { eventId: 'evcus_b1', receivedAt: 2_500, delivery: delivery({ id: 'cust_bea' }, 'CARD-2') }, HOUR),
    ]);
    const newestFirst = ['evcus_a2', 'evcus_a3', 'evcus_a1'];
    expect(await ids({ customer: 'cust_alex' })).toEqual(newestFirst);
    expect(await ids({ customer: 'alex-src' })).toEqual(newestFirst);
    expect(await ids({ customer: 'alex.doe@example.com' })).toEqual(newestFirst);
    expect(await ids({ customer: '  ALEX.DOE@example.com ' })).toEqual(newestFirst);
    expect(await find({ customer: 'cust_alex', limit: 1 })).toEqual([{ eventId: 'evcus_a2', receivedAt: 3_000 }]);
    expect(await ids({ customer: 'cust_alex', since: 2_000 })).toEqual(['evcus_a2', 'evcus_a3']);
    expect(await ids({ code: 'CARD-1' })).toEqual(['evcus_a3', 'evcus_a1']);
    expect(await ids({ code: 'CARD-2' })).toEqual(['evcus_b1']);
    expect(await ids({ customer: 'cust_nobody' })).toEqual([]);
    expect(await ids({ code: 'card-1' })).toEqual([]);
  });

  it('keeps a customer without an id under the e-mail, and odd event ids as they were', async () => {
    const odd = 'ev|with%odd\nchars:and spaces';
    await indexEvent(records, prefix, { eventId: odd, receivedAt: 5_000, delivery: delivery({ email: 'Holder@Example.com' }) }, HOUR);
    expect(await ids({ customer: 'holder@example.com' })).toEqual([odd]);
    expect(await ids({ customer: 'HOLDER@EXAMPLE.COM' })).toEqual([odd]);
  });

  it(`keeps the newest ${EVENT_INDEX_MAX_PER_KEY} events per customer and per code`, async () => {
    const extra = 7;
    await Promise.all(
      Array.from({ length: EVENT_INDEX_MAX_PER_KEY + extra }, (_, i) =>
        indexEvent(
          records,
          prefix,
          { eventId: `evcus_many_${i}`, receivedAt: 10_000 + i, delivery: delivery({ id: 'cust_many' }, 'MANY') },
          HOUR,
        ),
      ),
    );
    const kept = await find({ customer: 'cust_many', limit: 10_000 });
    expect(kept).toHaveLength(EVENT_INDEX_MAX_PER_KEY);
    expect(kept[0]).toEqual({
      eventId: `evcus_many_${EVENT_INDEX_MAX_PER_KEY + extra - 1}`,
      receivedAt: 10_000 + EVENT_INDEX_MAX_PER_KEY + extra - 1,
    });
    expect(kept.at(-1)?.eventId).toBe(`evcus_many_${extra}`);
    expect(await find({ code: 'MANY', limit: 10_000 })).toHaveLength(EVENT_INDEX_MAX_PER_KEY);
  });

  it('expires with the delivery retention: the keys, and entries older than the retention before the newest', async () => {
    const cust = { id: 'cust_short', email: 'short@example.com', source_id: 'short-src' };
    await indexEvent(records, prefix, { eventId: 'evcus_old', receivedAt: Date.now() - 2 * HOUR, delivery: delivery(cust, 'SHORT') }, HOUR);
    await indexEvent(records, prefix, { eventId: 'evcus_new', receivedAt: Date.now(), delivery: delivery(cust, 'SHORT') }, HOUR);
    expect(await ids({ customer: 'cust_short' })).toEqual(['evcus_new']);
    const keys = (await redis.keys(`{${prefix}}:find:*`)).filter((k) => /short/i.test(k));
    expect(keys.length).toBe(4); // customer, code, e-mail and source id
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(HOUR - MINUTE);
      expect(ttl).toBeLessThanOrEqual(HOUR);
    }

    await indexEvent(
      records,
      prefix,
      { eventId: 'evcus_brief', receivedAt: Date.now(), delivery: delivery({ id: 'cust_brief' }, 'BRIEF') },
      50,
    );
    expect(await ids({ customer: 'cust_brief' })).toEqual(['evcus_brief']);
    await expect.poll(() => ids({ customer: 'cust_brief' }), { timeout: 5_000, interval: 20 }).toEqual([]);
    expect(await ids({ code: 'BRIEF' })).toEqual([]);
  });

  it('drops, in the batch that brings a newer one, entries older than the retention before it', async () => {
    const cust = { id: 'cust_same_turn' };
    await Promise.all([
      indexEvent(records, prefix, { eventId: 'evcus_turn_old', receivedAt: Date.now() - 2 * HOUR, delivery: delivery(cust, 'TURN') }, HOUR),
      indexEvent(records, prefix, { eventId: 'evcus_turn_new', receivedAt: Date.now(), delivery: delivery(cust, 'TURN') }, HOUR),
    ]);
    expect(await ids({ customer: 'cust_same_turn' })).toEqual(['evcus_turn_new']);
    expect(await ids({ code: 'TURN' })).toEqual(['evcus_turn_new']);
  });

  it('indexes an event whose id holds anything a delivery can carry, a lone surrogate too, without failing its batch', async () => {
    const odd = ['evcus_a|b\nc%d', 'evcus_\ud800_lone', 'evcus_ünï_😀'];
    await Promise.all(
      odd.map((eventId, i) =>
        indexEvent(records, prefix, { eventId, receivedAt: Date.now() + i, delivery: delivery({ id: 'cust_odd' }) }, HOUR),
      ),
    );
    expect(await ids({ customer: 'cust_odd' })).toEqual(['evcus_ünï_😀', 'evcus_\ufffd_lone', 'evcus_a|b\nc%d']);
  });

  it('finds a transaction’s event through the once-only records, by the unit or replay that did the effect', async () => {
    const handlers = ['email', 'crm'];
    const tx = 'vtx_0e6d44043e9e51d377';
    const claim = await records.claim({
      key: onceKey(prefix, tx),
      owner: handlerJobId('evcus_tx-1', 'email'),
      handler: 'email',
      attempt: 1,
    });
    if ('status' in claim) throw new Error('claim refused');
    await claim.done(1);
    expect(await ids({ transaction: tx }, handlers)).toEqual(['evcus_tx-1']);
    // A replay of another event (a twin) rewrites the crm record: both events are named.
    await records.recordReplay({
      key: onceKey(prefix, tx),
      owner: handlerReplayJobId('evprj_tx:2', 'crm', '3'),
      handler: 'crm',
      attempts: 1,
    });
    expect(new Set(await ids({ transaction: tx }, handlers))).toEqual(new Set(['evcus_tx-1', 'evprj_tx:2']));
    expect(await ids({ transaction: 'vtx_unknown' }, handlers)).toEqual([]);
  });
});
