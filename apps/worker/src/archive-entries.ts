import type { ArchivedOutcome } from '@vouchflow/archive';
import type { HandlerOutcome } from '@vouchflow/handler-kit';
import type { IntakeJobData } from '@vouchflow/pipeline';
import { subjectsOf } from '@vouchflow/schema';
import type { WorkerContext } from './worker-context.js';

/*
 * What the worker hands the optional archive (ARCHIVE_URL): each delivery once
 * it is decoded and fanned out, and each unit's final outcome. Both are Redis
 * appends batched per event-loop turn (the archive's journal); PostgreSQL is
 * the archiver's business, never the acknowledgement path's. Without an
 * archive these are no-ops.
 */

/** Journals a delivery as received, with who and what it is about. */
export function archiveDelivery(
  ctx: WorkerContext,
  data: IntakeJobData,
  event: { data: unknown },
  handlers: readonly string[],
): Promise<void> {
  if (!ctx.archive) return Promise.resolve();
  return ctx.archive.delivery({
    eventId: data.eventId,
    eventType: data.eventType,
    receivedAt: data.receivedAt,
    processedAt: Date.now(),
    body: data.body,
    // The ingress checks the signature and keeps no request header; there is nothing more to keep yet.
    headers: {},
    handlers: [...handlers],
    ...subjectsOf(event),
  });
}

type UnitEnd = Pick<ArchivedOutcome, 'eventId' | 'receivedAt' | 'handler' | 'attempts'>;

/** Journals a unit that ended well: done, or skipped with its reason (already done, or the handler's own). */
export function archiveSettled(ctx: WorkerContext, unit: UnitEnd, result: HandlerOutcome | { done: true }): Promise<void> {
  if (!ctx.archive) return Promise.resolve();
  const skipped = 'skipped' in result ? result.skipped : undefined;
  return ctx.archive.outcome({
    ...unit,
    outcome: skipped === undefined ? 'done' : 'skipped',
    reason: skipped ?? null,
    settledAt: Date.now(),
  });
}

/** Journals a dead-lettered unit with its last error. A later successful retry journals `done`, which supersedes it. */
export function archiveDead(ctx: WorkerContext, unit: UnitEnd, reason: string): Promise<void> {
  if (!ctx.archive) return Promise.resolve();
  return ctx.archive.outcome({ ...unit, outcome: 'dead', reason, settledAt: Date.now() });
}
