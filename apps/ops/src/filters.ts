import type { DeadLetterFilter } from '@vouchflow/pipeline';
import { parseDuration } from './duration.js';
import { UsageError } from './errors/usage-error.js';

/** `2h` (that long before `now`), a date such as `2026-11-25T10:00Z`, or epoch milliseconds; undefined when none of these. */
export function parseSince(text: string, now: number): number | undefined {
  const ago = parseDuration(text);
  if (ago !== undefined) return now - ago;
  if (/^\d{10,}$/.test(text.trim())) return Number(text.trim());
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : at;
}

export const SINCE_HELP = 'a duration such as 30m, 2h, 7d, or a date such as 2026-11-25T10:00Z';

/** `true`/`false` from a JSON body or a query string (`?decodeFailures=true`); undefined when absent. */
function flag(input: Record<string, unknown>, name: string): boolean | undefined {
  const v = input[name];
  if (v === undefined || v === '') return undefined;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new UsageError(`${name}: expected true or false`);
}

/**
 * Reads a dead-letter filter from loosely typed input (a query string or a
 * JSON body). Intake's dead letters alone (deliveries that did not decode) are
 * `decodeFailures: true`, or `handler: null` in a JSON body, as entries show them.
 * `reason` matches a part of the failure reason in any case; `retryableOnly: true`
 * leaves out what failed for good.
 */
export function filterFrom(input: Record<string, unknown>, now: number): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  const str = (name: string): string | undefined => {
    const v = input[name];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') throw new UsageError(`${name}: expected a string`);
    return v;
  };
  const decodeFailures = flag(input, 'decodeFailures') === true || input['handler'] === null;
  const handler = input['handler'] === null ? undefined : str('handler');
  if (decodeFailures && handler !== undefined) throw new UsageError('decodeFailures: give it or handler, not both');
  if (handler !== undefined) filter.handler = handler;
  if (decodeFailures) filter.handler = null;
  const eventId = str('eventId');
  if (eventId !== undefined) filter.eventId = eventId;
  const eventType = str('eventType');
  if (eventType !== undefined) filter.eventType = eventType;
  const reason = str('reason');
  if (reason !== undefined) filter.reason = reason;
  if (flag(input, 'retryableOnly') === true) filter.retryableOnly = true;
  const since = input['since'];
  if (since !== undefined && since !== '') {
    const at = typeof since === 'number' ? since : typeof since === 'string' ? parseSince(since, now) : undefined;
    if (at === undefined) throw new UsageError(`since: expected ${SINCE_HELP}`);
    filter.since = at;
  }
  const limit = input['limit'];
  if (limit !== undefined && limit !== '') {
    const n = typeof limit === 'number' ? limit : typeof limit === 'string' && /^\d+$/.test(limit) ? Number(limit) : NaN;
    if (!Number.isInteger(n) || n < 1) throw new UsageError('limit: expected a whole number of at least 1');
    filter.limit = n;
  }
  return filter;
}
