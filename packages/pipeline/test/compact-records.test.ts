/*
 * The hot store's compact records against a real Redis: the once-only records
 * of a business fact (one hash, a field per handler) and the kept delivery
 * (one deflated string per event). Their size is part of the contract: issue
 * #17's budget is 1,000 bytes of Redis per processed event.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@vouchflow/test-support';
import {
  decodeKeptDelivery,
  decodeUnitRecord,
  deliveryKey,
  encodeKeptDelivery,
  findDelivery,
  handlerJobId,
  intakeCopyJobId,
  onceKey,
  unitRecordReader,
  unitRecords,
  type UnitRecords,
} from '@vouchflow/pipeline';

const prefix = uniquePrefix('compact');
// As long as Voucherify's own (evcus_ + 18 hex), and then some.
const eventId = 'evcus_0e6d44043e9e51d3aa_long';
let redis: Redis;
let records: UnitRecords;
const lost: string[] = [];

beforeAll(() => {
  redis = new Redis(testRedisUrl());
  records = unitRecords(redis, prefix, { leaseMs: 30_000, keepMs: 60_000, onLost: ({ owner }) => lost.push(owner) });
});

afterAll(async () => {
  await records.close();
  await deletePrefix(testRedisUrl(), prefix);
  await redis.quit();
});

describe('once-only records', () => {
  it('keeps the records of two handlers in one small listpack hash, with the once-only window as its TTL', async () => {
    const key = onceKey(prefix, 'vtx_compact_1');
    const email = await records.claim({ key, owner: handlerJobId(eventId, 'email'), handler: 'email', attempt: 1 });
    const crm = await records.claim({ key, owner: handlerJobId(eventId, 'handler-crm-upsert'), handler: 'handler-crm-upsert', attempt: 9 });
    if ('status' in email || 'status' in crm) throw new Error('expected both claims granted');
    // Claims (the longest values) must not turn the hash into a table.
    expect(await redis.object('ENCODING', key)).toBe('listpack');
    expect(await redis.pttl(key)).toBeGreaterThan(25_000);
    expect(await email.done(1)).toBe(true);
    expect(await crm.done(12)).toBe(true);
    expect(await redis.object('ENCODING', key)).toBe('listpack');
    expect(await redis.pttl(key)).toBeGreaterThan(55_000);
    expect(await redis.memory('USAGE', key)).toBeLessThan(250);

    const reader = unitRecordReader(redis, prefix);
    expect(await reader.read('vtx_compact_1', 'email')).toMatchObject({
      state: 'done',
      owner: handlerJobId(eventId, 'email'),
      attempts: 1,
    });
    const at = (await reader.read('vtx_compact_1', 'handler-crm-upsert')) as { at: number };
    expect(Math.abs(at.at - Date.now())).toBeLessThan(5_000);
    expect(await reader.doneTotals()).toMatchObject({ email: 1, 'handler-crm-upsert': 1 });
  });

  it('refuses a second claim while the first is held, and says the effect is done once recorded, naming the unit', async () => {
    const key = onceKey(prefix, 'vtx_compact_2');
    const first = await records.claim({ key, owner: handlerJobId(eventId, 'email'), handler: 'email', attempt: 1 });
    if ('status' in first) throw new Error('expected the claim granted');
    const twin = handlerJobId('evcus_twin', 'email');
    const busy = await records.claim({ key, owner: twin, handler: 'email', attempt: 1 });
    expect(busy).toMatchObject({ status: 'busy', by: handlerJobId(eventId, 'email') });
    expect((busy as { retryInMs: number }).retryInMs).toBeGreaterThan(25_000);
    await first.done(1);
    expect(await records.claim({ key, owner: twin, handler: 'email', attempt: 1 })).toEqual({
      status: 'done',
      by: handlerJobId(eventId, 'email'),
    });
  });

  it('lets a claim whose lease ended be taken, and the old holder then records nothing and counts it lost', async () => {
    const key = onceKey(prefix, 'vtx_compact_3');
    const short = unitRecords(redis, prefix, { leaseMs: 1_000, keepMs: 60_000, onLost: ({ owner }) => lost.push(owner) });
    try {
      const old = await short.claim({ key, owner: 'replay-a', handler: 'email', attempt: 1 });
      if ('status' in old) throw new Error('expected the claim granted');
      // As if the holder's process had frozen past its lease: the lease ends (to the second) without renewal.
      const ended = Math.floor(Date.now() / 1000) - 1;
      await redis.hset(key, 'email', `r:replay-a:${'x'}:1:${ended}`);
      // Free to claim, but not as if nothing had run: its run is in doubt.
      expect(await unitRecordReader(redis, prefix).read('vtx_compact_3', 'email')).toEqual({
        state: 'in-doubt',
        owner: 'replay-a',
        attempt: 1,
        leaseEnded: ended * 1000,
      });
      const next = await records.claim({ key, owner: 'replay-b', handler: 'email', attempt: 1 });
      expect('status' in next).toBe(false);
      expect(await old.done(1)).toBe(false);
      expect(old.lost).toBe(true);
      expect(lost).toContain('replay-a');
      expect(await unitRecordReader(redis, prefix).read('vtx_compact_3', 'email')).toMatchObject({ state: 'running', owner: 'replay-b' });
    } finally {
      await short.close();
    }
  });
});

describe('a batch', () => {
  it('counts every unit recorded done, and keeps every record for the window, when many units share one Lua call', async () => {
    const facts = Array.from({ length: 20 }, (_, i) => `vtx_batch_${i}`);
    const handlers = ['email', 'handler-crm-upsert'];
    const before = await unitRecordReader(redis, prefix).doneTotals();
    // One turn: every claim goes in one call, then every done record in one more.
    const claims = await Promise.all(
      facts.flatMap((fact, i) =>
        handlers.map((handler) =>
          records.claim({ key: onceKey(prefix, fact), owner: handlerJobId(`evcus_batch_${i}`, handler), handler, attempt: 1 }),
        ),
      ),
    );
    expect(await Promise.all(claims.map((c) => ('status' in c ? Promise.resolve(false) : c.done(1))))).toEqual(claims.map(() => true));
    const after = await unitRecordReader(redis, prefix).doneTotals();
    for (const handler of handlers) expect((after[handler] ?? 0) - (before[handler] ?? 0)).toBe(facts.length);
    for (const [i, fact] of facts.entries()) {
      expect(await redis.pttl(onceKey(prefix, fact))).toBeGreaterThan(55_000);
      for (const handler of handlers) {
        expect(await unitRecordReader(redis, prefix).read(fact, handler)).toMatchObject({
          state: 'done',
          owner: handlerJobId(`evcus_batch_${i}`, handler),
        });
      }
    }
  });
});

describe('units in doubt', () => {
  /** A claim held by a process that then died: it stops renewing, and its lease (whole seconds) runs out. */
  async function claimOfADeadProcess(businessKey: string, owner: string, attempt: number): Promise<string> {
    const key = onceKey(prefix, businessKey);
    const dying = unitRecords(redis, prefix, { leaseMs: 1_000, keepMs: 60_000 });
    const claim = await dying.claim({ key, owner, handler: 'email', attempt });
    if ('status' in claim) throw new Error('expected the claim granted');
    await dying.close();
    // Polled against Redis's clock, which ends the lease: no fixed sleep.
    while ((await unitRecordReader(redis, prefix).read(businessKey, 'email'))?.state === 'running')
      await new Promise((r) => setTimeout(r, 100));
    return key;
  }

  it('says a claim taken over from a lapsed run is in doubt, naming that run, and keeps the record past the lease', async () => {
    const owner = handlerJobId(eventId, 'email');
    const key = await claimOfADeadProcess('vtx_doubt_1', owner, 3);
    // Read as the next claim will find it: that run, its try, and when its lease ran out.
    const record = await unitRecordReader(redis, prefix).read('vtx_doubt_1', 'email');
    expect(record).toMatchObject({ state: 'in-doubt', owner, attempt: 3 });
    const { leaseEnded } = record as { leaseEnded: number };
    expect(leaseEnded).toBeLessThanOrEqual(Date.now());
    expect(leaseEnded).toBeGreaterThan(Date.now() - 10_000);
    // The record outlives its lease: the retry of a unit whose process died may come much later.
    expect(await redis.pttl(key)).toBeGreaterThan(50_000);
    const next = await records.claim({ key, owner, handler: 'email', attempt: 4 });
    if ('status' in next) throw new Error('expected the claim granted');
    expect(next.inDoubt).toEqual({ owner, attempt: 3 });
    expect(await redis.object('ENCODING', key)).toBe('listpack');
    expect(await next.done(4)).toBe(true);
  });

  it('decodes a claim as running until its lease ends, then as in doubt, by the clock it is given', () => {
    const owner = handlerJobId('evcus_1', 'email');
    const claim = 'r:~evcus_1:a1b2c30:2:1700000000';
    expect(decodeUnitRecord(claim, 'email', 1_700_000_000_000)).toEqual({
      state: 'running',
      owner,
      attempt: 2,
      leaseEnds: 1_700_000_000_000,
    });
    expect(decodeUnitRecord(claim, 'email', 1_700_000_000_001)).toEqual({
      state: 'in-doubt',
      owner,
      attempt: 2,
      leaseEnded: 1_700_000_000_000,
    });
    // Given back in doubt: no token, no lease; an unreadable lease reads as none, as the claim script reads it.
    expect(decodeUnitRecord('r:~evcus_1:-:2:0', 'email')).toEqual({ state: 'in-doubt', owner, attempt: 2, leaseEnded: undefined });
    expect(decodeUnitRecord('r:~evcus_1:-:2:soon', 'email')).toEqual({ state: 'in-doubt', owner, attempt: 2, leaseEnded: undefined });
    expect(decodeUnitRecord('x:~evcus_1', 'email')).toBeUndefined();
  });

  it('says nothing of doubt for a first claim, nor after a claim was given back', async () => {
    const key = onceKey(prefix, 'vtx_doubt_2');
    const owner = handlerJobId(eventId, 'email');
    const first = await records.claim({ key, owner, handler: 'email', attempt: 1 });
    if ('status' in first) throw new Error('expected the claim granted');
    expect(first.inDoubt).toBeUndefined();
    expect(await first.release()).toBe(true);
    const second = await records.claim({ key, owner, handler: 'email', attempt: 2 });
    if ('status' in second) throw new Error('expected the claim granted');
    expect(second.inDoubt).toBeUndefined();
    await second.release();
  });

  it('keeps the doubt, naming the same earlier run, when a claim in doubt is given back in doubt', async () => {
    const owner = handlerJobId(eventId, 'email');
    const key = await claimOfADeadProcess('vtx_doubt_3', owner, 2);
    const asked = await records.claim({ key, owner, handler: 'email', attempt: 3 });
    if ('status' in asked) throw new Error('expected the claim granted');
    expect(asked.inDoubt).toEqual({ owner, attempt: 2 });
    // Its check failed: given back still in doubt, free at once (no lease to wait out), naming the run that never ended.
    expect(await asked.release({ inDoubt: true })).toBe(true);
    expect(await unitRecordReader(redis, prefix).read('vtx_doubt_3', 'email')).toEqual({
      state: 'in-doubt',
      owner,
      attempt: 2,
      leaseEnded: undefined,
    });
    const again = await records.claim({ key, owner, handler: 'email', attempt: 4 });
    if ('status' in again) throw new Error('expected the claim granted');
    expect(again.inDoubt).toEqual({ owner, attempt: 2 });
    // Settled (the check found no effect, and the run failed): a plain release ends the doubt.
    await again.release();
    const last = await records.claim({ key, owner, handler: 'email', attempt: 5 });
    if ('status' in last) throw new Error('expected the claim granted');
    expect(last.inDoubt).toBeUndefined();
    await last.release();
  });
});

describe('kept deliveries', () => {
  const specDir = fileURLToPath(new URL('../../schema/fixtures/spec/', import.meta.url));

  it('round-trips every spec example, and keeps points_added in under 600 bytes of Redis', async () => {
    for (const file of readdirSync(specDir)) {
      const body = readFileSync(specDir + file, 'utf8');
      const kept = {
        body,
        eventId,
        eventType: (JSON.parse(body) as { event: { type: string } }).event.type,
        receivedAt: 1_764_000_000_123,
        processedAt: 1_764_000_000_456,
        intakeAttempts: 2,
        intakeJobId: intakeCopyJobId(eventId, 'n0nce'),
        handlers: ['email', 'crm'],
        trace: '{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","a":[1,2]}',
      };
      const record = encodeKeptDelivery(kept);
      expect(decodeKeptDelivery(eventId, record), file).toEqual(kept);
      expect(record.length, file).toBeLessThan(body.length);
    }
    const body = JSON.stringify(JSON.parse(readFileSync(specDir + 'customer.voucher.loyalty_card.points_added.json', 'utf8')));
    const key = deliveryKey(prefix, eventId);
    await records.set(
      key,
      encodeKeptDelivery({
        body,
        eventId,
        eventType: 'customer.voucher.loyalty_card.points_added',
        receivedAt: Date.now(),
        processedAt: Date.now(),
        intakeAttempts: 1,
        intakeJobId: 'a-job-id-of-another-form',
        handlers: [],
      }),
      60_000,
    );
    expect(await redis.memory('USAGE', key)).toBeLessThan(650);
    expect(await findDelivery({ connection: redis, queuePrefix: prefix }, eventId)).toMatchObject({
      body,
      intakeJobId: 'a-job-id-of-another-form',
      handlers: [],
    });
    expect(await redis.pttl(key)).toBeGreaterThan(55_000);
  });

  it('reads with the dictionary it wrote with: a released dictionary never changes', () => {
    // Records written with dictionary 1 can only be inflated with these exact bytes; a new dictionary gets a new number.
    const released = readFileSync(fileURLToPath(new URL('../assets/delivery-dictionary-1.txt', import.meta.url)));
    expect(createHash('sha256').update(released).digest('hex')).toBe('a7690d00607a4599067dec57094e1176dca6be135bc2afb596aa390c874f0217');
  });

  it('reads nothing it did not write', () => {
    expect(decodeKeptDelivery(eventId, Buffer.from('ev-some-intake-job-id'))).toBeUndefined();
    expect(decodeKeptDelivery(eventId, Buffer.of(1, 0x31))).toBeUndefined();
  });
});
