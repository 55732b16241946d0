import type { EventIndexQuery, IndexedEvent } from '@vouchflow/pipeline';
import type { EventQuery } from '@vouchflow/archive';
import { UsageError } from './errors/usage-error.js';
import { NotFoundError } from './errors/not-found-error.js';
import { parseSince, SINCE_HELP } from './filters.js';
import type { EventReport, HandlerWork, InDoubtWork } from './operations.js';

/*
 * `pnpm ops events find` and `GET /api/events`: an event found by whom or what
 * it is about (the worker's event index, then the archive for what Redis no
 * longer holds), with where each of its handlers stands, computed exactly as
 * `events show` computes it.
 */

/** What to look for: exactly one of customer (id, source id or e-mail, any case), code or transaction. */
export type FindQuery = EventIndexQuery;

/** Rows `events find` gives unless `--limit` says otherwise. */
export const FIND_LIMIT = 20;
/** Most rows one look-up gives: each is an `events show`. */
export const FIND_MAX = 200;

/** One handler's word on a found event. */
export interface FoundOutcome {
  handler: string;
  /**
   * `done`; `skipped` (a twin did it, or the handler chose to: see `reason`); `waiting` or `delayed` (see `reason`
   * and `nextRunAt`: rate limited, retry later, retry after failure, circuit open, paused); `running`;
   * `in-doubt` (its run started and never ended: see `inDoubt`); `dead` (a dead letter); `gone` (retention
   * removed its records); `unknown`.
   */
  outcome: 'done' | 'skipped' | 'waiting' | 'delayed' | 'running' | 'in-doubt' | 'dead' | 'gone' | 'unknown';
  reason: string | null;
  /** Epoch ms a waiting or delayed unit runs next. */
  nextRunAt: number | null;
  /** Epoch ms it was done, skipped or dead-lettered, where known. */
  finishedAt: number | null;
  attempts: number;
  /** The outcome is an operator's replay's. */
  replay: boolean;
  /** As `events show` gives it: an earlier run that started and never ended, whatever the outcome says of the unit now. */
  inDoubt: InDoubtWork | null;
}

export interface FoundEvent {
  eventId: string;
  eventType: string | null;
  /** Epoch ms the ingress accepted it. */
  receivedAt: number | null;
  /** Where it was found: Redis's hot window, or the PostgreSQL archive beyond it. */
  source: 'redis' | 'archive';
  handlers: FoundOutcome[];
}

function outcomeOf(work: HandlerWork): FoundOutcome {
  const base = {
    handler: work.handler,
    reason: work.reason,
    nextRunAt: work.nextRunAt,
    finishedAt: work.finishedAt,
    attempts: work.attemptsMade,
    replay: work.replay,
    inDoubt: work.inDoubt,
  };
  switch (work.state) {
    case 'completed':
      // A unit done after failed tries keeps its last error in BullMQ: not the outcome.
      return work.reason?.startsWith('skipped') ? { ...base, outcome: 'skipped' } : { ...base, outcome: 'done', reason: null };
    case 'active':
      return { ...base, outcome: 'running' };
    case 'waiting':
    case 'delayed':
    case 'in-doubt':
    case 'dead':
    case 'gone':
    case 'unknown':
      return { ...base, outcome: work.state };
  }
}

/** An `events show` report as a row: per handler, its latest unit (a replay after the original). */
export function foundEvent(report: EventReport): FoundEvent {
  const latest = new Map<string, HandlerWork>();
  for (const work of report.handlers) latest.set(work.handler, work);
  return {
    eventId: report.eventId,
    eventType: report.eventType,
    receivedAt: report.receivedAt,
    source: report.source,
    handlers: [...latest.values()].map(outcomeOf),
  };
}

export interface FindDeps {
  /** The event index in Redis. */
  indexed(query: FindQuery): Promise<IndexedEvent[]>;
  /** `events show`. @throws NotFoundError when nothing is kept. */
  show(eventId: string): Promise<EventReport>;
  /** The archive's matches, as reports; absent without ARCHIVE_URL. */
  archived?: (query: EventQuery) => Promise<EventReport[]>;
}

/** Events matching the query, newest first: Redis's first, then the archive's for what Redis no longer holds. */
export async function findEvents(query: FindQuery, deps: FindDeps): Promise<FoundEvent[]> {
  const limit = Math.min(query.limit ?? FIND_LIMIT, FIND_MAX);
  const since = query.since ?? 0;
  const found = new Map<string, FoundEvent>();
  for (const { eventId } of await deps.indexed({ ...query, limit })) {
    try {
      found.set(eventId, foundEvent(await deps.show(eventId)));
    } catch (err) {
      // Indexed, but its delivery is gone from Redis: the archive may still have it.
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  if (deps.archived) {
    const archiveQuery: EventQuery = {
      ...('customer' in query ? { customer: query.customer.trim() } : {}),
      ...('code' in query ? { code: query.code.trim() } : {}),
      ...('transaction' in query ? { transaction: query.transaction.trim() } : {}),
      ...(query.since !== undefined ? { since: query.since } : {}),
      limit,
    };
    for (const report of await deps.archived(archiveQuery)) if (!found.has(report.eventId)) found.set(report.eventId, foundEvent(report));
  }
  return [...found.values()]
    .filter((e) => (e.receivedAt ?? Infinity) >= since)
    .sort((a, b) => (b.receivedAt ?? 0) - (a.receivedAt ?? 0))
    .slice(0, limit);
}

const QUERY_HELP =
  'give exactly one of customer (a customer id, source id or e-mail), code (a voucher code) or transaction (a transaction id), optionally with since and limit';

/** A find query from loosely typed input (a query string or CLI options); a UsageError when it asks for nothing, or for two things. */
export function findQueryFrom(input: Record<string, unknown>, now: number): FindQuery {
  const known = new Set(['customer', 'code', 'transaction', 'since', 'limit']);
  const unknown = Object.keys(input).filter((k) => !known.has(k) && input[k] !== undefined);
  if (unknown.length > 0)
    throw new UsageError(`unknown ${unknown.length === 1 ? 'parameter' : 'parameters'} ${unknown.join(', ')}: ${QUERY_HELP}`);
  const text = (name: string): string | undefined => {
    const v = input[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new UsageError(`${name}: expected one string`);
    if (v.trim() === '') throw new UsageError(`${name}: empty; ${QUERY_HELP}`);
    return v;
  };
  const [customer, code, transaction] = [text('customer'), text('code'), text('transaction')];
  const given = [customer, code, transaction].filter((v) => v !== undefined).length;
  if (given !== 1) throw new UsageError(given === 0 ? QUERY_HELP : `${QUERY_HELP}, not several`);
  const options: { since?: number; limit?: number } = {};
  const since = input['since'];
  if (since !== undefined && since !== '') {
    const at = typeof since === 'number' ? since : typeof since === 'string' ? parseSince(since, now) : undefined;
    if (at === undefined) throw new UsageError(`since: expected ${SINCE_HELP}`);
    options.since = at;
  }
  const limit = input['limit'];
  if (limit !== undefined && limit !== '') {
    const n = typeof limit === 'number' ? limit : typeof limit === 'string' && /^\d+$/.test(limit) ? Number(limit) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > FIND_MAX) throw new UsageError(`limit: expected a whole number from 1 to ${FIND_MAX}`);
    options.limit = n;
  }
  if (customer !== undefined) return { customer, ...options };
  if (code !== undefined) return { code, ...options };
  return { transaction: transaction!, ...options };
}
