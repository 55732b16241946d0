import type { EventEmitter } from 'node:events';
import { SECOND, type Logger, type RedisClient } from '@vouchflow/core';
import type { AnyHandler, HandlerOutcome } from '@vouchflow/handler-kit';
import type { BodyDeflater, UnitRecords } from '@vouchflow/pipeline';
import type { ArchiveJournal } from '@vouchflow/archive';
import type { DeliveryCache } from './delivery-cache.js';
import type { HandlerRuns } from './handler-runs.js';
import type { RetryLaterLimits } from './retry-later.js';
import type { InDoubtResolution, WorkerMetrics } from './metrics.js';
import { Semaphore } from './semaphore.js';
import type { CircuitBreaker } from './circuit.js';

/** A unit of work that ended well (ran, or was skipped as already done), inline or from its queue. */
export interface SettledUnit {
  handler: string;
  eventId: string;
  /** The handler job id the unit has (or would have). */
  unitId: string;
  result: HandlerOutcome | { done: true };
}

export const DEFAULT_CONCURRENCY = 10;
const DEFAULT_TIMEOUT = 30 * SECOND;

/**
 * The state the intake and handler-job processors share, built once by
 * createWorker (defaults applied) and handed to them, so no processor reaches
 * into another's closure.
 */
export interface WorkerContext {
  readonly connection: RedisClient;
  readonly queuePrefix: string;
  readonly logger: Logger;
  readonly metrics: WorkerMetrics;
  /** Once-only claims and records of this process, batched per event-loop turn. */
  readonly records: UnitRecords;
  /** Deflates kept deliveries' bodies off the event loop. */
  readonly deflater: BodyDeflater;
  readonly cache: DeliveryCache;
  readonly events: EventEmitter<WorkerEvents>;
  readonly runs: HandlerRuns;
  readonly retryLater: RetryLaterLimits;
  /** The archive's journal when ARCHIVE_URL is set: deliveries and final outcomes are appended to it. */
  readonly archive?: ArchiveJournal;
}

/** In-process notifications: a unit settled; this process saw a handler's queue paused or resumed, or its circuit breaker change. */
export type WorkerEvents = {
  settled: [SettledUnit];
  paused: [{ handler: string; paused: boolean }];
  circuit: [{ handler: string; state: 'closed' | 'open' | 'half-open' }];
};

/** Per handler: metric children bound once (labelling every time costs more than a no-op run), and its permits. */
export function perHandlerOf(h: AnyHandler, metrics: WorkerMetrics, circuit?: CircuitBreaker) {
  return {
    handler: h,
    /** Its circuit breaker; undefined when off. */
    circuit,
    timeoutMs: h.timeoutMs ?? DEFAULT_TIMEOUT,
    // Shared by inline runs and queue jobs, so the declared concurrency holds per process.
    permits: new Semaphore(h.concurrency ?? DEFAULT_CONCURRENCY),
    /** The handler's queue is paused (`pnpm ops pause`): first tries wait in it as jobs instead of running inline. */
    pause: { paused: false },
    completed: metrics.completed.labels({ handler: h.name }),
    skipped: metrics.skipped.labels({ handler: h.name, reason: 'already_done' }),
    /** Units in doubt whose `wasDone` confirmed the effect: recorded done without running. */
    confirmedDone: metrics.skipped.labels({ handler: h.name, reason: 'confirmed_done' }),
    inDoubt: (resolution: InDoubtResolution) => metrics.unitsInDoubt.labels({ handler: h.name, resolution }),
    failed: metrics.failed.labels({ handler: h.name }),
    retried: metrics.retried.labels({ handler: h.name }),
    retryLater: metrics.retryLater.labels({ handler: h.name }),
    overruns: metrics.overruns.labels({ handler: h.name }),
    tookCompleted: metrics.duration.labels({ handler: h.name, outcome: 'completed' }),
    took: (outcome: string) => metrics.duration.labels({ handler: h.name, outcome }),
  };
}

export type PerHandler = ReturnType<typeof perHandlerOf>;
