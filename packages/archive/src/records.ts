import * as t from 'io-ts';

/*
 * What the worker hands the archive. Entries travel through a Redis stream
 * (the journal) before they reach PostgreSQL, so they are decoded again on the
 * way out: a journal written by another version of the worker must not put
 * garbage into the archive.
 */

const nullableString = t.union([t.string, t.null]);

/** One delivery, as the worker took it in. */
export const ArchivedDelivery = t.type(
  {
    eventId: t.string,
    eventType: t.string,
    /** Epoch milliseconds when the ingress accepted it. */
    receivedAt: t.number,
    /** Epoch milliseconds when the worker decoded and fanned it out. */
    processedAt: t.number,
    /** The request body exactly as received. */
    body: t.string,
    /** Request metadata kept with the delivery (never the signature). */
    headers: t.record(t.string, t.string),
    /** The handlers it was handed to. */
    handlers: t.array(t.string),
    customerId: nullableString,
    customerSourceId: nullableString,
    /** Lower-cased. */
    customerEmail: nullableString,
    voucherCode: nullableString,
    transactionId: nullableString,
  },
  'ArchivedDelivery',
);
export type ArchivedDelivery = t.TypeOf<typeof ArchivedDelivery>;

export const FINAL_OUTCOMES = ['done', 'skipped', 'dead'] as const;
export const FinalOutcome = t.keyof({ done: null, skipped: null, dead: null }, 'FinalOutcome');
export type FinalOutcome = t.TypeOf<typeof FinalOutcome>;

/** One handler's final word on a delivery. */
export const ArchivedOutcome = t.type(
  {
    eventId: t.string,
    /** The delivery's receivedAt: the archive is partitioned by it. */
    receivedAt: t.number,
    handler: t.string,
    outcome: FinalOutcome,
    /** Why it was skipped, or the last error of a dead unit. */
    reason: nullableString,
    attempts: t.number,
    /** Epoch milliseconds. */
    settledAt: t.number,
  },
  'ArchivedOutcome',
);
export type ArchivedOutcome = t.TypeOf<typeof ArchivedOutcome>;

export const JournalEntry = t.union([
  t.type({ kind: t.literal('delivery'), delivery: ArchivedDelivery }),
  t.type({ kind: t.literal('outcome'), outcome: ArchivedOutcome }),
]);
export type JournalEntry = t.TypeOf<typeof JournalEntry>;

/** An archived event as operators read it back. */
export interface ArchivedEvent extends ArchivedDelivery {
  outcomes: ArchivedOutcome[];
}
