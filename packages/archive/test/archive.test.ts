import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Redis } from 'ioredis';
import { DAY, createLogger } from '@vouchflow/core';
import { createTestDatabase, deletePrefix, startTcpProxy, testRedisUrl, uniquePrefix, type TestDatabase } from '@vouchflow/test-support';
import {
  createArchiveJournal,
  journalKey,
  createArchiveStore,
  migrateArchive,
  pendingArchiveMigrations,
  startArchiver,
  type ArchivedDelivery,
  type ArchiveStore,
  type Archiver,
} from '../src/index.js';

const logger = createLogger({ level: 'error', json: true });

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const delivery = (eventId: string, over: Partial<ArchivedDelivery> = {}): ArchivedDelivery => ({
  eventId,
  eventType: 'customer.voucher.loyalty_card.points_added',
  receivedAt: Date.parse('2026-11-29T10:00:00.000Z'),
  processedAt: Date.parse('2026-11-29T10:00:00.020Z'),
  body: JSON.stringify({ event: { id: eventId } }),
  headers: { 'content-type': 'application/json' },
  handlers: ['email', 'crm'],
  customerId: 'cust_1',
  customerSourceId: 'alex-42',
  customerEmail: 'alex@example.com',
  voucherCode: 'LOY-1',
  transactionId: `vtx_${eventId}`,
  ...over,
});

/** Resolves once `count` more entries are archived. */
function archivedCount(): { wait(count: number): Promise<void>; onArchived(c: { deliveries: number; outcomes: number }): void } {
  let total = 0;
  const waiters: { count: number; resolve: () => void }[] = [];
  return {
    onArchived({ deliveries, outcomes }) {
      total += deliveries + outcomes;
      for (const w of [...waiters]) {
        if (total < w.count) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    },
    wait: (count) => (total >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }))),
  };
}

describe('migrations', () => {
  it('create the tables once; a second run has nothing to do', async () => {
    expect(await pendingArchiveMigrations(db.url)).toEqual(['1764000000000_archive']);
    const first = await migrateArchive(db.url);
    expect(first).toEqual(['1764000000000_archive']);
    expect(await migrateArchive(db.url)).toEqual([]);
    expect(await pendingArchiveMigrations(db.url)).toEqual([]);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query<{ relname: string }>(
      `SELECT relname FROM pg_class WHERE relname IN ('vouchflow_archive_deliveries', 'vouchflow_archive_outcomes')`,
    );
    await client.end();
    expect(rows.map((r) => r.relname).sort()).toEqual(['vouchflow_archive_deliveries', 'vouchflow_archive_outcomes']);
  });
});

describe('journal → archiver → PostgreSQL', () => {
  const prefix = uniquePrefix('archive');
  let redis: Redis;
  let reader: Redis;
  let store: ArchiveStore;
  let archiver: Archiver | undefined;

  beforeAll(async () => {
    await migrateArchive(db.url);
    redis = new Redis(testRedisUrl());
    reader = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    store = createArchiveStore(db.url, prefix);
  });
  afterEach(async () => {
    await archiver?.stop();
    archiver = undefined;
  });
  afterAll(async () => {
    await store.close();
    await deletePrefix(testRedisUrl(), prefix);
    redis.disconnect();
    reader.disconnect();
  });

  it('archives deliveries and outcomes, finds them by customer, e-mail, code and transaction, and empties the journal', async () => {
    const journal = createArchiveJournal(redis, prefix);
    const counter = archivedCount();
    await journal.delivery(delivery('ev_a'));
    await journal.delivery(delivery('ev_b', { customerId: 'cust_2', customerSourceId: null, customerEmail: 'bo@example.com' }));
    const receivedAt = delivery('ev_a').receivedAt;
    await journal.outcome({
      eventId: 'ev_a',
      receivedAt,
      handler: 'email',
      outcome: 'done',
      reason: null,
      attempts: 1,
      settledAt: receivedAt + 50,
    });
    await journal.outcome({
      eventId: 'ev_a',
      receivedAt,
      handler: 'crm',
      outcome: 'dead',
      reason: 'HubSpot 404',
      attempts: 1,
      settledAt: receivedAt + 60,
    });
    expect(await journal.backlog()).toBe(4);

    archiver = startArchiver({
      redis: reader,
      queuePrefix: prefix,
      store,
      logger,
      consumer: 'c1',
      retentionMs: 3650 * DAY,
      onArchived: (c) => counter.onArchived(c),
    });
    await counter.wait(4);

    const a = await store.findEvent('ev_a');
    expect(a).toMatchObject({ eventId: 'ev_a', customerEmail: 'alex@example.com', handlers: ['email', 'crm'] });
    expect(a!.outcomes.map((o) => [o.handler, o.outcome, o.reason])).toEqual([
      ['crm', 'dead', 'HubSpot 404'],
      ['email', 'done', null],
    ]);
    expect((await store.findEvents({ customer: 'ALEX@example.com' })).map((e) => e.eventId)).toEqual(['ev_a']);
    expect((await store.findEvents({ customer: 'alex-42' })).map((e) => e.eventId)).toEqual(['ev_a']);
    expect((await store.findEvents({ customer: 'cust_2' })).map((e) => e.eventId)).toEqual(['ev_b']);
    expect((await store.findEvents({ code: 'LOY-1' })).map((e) => e.eventId).sort()).toEqual(['ev_a', 'ev_b']);
    expect((await store.findEvents({ transaction: 'vtx_ev_b' })).map((e) => e.eventId)).toEqual(['ev_b']);
    expect(await store.findEvent('ev_missing')).toBeUndefined();
    expect(await journal.backlog()).toBe(0);
  });

  it('writes each delivery once however often it is journaled, and keeps the latest outcome', async () => {
    const journal = createArchiveJournal(redis, prefix);
    const counter = archivedCount();
    const d = delivery('ev_twice');
    await journal.delivery(d);
    await journal.delivery(d);
    await journal.outcome({
      eventId: 'ev_twice',
      receivedAt: d.receivedAt,
      handler: 'email',
      outcome: 'dead',
      reason: 'smtp down',
      attempts: 8,
      settledAt: d.receivedAt + 10,
    });
    await journal.outcome({
      eventId: 'ev_twice',
      receivedAt: d.receivedAt,
      handler: 'email',
      outcome: 'done',
      reason: null,
      attempts: 1,
      settledAt: d.receivedAt + 20,
    });
    archiver = startArchiver({
      redis: reader,
      queuePrefix: prefix,
      store,
      logger,
      consumer: 'c2',
      retentionMs: 3650 * DAY,
      onArchived: (c) => counter.onArchived(c),
    });
    await counter.wait(4);
    const found = await store.findEvents({ transaction: 'vtx_ev_twice' });
    expect(found).toHaveLength(1);
    expect(found[0]!.outcomes).toMatchObject([{ handler: 'email', outcome: 'done' }]);
  });
});

describe('PostgreSQL going away', () => {
  const prefix = uniquePrefix('archive-outage');

  it('holds entries in the journal while PostgreSQL is unreachable and archives every one once it is back', async () => {
    await migrateArchive(db.url);
    const target = new URL(db.url);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(db.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const store = createArchiveStore(viaProxy.toString(), prefix);
    const redis = new Redis(testRedisUrl());
    const reader = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const journal = createArchiveJournal(redis, prefix);
    const warnings: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        warnings.push((JSON.parse(chunk.toString()) as { message: string }).message);
        done();
      },
    });
    const log = createLogger({ level: 'info', json: true, stream: sink });
    const counter = archivedCount();
    const archiver = startArchiver({
      redis: reader,
      queuePrefix: prefix,
      store,
      logger: log,
      consumer: 'c-outage',
      retentionMs: 3650 * DAY,
      retryDelayMs: 50,
      maxRetryDelayMs: 200,
      blockMs: 100,
      onArchived: (c) => counter.onArchived(c),
    });
    try {
      for (let i = 0; i < 20; i++) await journal.delivery(delivery(`ev_before_${i}`));
      await counter.wait(20);

      await proxy.cut();
      // Appending never waits for PostgreSQL: this is all the worker does.
      for (let i = 0; i < 30; i++) await journal.delivery(delivery(`ev_during_${i}`));
      await expect.poll(() => warnings.some((m) => m.includes('archive write failed')), { timeout: 10_000 }).toBe(true);
      expect(await journal.backlog()).toBeGreaterThan(0);

      await proxy.restore();
      await counter.wait(50);
      const check = createArchiveStore(db.url, prefix);
      const archived = await check.findEvents({ customer: 'cust_1', limit: 1000 });
      await check.close();
      expect(new Set(archived.map((e) => e.eventId)).size).toBe(50);
      expect(await journal.backlog()).toBe(0);
      expect(warnings).toContain('archive writes resumed');
    } finally {
      await archiver.stop();
      await store.close();
      await proxy.close();
      await deletePrefix(testRedisUrl(), prefix);
      redis.disconnect();
      reader.disconnect();
    }
  });
});

describe('retention', () => {
  it('drops whole days once they are past the retention, and keeps the rest', async () => {
    await migrateArchive(db.url);
    const prefix = uniquePrefix('archive-prune');
    const store = createArchiveStore(db.url, prefix);
    try {
      const now = Date.parse('2026-11-29T12:00:00.000Z');
      const old = delivery('ev_old', { receivedAt: now - 100 * DAY, transactionId: 'vtx_prune_old' });
      const recent = delivery('ev_recent', { receivedAt: now - 10 * DAY, transactionId: 'vtx_prune_recent' });
      await store.write({ deliveries: [old, recent], outcomes: [] });
      expect(await store.prune(90 * DAY, now)).toBeGreaterThanOrEqual(1);
      expect(await store.findEvent('ev_old')).toBeUndefined();
      expect(await store.findEvent('ev_recent')).toBeDefined();
    } finally {
      await store.close();
    }
  });
});

describe('the journal', () => {
  it('stops appending past its bound, counting what it drops, until the backlog shrinks', async () => {
    const prefix = uniquePrefix('archive-bound');
    const redis = new Redis(testRedisUrl());
    const dropped: Array<{ entries: number; first: boolean }> = [];
    let resumed = 0;
    const journal = createArchiveJournal(redis, prefix, {
      maxBacklog: 5,
      onDropped: (entries, first) => dropped.push({ entries, first }),
      onResumed: () => resumed++,
    });
    try {
      // One turn: one pipeline, after which the journal knows it is at its bound.
      await Promise.all(Array.from({ length: 6 }, (_, i) => journal.delivery(delivery(`ev_bound_${i}`))));
      expect(await journal.backlog()).toBe(6);
      await journal.delivery(delivery('ev_bound_dropped_1'));
      await journal.delivery(delivery('ev_bound_dropped_2'));
      expect(await journal.backlog()).toBe(6);
      expect(dropped).toEqual([
        { entries: 1, first: true },
        { entries: 1, first: false },
      ]);

      // The archiver caught up: the next look (at most once a second) lets appends through again.
      await redis.del(journalKey(prefix));
      await expect
        .poll(
          async () => {
            await journal.delivery(delivery('ev_bound_after'));
            return resumed;
          },
          { timeout: 5_000, interval: 200 },
        )
        .toBe(1);
      await journal.delivery(delivery('ev_bound_after_2'));
      expect(await journal.backlog()).toBeGreaterThanOrEqual(1);
    } finally {
      await journal.close();
      await deletePrefix(testRedisUrl(), prefix);
      redis.disconnect();
    }
  });
});

describe('the archiver’s retention', () => {
  it('drops the days past ARCHIVE_RETENTION_DAYS when it starts, then every pruneEveryMs', async () => {
    await migrateArchive(db.url);
    const prefix = uniquePrefix('archive-prune-wired');
    const store = createArchiveStore(db.url, prefix);
    const reader = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const now = Date.now();
    await store.write({
      deliveries: [
        delivery('ev_wired_old', { receivedAt: now - 40 * DAY, transactionId: 'vtx_wired_old' }),
        delivery('ev_wired_new', { receivedAt: now - DAY, transactionId: 'vtx_wired_new' }),
      ],
      outcomes: [],
    });
    const archiver = startArchiver({
      redis: reader,
      queuePrefix: prefix,
      store,
      logger,
      consumer: 'c-prune',
      retentionMs: 30 * DAY,
      blockMs: 100,
    });
    try {
      await expect.poll(() => store.findEvent('ev_wired_old'), { timeout: 10_000 }).toBeUndefined();
      expect(await store.findEvent('ev_wired_new')).toBeDefined();
    } finally {
      await archiver.stop();
      await store.close();
      await deletePrefix(testRedisUrl(), prefix);
      reader.disconnect();
    }
  });
});
