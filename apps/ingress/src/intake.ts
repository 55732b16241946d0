import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import { coerceError, type Logger, type RedisClient } from '@vouchflow/core';
import { bulkAdder, type BulkJob } from './bulk-add.js';
import { deliveryKey, intakeJobOptions, type IntakeJobData } from '@vouchflow/pipeline';
import { IntakeClosedError } from './errors/intake-closed-error.js';
import { IntakeUnavailableError } from './errors/intake-unavailable-error.js';
import { traceEnqueue } from './tracing.js';

export type EnqueueResult = 'accepted' | 'duplicate';

/** Where the ingress puts a delivery. */
export interface Intake {
  /**
   * Resolves once Redis holds the delivery: `accepted` when this call stored
   * it, `duplicate` when its event id was already stored inside the
   * deduplication window (nothing is stored then). Rejects with
   * {@link IntakeUnavailableError} or {@link IntakeClosedError}; a rejected
   * delivery may still have been stored, which a retry then finds as a duplicate.
   */
  enqueue(delivery: IntakeJobData): Promise<EnqueueResult>;
  /** Takes no more deliveries, stores the pending ones and waits for every round trip under way. */
  close(): Promise<void>;
}

export interface BatchingIntakeOptions {
  queue: Queue<IntakeJobData>;
  /** The queue's connection; one command per round trip is defined on it. */
  redis: RedisClient;
  /** The deployment's key prefix: a processed delivery's kept record (under it) refuses its duplicates. */
  queuePrefix: string;
  /** How long an event id is remembered while its delivery waits to be processed. */
  dedupWindowMs: number;
  /** Longest wait for one round trip before its deliveries are refused. */
  timeoutMs: number;
  /** Most deliveries in one round trip. */
  maxBatch: number;
  /** Told the size of each round trip (metrics). */
  onBatch?: (size: number) => void;
  /** Warned when the one-command batch add falls back to `queue.addBulk` (see bulk-add.ts). */
  logger?: Logger;
}

interface Pending {
  /** Dropped once handed to Redis, so a delivery waiting for its answer holds no copy of the body. */
  delivery: IntakeJobData | undefined;
  resolve: (result: EnqueueResult) => void;
  reject: (err: Error) => void;
  /** The request's trace, for the worker to continue (tracing.ts). */
  trace?: string;
}

/**
 * Stores the deliveries of concurrent requests in one Redis round trip: every
 * delivery handed over during one turn of the event loop (up to `maxBatch`)
 * goes out as one Redis command at the end of that turn (see bulk-add.ts and
 * the pipeline's BullMQ seam). A
 * request then costs one script call inside Redis instead of a network round
 * trip of its own, and waits at most one event-loop turn longer.
 *
 * A batch that reaches `maxBatch` goes out at once, mid-turn. Under load one
 * turn reads dozens of requests; sent as one batch at its end, Redis would
 * wait while this process parsed them, and this process would then wait
 * while Redis stored them all (in `pnpm bench ingress` it sat idle about a
 * tenth of the time). Smaller batches keep both busy side by side, and also
 * bound how long one script call holds Redis from its other clients.
 *
 * Each job asks for an id no earlier copy can have; BullMQ's add script
 * deduplicates by event id atomically and answers with the id of the copy
 * already stored, so "the id we got is not the id we asked for" means duplicate.
 */
export function createBatchingIntake({
  queue,
  redis,
  queuePrefix,
  dedupWindowMs,
  timeoutMs,
  maxBatch,
  onBatch,
  logger,
}: BatchingIntakeOptions): Intake {
  const addBulk = bulkAdder(queue, redis, logger);
  // Unique per process, so two ingress replicas never ask for the same job id.
  const processTag = randomBytes(5).toString('hex');
  let sequence = 0;
  let pending: Pending[] = [];
  let scheduled = false;
  let closed = false;
  const inFlight = new Set<Promise<void>>();

  async function store(batch: Pending[]): Promise<void> {
    onBatch?.(batch.length);
    const jobs: BulkJob<IntakeJobData>[] = batch.map((p) => {
      const delivery = p.delivery!;
      p.delivery = undefined;
      return {
        name: 'delivery',
        data: delivery,
        opts: {
          ...intakeJobOptions(delivery.eventId, `${processTag}${(sequence++).toString(36)}`, dedupWindowMs),
          ...(p.trace ? { telemetry: { metadata: p.trace } } : {}),
        },
        duplicateIf: deliveryKey(queuePrefix, delivery.eventId),
      };
    });
    const askedIds = jobs.map((job) => job.opts.jobId);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new IntakeUnavailableError(`Redis did not store the deliveries within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const added = await Promise.race([addBulk(jobs), timeout]);
      batch.forEach((p, i) => {
        const result = added[i]!;
        if ('error' in result)
          p.reject(new IntakeUnavailableError(`Redis did not store the delivery: ${result.error.message}`, { cause: result.error }));
        else p.resolve(result.id === askedIds[i] ? 'accepted' : 'duplicate');
      });
    } catch (thrown) {
      const err =
        thrown instanceof IntakeUnavailableError
          ? thrown
          : new IntakeUnavailableError(`Redis did not store the deliveries: ${coerceError(thrown).message}`, { cause: thrown });
      for (const p of batch) p.reject(err);
    } finally {
      clearTimeout(timer);
    }
  }

  function flush(): void {
    scheduled = false;
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const sent: Promise<void> = store(batch).finally(() => inFlight.delete(sent));
    inFlight.add(sent);
  }

  return {
    enqueue(delivery) {
      if (closed) return Promise.reject(new IntakeClosedError());
      const traced = traceEnqueue(delivery.eventId, delivery.eventType);
      return new Promise<EnqueueResult>((resolve, reject) => {
        pending.push({
          delivery,
          resolve: (r) => (traced.end(r), resolve(r)),
          reject: (e) => (traced.end('unavailable'), reject(e)),
          trace: traced.metadata,
        });
        if (pending.length >= maxBatch) flush();
        else if (!scheduled) {
          scheduled = true;
          // setImmediate runs after this turn's I/O callbacks: every request parsed in this turn joins the batch.
          setImmediate(flush);
        }
      });
    },
    async close() {
      closed = true;
      flush();
      await Promise.allSettled([...inFlight]);
    },
  };
}
