import Table from 'cli-table3';
import type { RedisMemoryReport } from '@vouchflow/core';
import type { DeadLetterEntry, EventReport, HandlerStatus, HandlerWork, InDoubtWork, QueueStats, ReplayResult } from '../operations.js';
import type { FoundEvent, FoundOutcome } from '../find-events.js';

/*
 * Human-readable renderings of what the operations return. `--json` prints
 * the same values with JSON.stringify instead, so scripts get every field.
 */

// No colours: output is often piped or pasted into a ticket.
const table = (head: string[]) => new Table({ head, style: { head: [], border: [] } });

/** `2026-11-25 17:30:12Z`: UTC, so what one operator pastes means the same to another. */
export const formatTime = (ms: number | null | undefined): string =>
  ms === null || ms === undefined
    ? '-'
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d{3}Z$/, 'Z');

const oneLine = (text: string | null, max = 80): string => {
  if (!text) return '-';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** `Redis: 12.3 MiB used of 1024.0 MiB (1.2%), 640 B per event over the last hour` */
export function redisMemoryLine(r: RedisMemoryReport): string {
  const max =
    r.maxmemory === 0 ? 'no maxmemory (unlimited)' : `of ${mib(r.maxmemory)} (${((r.usedMemory / r.maxmemory) * 100).toFixed(1)}%)`;
  const perEvent =
    r.bytesPerEvent === null
      ? 'bytes per event not measured yet (the workers sample every minute)'
      : `${r.bytesPerEvent} B per event over the last hour`;
  return `Redis: ${mib(r.usedMemory)} used ${max}, ${perEvent}`;
}

/**
 * Two counts of success that differ on purpose, so both are named for where
 * they come from: a queue's completed jobs (what retention keeps), and units
 * done (inline first tries included, since the deployment began).
 */
export const STATS_LEGEND =
  'jobs completed: completed jobs the queue still keeps (intake keeps none; a handler’s: 24 h); units done: every unit done since the start, first tries run inline included (intake: deliveries processed).';

export function statsTable(rows: readonly QueueStats[]): string {
  const t = table(['queue', 'waiting', 'active', 'delayed', 'jobs completed', 'units done', 'failed', 'dead']);
  for (const r of rows) {
    const notes = [r.paused ? 'paused' : '', r.circuit && r.circuit !== 'closed' ? `circuit ${r.circuit}` : ''].filter(Boolean);
    const queue = notes.length > 0 ? `${r.queue} (${notes.join(', ')})` : r.queue;
    t.push([queue, r.waiting, r.active, r.delayed, r.completed, r.done ?? '-', r.failed, r.dead]);
  }
  return `${t.toString()}\n${STATS_LEGEND}`;
}

export function deadLetterTable(rows: readonly DeadLetterEntry[]): string {
  if (rows.length === 0) return 'No dead letters match.';
  const t = table(['id', 'event id', 'event type', 'handler', 'attempts', 'reason', 'first failed', 'last failed']);
  for (const d of rows) {
    t.push([
      d.id,
      d.eventId,
      d.eventType,
      d.handler ?? '(decode)',
      d.permanent ? `${d.attempts} (for good)` : d.attempts,
      oneLine(d.reason, 60),
      formatTime(d.firstFailedAt),
      formatTime(d.lastFailedAt),
    ]);
  }
  return t.toString();
}

/** A delivery as the operations give it: the parsed body, or the text as received when it is not JSON. */
const prettyDelivery = (delivery: unknown): string => (typeof delivery === 'string' ? delivery : JSON.stringify(delivery, null, 2));

export function deadLetterDetail(d: DeadLetterEntry): string {
  return [
    `id:            ${d.id}`,
    `event:         ${d.eventId} (${d.eventType})`,
    `handler:       ${d.handler ?? '(none: the delivery did not decode)'}`,
    `attempts:      ${d.attempts}`,
    `first failed:  ${formatTime(d.firstFailedAt)}`,
    `last failed:   ${formatTime(d.lastFailedAt)}`,
    `reason:        ${d.reason}`,
    `retryable:     ${d.permanent ? 'no: it failed for good (a PermanentError, or a delivery that does not decode)' : 'yes'}`,
    '',
    'error:',
    d.stack ?? d.reason,
    '',
    'delivery:',
    prettyDelivery(d.delivery),
  ].join('\n');
}

/** `closed`; `open until 17:30:12Z`: when the next probe may run; `half-open` while it runs. */
const circuitCell = (c: HandlerStatus['circuit']): string =>
  c.state === 'open' && c.until !== null ? `open until ${formatTime(c.until).slice(11)}` : c.state;

export function handlersTable(rows: readonly HandlerStatus[]): string {
  if (rows.length === 0) return 'No handlers: no worker of this deployment has started yet.';
  const t = table(['handler', 'state', 'waiting', 'active', 'delayed', 'dead', 'done', 'circuit', 'last error']);
  for (const r of rows)
    t.push([
      r.handler,
      r.state,
      r.waiting,
      r.active,
      r.delayed,
      r.dead,
      r.done,
      circuitCell(r.circuit),
      r.lastError ? `${formatTime(r.lastError.at)} ${oneLine(r.lastError.reason, 50)}` : '-',
    ]);
  return t.toString();
}

/** What the next run of a unit in doubt does, said for `handler`. */
function nextInDoubtText(handler: string, next: InDoubtWork['next']): string {
  switch (next) {
    case 'ask-was-done':
      return `its next run asks ${handler}'s wasDone first: done, it is recorded without running; not done, it runs`;
    case 'run-again':
      return `${handler} has no wasDone: its next run runs it again, so its effect may happen twice`;
    case 'unknown':
      return `its next run asks ${handler}'s wasDone first if it has one, else runs it again`;
  }
}

/**
 * A unit in doubt in full, for `events show` and the event page: which run,
 * since when, and what its next run does.
 */
export function inDoubtText(handler: string, d: InDoubtWork): string {
  const since =
    d.since === null
      ? 'a later run failed before it could settle the doubt, and gave the claim back still in doubt'
      : `its worker died or froze; its lease ran out ${formatTime(d.since)}`;
  return `try ${d.attempt ?? '?'} of ${d.owner} started and never ended (${since}), so its effect may or may not have happened; ${nextInDoubtText(handler, d.next)}`;
}

const NEXT_IN_DOUBT_SHORT: Record<InDoubtWork['next'], string> = {
  'ask-was-done': 'next run asks wasDone',
  'run-again': 'no wasDone: next run runs it again',
  unknown: 'next run asks wasDone if any',
};

/** A unit in doubt in a few words, for one line of `events find`: `try 2 never ended, since 2026-11-25 17:30:12Z; next run asks wasDone`. */
export function inDoubtShort(d: InDoubtWork): string {
  const since = d.since === null ? '' : `, since ${formatTime(d.since)}`;
  return `try ${d.attempt ?? '?'} never ended${since}; ${NEXT_IN_DOUBT_SHORT[d.next]}`;
}

/** `delayed`, `completed (replay)`, `waiting (in doubt)`. */
const stateCell = (h: HandlerWork): string =>
  `${h.state}${h.replay ? ' (replay)' : ''}${h.inDoubt && h.state !== 'in-doubt' ? ' (in doubt)' : ''}`;

export function eventReport(r: EventReport): string {
  const lines = [
    `event:     ${r.eventId} (${r.eventType ?? 'type unknown'})`,
    `received:  ${formatTime(r.receivedAt)}`,
    ...(r.source === 'archive' ? ['source:    the PostgreSQL archive (Redis no longer holds this event)'] : []),
    `intake:    ${r.intake ? `${r.intake.state}${r.intake.reason ? ` (${oneLine(r.intake.reason)})` : ''}` : 'gone (older than the delivery retention)'}`,
    '',
  ];
  if (r.handlers.length === 0) lines.push('No handler work for this event.');
  else {
    const t = table(['handler', 'job id', 'state', 'attempts', 'finished', 'next run', 'reason']);
    for (const h of r.handlers)
      t.push([h.handler, h.jobId, stateCell(h), h.attemptsMade, formatTime(h.finishedAt), formatTime(h.nextRunAt), oneLine(h.reason, 60)]);
    lines.push(t.toString());
    const doubts = r.handlers.flatMap((h) => (h.inDoubt ? [`  ${h.handler}: ${inDoubtText(h.handler, h.inDoubt)}`] : []));
    if (doubts.length > 0) lines.push('', 'In doubt:', ...doubts);
  }
  if (r.deadLetters.length > 0)
    lines.push('', `Dead letters: ${r.deadLetters.map((d) => `${d.id} (${d.handler ?? 'decode'})`).join(', ')}`);
  lines.push('', 'delivery:', prettyDelivery(r.delivery));
  for (const c of r.conflictingDuplicates) {
    lines.push(
      '',
      `conflicting duplicate received ${formatTime(c.receivedAt)} (sha256 ${c.hash.slice(0, 16)}…): same event id, another body; answered 2XX, not processed:`,
      c.body,
    );
  }
  return lines.join('\n');
}

export function replayResult(r: ReplayResult): string {
  return [`Replaying event ${r.eventId}:`, ...r.jobs.map((j) => `  ${j.handler}: job ${j.jobId}`)].join('\n');
}

/** `email: done 2026-11-25 17:30:12Z`, `crm: delayed until 2026-11-25 17:31:12Z (rate limited)`, `sms: dead 2026-11-25 17:30:13Z (400 Bad Request)`. */
export function outcomeLine(o: FoundOutcome): string {
  const what = o.replay ? `${o.outcome} (replay)` : o.outcome;
  const waits = o.outcome === 'delayed' || o.outcome === 'waiting';
  const when =
    waits && o.nextRunAt !== null
      ? ` until ${formatTime(o.nextRunAt)}`
      : !waits && o.finishedAt !== null
        ? ` ${formatTime(o.finishedAt)}`
        : '';
  const why = o.reason ? ` (${oneLine(o.reason.replace(/^skipped: /, ''), 60)})` : '';
  const doubt = !o.inDoubt ? '' : o.outcome === 'in-doubt' ? ` (${inDoubtShort(o.inDoubt)})` : ` [in doubt: ${inDoubtShort(o.inDoubt)}]`;
  return `${o.handler}: ${what}${when}${why}${doubt}`;
}

export function foundEventsTable(rows: readonly FoundEvent[]): string {
  if (rows.length === 0) return 'No events found (the index keeps the delivery retention; older ones are found with ARCHIVE_URL set).';
  const t = table(['received', 'event id', 'event type', 'handlers']);
  for (const e of rows)
    t.push([
      formatTime(e.receivedAt),
      e.source === 'archive' ? `${e.eventId} (archive)` : e.eventId,
      e.eventType ?? '-',
      e.handlers.length > 0 ? e.handlers.map(outcomeLine).join('\n') : 'no handler',
    ]);
  return t.toString();
}
