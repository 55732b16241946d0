import { projectKey, type RedisClient } from '@vouchflow/core';
import { normaliseEmail, subjectsOf, type EventSubjects } from '@vouchflow/schema';
import { eventIdOfUnit } from './handler-jobs.js';
import { eventIdSegment } from './intake.js';
import { unitRecordReader, type UnitRecords } from './units.js';

/*
 * Finding events by who they are about: support starts from a customer id, a
 * source id, an e-mail address, a card code or a transaction id, not from an
 * event id. Kept small, because it is written for every event:
 *
 *   find:customer:<customer>   sorted set: event id → receivedAt (ms)
 *   find:code:<voucher code>   the same, per voucher code
 *   find:email:<e-mail>        string: the customer it belongs to
 *   find:source:<source id>    string: the customer it belongs to
 *
 * A sorted set holds an event id and a score per event and is trimmed to the
 * newest {@link EVENT_INDEX_MAX_PER_KEY}; the aliases cost per customer, not
 * per event. Every key expires with the delivery retention. A transaction
 * needs no index of its own: a loyalty transaction's id IS the business key of
 * its once-only records, whose owner is the unit, which names the event.
 *
 * `<customer>` is the customer id, else the source id, else the e-mail. Keys
 * end in an {@link eventIdSegment} of the value (safe characters, over-long
 * values hashed); members are event ids with `%`, `|` and line breaks
 * percent-encoded: the batch protocol was once '|'-separated text, and
 * members already stored that way must keep decoding the same. Aliases
 * hold the customer as it is.
 */

/** Most events kept per customer and per voucher code: the newest win. */
export const EVENT_INDEX_MAX_PER_KEY = 500;

type IndexKind = 'customer' | 'code' | 'email' | 'source';

const indexKey = (queuePrefix: string, kind: IndexKind, value: string): string =>
  projectKey(queuePrefix, 'find', kind, eventIdSegment(value));

const encodeMember = (value: string): string => value.replace(/[%|\r\n]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
const decodeMember = (member: string): string =>
  member.replace(/%([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/** The name a customer's events are kept under: the id, else the source id, else the e-mail. */
const customerHandle = (s: EventSubjects): string | null => s.customerId ?? s.customerSourceId ?? s.customerEmail;

/**
 * Indexes one delivery under whom and what it is about, in the unit records'
 * batch (one Lua call per event-loop turn for every delivery in it).
 */
export async function indexEvent(
  records: Pick<UnitRecords, 'index' | 'set'>,
  queuePrefix: string,
  event: { eventId: string; receivedAt: number; delivery: { data: unknown } },
  retentionMs: number,
): Promise<void> {
  const subjects = subjectsOf(event.delivery);
  const member = encodeMember(event.eventId);
  const writes: Promise<void>[] = [];
  const handle = customerHandle(subjects);
  if (handle !== null) {
    writes.push(records.index(indexKey(queuePrefix, 'customer', handle), member, event.receivedAt, EVENT_INDEX_MAX_PER_KEY, retentionMs));
    const alias = Buffer.from(handle, 'utf8');
    if (subjects.customerEmail !== null && subjects.customerEmail !== handle)
      writes.push(records.set(indexKey(queuePrefix, 'email', subjects.customerEmail), alias, retentionMs));
    if (subjects.customerSourceId !== null && subjects.customerSourceId !== handle)
      writes.push(records.set(indexKey(queuePrefix, 'source', subjects.customerSourceId), alias, retentionMs));
  }
  if (subjects.voucherCode !== null)
    writes.push(
      records.index(indexKey(queuePrefix, 'code', subjects.voucherCode), member, event.receivedAt, EVENT_INDEX_MAX_PER_KEY, retentionMs),
    );
  await Promise.all(writes);
}

/** What to find: exactly one of customer (id, source id or e-mail, any case), code or transaction. */
export type EventIndexQuery = ({ customer: string } | { code: string } | { transaction: string }) & {
  /** Epoch ms: only events received at or after it. */
  since?: number;
  /** @defaultValue 50 */
  limit?: number;
};

/** An event the index holds; `receivedAt` is null where the index does not know it (transactions). */
export interface IndexedEvent {
  eventId: string;
  receivedAt: number | null;
}

async function newestOf(redis: RedisClient, keys: readonly string[], since: number, limit: number): Promise<IndexedEvent[]> {
  const found = new Map<string, number>();
  for (const key of new Set(keys)) {
    const flat = await redis.zrevrangebyscore(key, '+inf', since, 'WITHSCORES', 'LIMIT', 0, limit);
    for (let i = 0; i + 1 < flat.length; i += 2) found.set(decodeMember(flat[i]!), Number(flat[i + 1]));
  }
  return [...found]
    .map(([eventId, receivedAt]) => ({ eventId, receivedAt }))
    .sort((a, b) => b.receivedAt - a.receivedAt)
    .slice(0, limit);
}

/**
 * The events the index holds for a query, newest first. `handlers` are the
 * handlers whose once-only records name a transaction's events.
 */
export async function findIndexedEvents(
  redis: RedisClient,
  queuePrefix: string,
  query: EventIndexQuery,
  handlers: readonly string[],
): Promise<IndexedEvent[]> {
  const since = query.since ?? 0;
  const limit = query.limit ?? 50;
  if ('customer' in query) {
    const given = query.customer.trim();
    const [byEmail, bySource] = await Promise.all([
      redis.get(indexKey(queuePrefix, 'email', normaliseEmail(given))),
      redis.get(indexKey(queuePrefix, 'source', given)),
    ]);
    const handles = [given, normaliseEmail(given), ...[byEmail, bySource].filter((h): h is string => h !== null)];
    return newestOf(
      redis,
      handles.map((h) => indexKey(queuePrefix, 'customer', h)),
      since,
      limit,
    );
  }
  if ('code' in query) return newestOf(redis, [indexKey(queuePrefix, 'code', query.code.trim())], since, limit);
  const reader = unitRecordReader(redis, queuePrefix);
  const transaction = query.transaction.trim();
  const events = new Set<string>();
  for (const handler of handlers) {
    const record = await reader.read(transaction, handler);
    // Every state names the unit whose run it was: running, in doubt (its run never ended) or done.
    const eventId = record && eventIdOfUnit(record.owner, handler);
    if (eventId !== undefined) events.add(eventId);
  }
  return [...events].slice(0, limit).map((eventId) => ({ eventId, receivedAt: null }));
}
