import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createArchiveJournal, journalKey, JournalEntry, type ArchivedOutcome } from '@vouchflow/archive';
import { createDeadLetterStore } from '@vouchflow/pipeline';
import { Harness, delivery, settled, testHandler } from './support.js';

/*
 * What the worker appends to the archive's journal (ARCHIVE_URL set): each
 * delivery as it is fanned out, and each unit's final outcome, whether it ends
 * inline, from its queue, dead-lettered, or revived by an operator's retry.
 * PostgreSQL is not needed here: the journal is a Redis stream.
 */

let h: Harness;
beforeEach(() => {
  h = new Harness();
});
afterEach(async () => {
  await h.cleanup();
});

async function journal(): Promise<JournalEntry[]> {
  const entries = await h.redis.xrange(journalKey(h.prefix), '-', '+');
  return entries.map(([, fields]) => {
    const decoded = JournalEntry.decode(JSON.parse(fields[1]!));
    if (decoded._tag === 'Left') throw new Error('journal entry does not decode');
    return decoded.right;
  });
}

const outcomesOf = (entries: JournalEntry[], eventId: string): ArchivedOutcome[] =>
  entries.flatMap((e) => (e.kind === 'outcome' && e.outcome.eventId === eventId ? [e.outcome] : []));

describe.each([
  ['first try inline', true],
  ['every unit queued', false],
])('the archive journal (%s)', (_mode, inlineFirstTry) => {
  it('holds the delivery with its subjects, and done, skipped and dead outcomes; a revived dead letter ends done', async () => {
    let broken = true;
    const handlers = [
      testHandler('ok'),
      { ...testHandler('skips'), handle: () => Promise.resolve({ skipped: 'nothing to do for this customer' }) },
      testHandler('fragile', () => {
        if (broken) throw new Error('downstream says no');
      }),
    ];
    const worker = await h.start(handlers, { inlineFirstTry, maxAttempts: 2, archive: createArchiveJournal(h.redis, h.prefix) });
    const d = delivery({ transactionId: 'vtx_journal_1' });
    await h.send(d);
    await Promise.all([settled(worker, 'ok'), settled(worker, 'skips')]);
    // The dead letter's outcome is appended from the queue's `failed` listener, once BullMQ has moved it.
    await expect.poll(async () => outcomesOf(await journal(), d.eventId).length, { timeout: 15_000 }).toBe(3);

    const entries = await journal();
    const deliveries = entries.flatMap((e) => (e.kind === 'delivery' ? [e.delivery] : []));
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]).toMatchObject({
      eventId: d.eventId,
      eventType: d.eventType,
      receivedAt: d.receivedAt,
      body: d.body,
      handlers: ['ok', 'skips', 'fragile'],
      transactionId: 'vtx_journal_1',
    });
    expect(deliveries[0]!.customerId).toEqual(expect.any(String));
    const byHandler = Object.fromEntries(outcomesOf(entries, d.eventId).map((o) => [o.handler, o]));
    expect(byHandler['ok']).toMatchObject({ outcome: 'done', reason: null, attempts: 1, receivedAt: d.receivedAt });
    expect(byHandler['skips']).toMatchObject({ outcome: 'skipped', reason: 'nothing to do for this customer' });
    expect(byHandler['fragile']).toMatchObject({ outcome: 'dead', reason: 'downstream says no', attempts: 2 });

    // An operator's retry of the dead letter succeeds: a later `done` supersedes `dead` in the archive.
    broken = false;
    const store = createDeadLetterStore({ connection: h.redis, queuePrefix: h.prefix });
    h.onClose(() => store.close());
    const revived = settled(worker, 'fragile');
    const [entry] = await store.list({ handler: 'fragile' });
    expect(await store.retry(entry!.id)).toBe(true);
    await revived;
    await expect
      .poll(
        async () =>
          outcomesOf(await journal(), d.eventId)
            .filter((o) => o.handler === 'fragile')
            .map((o) => o.outcome),
        { timeout: 15_000 },
      )
      .toEqual(['dead', 'done']);
  });
});

it('without an archive, nothing is journaled', async () => {
  const worker = await h.start([testHandler('ok')]);
  const done = settled(worker, 'ok');
  await h.send(delivery());
  await done;
  expect(await h.redis.exists(journalKey(h.prefix))).toBe(0);
});
