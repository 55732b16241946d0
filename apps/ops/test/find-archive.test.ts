import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyHandler } from '@vouchflow/handler-kit';
import { createArchiveStore, migrateArchive, type ArchivedDelivery, type ArchiveStore } from '@vouchflow/archive';
import { createDeadLetterStore, readHandlerRegistry, type RedisDeadLetterStore } from '@vouchflow/pipeline';
import { createTestDatabase, type TestDatabase } from '@vouchflow/test-support';
import { createOperations, type Operations } from '../src/operations.js';
import { Deployment, delivery, waitForEvents } from './support.js';

/*
 * With the PostgreSQL archive, `events find` also finds what Redis no longer
 * holds: merged with Redis's finds by event id (Redis's word wins), newest first.
 */
describe('events find with the archive', () => {
  const d = new Deployment();
  let db: TestDatabase;
  let archive: ArchiveStore;
  let deadLetters: RedisDeadLetterStore;
  let ops: Operations;
  const email: AnyHandler = { name: 'email', events: ['*'], handle: async () => {} };
  const recent = delivery();
  const customer = (JSON.parse(recent.body) as { data: { customer: { id: string; source_id: string } } }).data.customer;

  const archived = (eventId: string, receivedAt: number): ArchivedDelivery => ({
    eventId,
    eventType: 'customer.voucher.loyalty_card.points_added',
    receivedAt,
    processedAt: receivedAt + 20,
    body: JSON.stringify({ event: { id: eventId } }),
    headers: {},
    handlers: ['email'],
    customerId: customer.id,
    customerSourceId: customer.source_id,
    customerEmail: 'alex@example.com',
    voucherCode: 'NK5iReoi',
    transactionId: `vtx_${eventId}`,
  });

  beforeAll(async () => {
    db = await createTestDatabase();
    await migrateArchive(db.url);
    archive = createArchiveStore(db.url, d.prefix);
    await d.start([email], { inlineFirstTry: true });
    const intake = await d.events('intake');
    const taken = waitForEvents(intake, 'completed');
    await d.send(recent);
    await taken;
    const old = archived('evcus_archived_old', Date.now() - 30 * 24 * 3600 * 1000);
    // Also archived: the event Redis still holds, which must be listed once, from Redis.
    const twice = archived(recent.eventId, recent.receivedAt);
    await archive.write({
      deliveries: [old, twice],
      outcomes: [
        {
          eventId: old.eventId,
          receivedAt: old.receivedAt,
          handler: 'email',
          outcome: 'done',
          reason: null,
          attempts: 1,
          settledAt: old.receivedAt + 30,
        },
      ],
    });
    deadLetters = createDeadLetterStore({ connection: d.redis, queuePrefix: d.prefix });
    ops = createOperations({
      connection: d.redis,
      queuePrefix: d.prefix,
      deadLetters,
      archive,
      handlers: () => readHandlerRegistry(d.redis, d.prefix),
    });
  }, 60_000);

  afterAll(async () => {
    await ops?.close();
    await deadLetters?.close();
    await archive?.close();
    await d.cleanup();
    await db?.drop();
  });

  it('lists Redis’s events and the archive’s older ones, each once, newest first', async () => {
    for (const query of [{ customer: customer.id }, { customer: customer.source_id }, { code: 'NK5iReoi' }]) {
      const rows = await ops.findEvents(query);
      expect(rows.map((r) => [r.eventId, r.source])).toEqual([
        [recent.eventId, 'redis'],
        ['evcus_archived_old', 'archive'],
      ]);
      expect(rows[1]!.handlers).toEqual([expect.objectContaining({ handler: 'email', outcome: 'done', attempts: 1 })]);
    }
    expect((await ops.findEvents({ transaction: 'vtx_evcus_archived_old' })).map((r) => r.eventId)).toEqual(['evcus_archived_old']);
    expect((await ops.findEvents({ customer: customer.id, since: Date.now() - 3600 * 1000 })).map((r) => r.eventId)).toEqual([
      recent.eventId,
    ]);
    expect((await ops.findEvents({ customer: customer.id, limit: 1 })).map((r) => r.eventId)).toEqual([recent.eventId]);
  });
});
