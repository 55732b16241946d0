import type { Queue } from 'bullmq';
import { handlerQueueName, INTAKE_QUEUE, projectKey, type RedisClient } from '@vouchflow/core';
import { failedAt, failedJobIds, readFailedJobs, retryFailedJob, type FailedJobFields } from './bullmq-seam.js';
import type { DeadLetter, DeadLetterFilter, DeadLetterStore, Progress } from './dead-letters.js';
import { deliveryBody } from './deliveries.js';
import { eventIdSegment, openIntakeQueue, type QueueSettings } from './intake.js';
import { HandlerJobData, openHandlerQueue } from './handler-jobs.js';
import { unitAttemptsMade } from './units.js';
import { isRight } from 'fp-ts/lib/Either.js';
import { readHandlerRegistry } from './handler-registry.js';

/*
 * The dead letters ARE BullMQ's failed sets: of the intake queue (deliveries
 * that do not decode) and of every handler queue (units of work out of
 * attempts, or failed permanently). A job reaches a failed set only inside
 * BullMQ's own Lua script that finishes a job, atomically with its last failure, so a
 * process dying at any moment can leave a job active (and the stalled check
 * puts it back to work) or failed (a dead letter), never lost in between.
 * Workers keep failed jobs (`removeOnFail` unset). Beside it we keep one hash
 * per queue of first-failure times, written before each failed try is
 * reported to BullMQ.
 */

/** Hash of `jobId → epoch ms of its first failed try` for one queue. */
export const firstFailureKey = (queuePrefix: string, queueName: string): string => projectKey(queuePrefix, 'first-failed', queueName);

/** Notes when a unit of work first failed (kept if already set). Call before the failure is handed to BullMQ. */
export async function recordFirstFailure(
  redis: RedisClient,
  queuePrefix: string,
  queueName: string,
  jobId: string,
  at = Date.now(),
): Promise<void> {
  await redis.hsetnx(firstFailureKey(queuePrefix, queueName), jobId, String(at));
}

/**
 * Hash of `jobId → epoch ms` for units that failed for good: a PermanentError,
 * or a delivery that does not decode. Kept beside the failure because the
 * stored reason cannot tell it (a PermanentError subclass has its own name, and
 * any error's message may read like one). A retry clears it with the job's
 * failure, in one script.
 */
export const permanentFailureKey = (queuePrefix: string, queueName: string): string =>
  projectKey(queuePrefix, 'failed-for-good', queueName);

/** Notes that a unit failed for good, so `--retryable-only` leaves it out. Call before the failure is handed to BullMQ. */
export async function recordPermanentFailure(
  redis: RedisClient,
  queuePrefix: string,
  queueName: string,
  jobId: string,
  at = Date.now(),
): Promise<void> {
  await redis.hset(permanentFailureKey(queuePrefix, queueName), jobId, String(at));
}

// What the worker wrote as the reason of a PermanentError before permanence was recorded.
const PERMANENT_REASON = /^PermanentError: /;

/**
 * A dead letter's id: `<queue>/<job id>`, e.g. `handler-email/ev-evcus_1-email` or `intake/ev-evcus_1`.
 * Every job id of an event (intake copy, handler unit, replay) holds its {@link eventIdSegment}.
 */
export const deadLetterId = (queueName: string, jobId: string): string => `${queueName}/${jobId}`;

/** Splits a dead-letter id; undefined when it is not one. */
export function parseDeadLetterId(id: string): { queueName: string; jobId: string } | undefined {
  const slash = id.indexOf('/');
  if (slash <= 0 || slash === id.length - 1) return undefined;
  const queueName = id.slice(0, slash);
  if (queueName !== INTAKE_QUEUE && !queueName.startsWith('handler-')) return undefined;
  return { queueName, jobId: id.slice(slash + 1) };
}

/** A {@link DeadLetterStore} that also owns queue handles. */
export interface RedisDeadLetterStore extends DeadLetterStore {
  /** The queues dead letters are looked for in: `intake` and every registered handler's. */
  queueNames(): Promise<string[]>;
  /** Closes the queue handles it opened; the connection stays the caller's. */
  close(): Promise<void>;
}

interface Ref {
  queueName: string;
  jobId: string;
  lastFailedAt: number;
}

const LOAD_BATCH = 200;
const ACT_PARALLEL = 20;

function toDeadLetter(ref: Ref, job: FailedJobFields, firstFailed: string | null, permanent: boolean): DeadLetter | undefined {
  if (job.data === undefined) return undefined;
  let data: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(job.data);
    if (typeof parsed === 'object' && parsed !== null) data = parsed as Record<string, unknown>;
  } catch {
    // Not ours to judge: show the entry with what is readable.
  }
  const lastFailedAt = job.finishedOn ?? ref.lastFailedAt;
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const decoded = HandlerJobData.decode(data);
  return {
    id: deadLetterId(ref.queueName, ref.jobId),
    eventId: str(data['eventId']),
    eventType: str(data['eventType']),
    handler:
      ref.queueName === INTAKE_QUEUE
        ? null
        : typeof data['handler'] === 'string'
          ? data['handler']
          : ref.queueName.slice('handler-'.length),
    // Tries the worker made inline, before the unit's job existed, count too.
    attempts: isRight(decoded) ? unitAttemptsMade(job.attemptsMade, decoded.right) : job.attemptsMade,
    reason: job.failedReason ?? '',
    permanent: permanent || (ref.queueName !== INTAKE_QUEUE && PERMANENT_REASON.test(job.failedReason ?? '')),
    stack: job.lastStack,
    firstFailedAt: Math.min(Number(firstFailed) || lastFailedAt, lastFailedAt),
    lastFailedAt,
    delivery: str(data['body']),
  };
}

async function inBatches<T>(items: readonly T[], size: number, run: (item: T) => Promise<boolean>, onProgress?: Progress): Promise<number> {
  let done = 0;
  let succeeded = 0;
  for (let i = 0; i < items.length; i += size) {
    const results = await Promise.all(items.slice(i, i + size).map(run));
    succeeded += results.filter(Boolean).length;
    done += results.length;
    onProgress?.(done, items.length);
  }
  return succeeded;
}

/** The dead letters of one deployment (`queuePrefix`), read and acted on through `connection`. */
export function createDeadLetterStore(settings: QueueSettings): RedisDeadLetterStore {
  const { connection: redis, queuePrefix } = settings;
  const queues = new Map<string, Queue>();
  const queueFor = (queueName: string): Queue => {
    let q = queues.get(queueName);
    if (!q) {
      q = queueName === INTAKE_QUEUE ? openIntakeQueue(settings) : openHandlerQueue(queueName.slice('handler-'.length), settings);
      queues.set(queueName, q);
    }
    return q;
  };

  async function queueNames(): Promise<string[]> {
    const handlers = await readHandlerRegistry(redis, queuePrefix);
    return [INTAKE_QUEUE, ...[...handlers.keys()].map(handlerQueueName)];
  }

  async function queuesOf(filter: DeadLetterFilter): Promise<string[]> {
    if (filter.handler === null) return [INTAKE_QUEUE];
    if (filter.handler !== undefined) return [handlerQueueName(filter.handler)];
    return queueNames();
  }

  // Every job id of an event holds its id segment, so an event's entries are
  // found from the failed sets' ids alone, loading only those candidates.
  const mayBeOf = (filter: DeadLetterFilter): ((jobId: string) => boolean) => {
    if (filter.eventId === undefined) return () => true;
    const segment = eventIdSegment(filter.eventId);
    return (jobId) => jobId.includes(segment);
  };

  // What only a loaded entry can tell.
  const matchesLoaded = (filter: DeadLetterFilter, entry: DeadLetter): boolean =>
    (filter.eventType === undefined || entry.eventType === filter.eventType) &&
    (filter.eventId === undefined || entry.eventId === filter.eventId) &&
    (filter.reason === undefined || entry.reason.toLowerCase().includes(filter.reason.toLowerCase())) &&
    (!filter.retryableOnly || !entry.permanent);

  const needsLoading = (filter: DeadLetterFilter): boolean =>
    filter.eventType !== undefined || filter.eventId !== undefined || filter.reason !== undefined || filter.retryableOnly === true;

  async function refs(filter: DeadLetterFilter): Promise<Ref[]> {
    const candidate = mayBeOf(filter);
    const out = (await failedJobIds(redis, queuePrefix, await queuesOf(filter), filter.since))
      .filter((ref) => candidate(ref.jobId) && (filter.until === undefined || ref.failedAt <= filter.until))
      .map(({ queueName, jobId, failedAt: at }) => ({ queueName, jobId, lastFailedAt: at }));
    // Newest first across queues; ties in a stable order.
    return out.sort((a, b) => b.lastFailedAt - a.lastFailedAt || (a.queueName + a.jobId < b.queueName + b.jobId ? -1 : 1));
  }

  async function load(batch: readonly Ref[]): Promise<Array<DeadLetter | undefined>> {
    if (batch.length === 0) return [];
    const firsts = redis.pipeline();
    for (const ref of batch) {
      firsts.hget(firstFailureKey(queuePrefix, ref.queueName), ref.jobId);
      firsts.hexists(permanentFailureKey(queuePrefix, ref.queueName), ref.jobId);
    }
    const [jobs, firstResults] = await Promise.all([readFailedJobs(redis, queuePrefix, batch), firsts.exec()]);
    const entries = batch.map((ref, i) => {
      const [err, first] = firstResults?.[2 * i] ?? [null, null];
      const [permanentErr, permanent] = firstResults?.[2 * i + 1] ?? [null, 0];
      if (err) throw err;
      if (permanentErr) throw permanentErr;
      return { entry: toDeadLetter(ref, jobs[i]!, first as string | null, permanent === 1), rawData: jobs[i]!.data };
    });
    // A unit that died without running (it stalled too often) may hold only its
    // event id: show the kept delivery while the retention window holds it.
    const missing = entries.flatMap(({ entry, rawData }) => {
      if (!entry || entry.delivery !== '' || !rawData) return [];
      const intakeJobId = (JSON.parse(rawData) as { intakeJobId?: unknown }).intakeJobId;
      return typeof intakeJobId === 'string' ? [{ entry, intakeJobId }] : [];
    });
    await Promise.all(
      missing.map(async ({ entry, intakeJobId }) => {
        const body = await deliveryBody(redis, queuePrefix, entry.eventId, intakeJobId);
        if (body !== undefined) entry.delivery = body;
      }),
    );
    return entries.map((e) => e.entry);
  }

  async function list(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const all = await refs(filter);
    const limit = filter.limit ?? Infinity;
    const out: DeadLetter[] = [];
    for (let i = 0; i < all.length && out.length < limit; i += LOAD_BATCH) {
      for (const entry of await load(all.slice(i, i + LOAD_BATCH))) {
        if (!entry || !matchesLoaded(filter, entry)) continue;
        out.push(entry);
        if (out.length >= limit) break;
      }
    }
    return out;
  }

  async function get(id: string): Promise<DeadLetter | undefined> {
    const parsed = parseDeadLetterId(id);
    if (!parsed) return undefined;
    const at = await failedAt(redis, queuePrefix, parsed.queueName, parsed.jobId);
    if (at === undefined) return undefined;
    const [entry] = await load([{ ...parsed, lastFailedAt: at }]);
    return entry;
  }

  async function retryRef(ref: { queueName: string; jobId: string }): Promise<boolean> {
    // One script: fresh attempts and stall count, the failure carried by a unit that failed
    // for good before its job existed dropped (a retry runs it instead), its first failure forgotten.
    return retryFailedJob(queueFor(ref.queueName), redis, ref.jobId, {
      dropDataField: 'failed',
      firstFailureKey: firstFailureKey(queuePrefix, ref.queueName),
      permanentFailureKey: permanentFailureKey(queuePrefix, ref.queueName),
    });
  }

  async function purgeRef(ref: { queueName: string; jobId: string }): Promise<boolean> {
    // Only a job still dead: one retried meanwhile is running again and is not ours to delete.
    if ((await failedAt(redis, queuePrefix, ref.queueName, ref.jobId)) === undefined) return false;
    const removed = await queueFor(ref.queueName).remove(ref.jobId);
    await Promise.all([
      redis.hdel(firstFailureKey(queuePrefix, ref.queueName), ref.jobId),
      redis.hdel(permanentFailureKey(queuePrefix, ref.queueName), ref.jobId),
    ]);
    return removed === 1;
  }

  async function matching(filter: DeadLetterFilter): Promise<Ref[]> {
    if (!needsLoading(filter) && filter.limit === undefined) return refs(filter);
    return (await list(filter)).map((d) => ({ ...parseDeadLetterId(d.id)!, lastFailedAt: d.lastFailedAt }));
  }

  return {
    list,
    get,
    queueNames,
    async count(filter = {}) {
      if (needsLoading(filter)) return (await list(filter)).length;
      const n = (await refs(filter)).length;
      return Math.min(n, filter.limit ?? n);
    },
    async retry(id) {
      const parsed = parseDeadLetterId(id);
      if (!parsed) return false;
      return retryRef(parsed);
    },
    async retryAll(filter = {}, onProgress) {
      return inBatches(await matching(filter), ACT_PARALLEL, retryRef, onProgress);
    },
    async purge(filter = {}, onProgress) {
      return inBatches(await matching(filter), ACT_PARALLEL, purgeRef, onProgress);
    },
    async ids(filter = {}) {
      return (await matching(filter)).map((ref) => deadLetterId(ref.queueName, ref.jobId));
    },
    async purgeIds(ids, onProgress) {
      const refs = ids.flatMap((id) => parseDeadLetterId(id) ?? []);
      return inBatches(refs, ACT_PARALLEL, purgeRef, onProgress);
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
      queues.clear();
    },
  };
}
