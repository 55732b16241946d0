import type { Queue } from 'bullmq';
import { bullPrefix, handlerQueueName, INTAKE_QUEUE, projectKey, type RedisClient } from '@vouchflow/core';
import type { DeadLetter, DeadLetterFilter, DeadLetterStore, Progress } from './dead-letters.js';
import { eventIdSegment, openIntakeQueue, type QueueSettings } from './intake.js';
import { openHandlerQueue } from './handler-jobs.js';
import { readHandlerRegistry } from './handler-registry.js';

/*
 * The dead letters ARE BullMQ's failed sets: of the intake queue (deliveries
 * that do not decode) and of every handler queue (units of work out of
 * attempts, or failed permanently). A job reaches a failed set only inside
 * BullMQ's moveToFinished Lua script, atomically with its last failure, so a
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

const JOB_FIELDS = ['data', 'atm', 'failedReason', 'stacktrace', 'finishedOn'] as const;
const LOAD_BATCH = 200;
const ACT_PARALLEL = 20;

function toDeadLetter(ref: Ref, fields: Array<string | null>, firstFailed: string | null): DeadLetter | undefined {
  const [rawData, atm, failedReason, stacktrace, finishedOn] = fields;
  if (rawData === null || rawData === undefined) return undefined;
  let data: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(rawData);
    if (typeof parsed === 'object' && parsed !== null) data = parsed as Record<string, unknown>;
  } catch {
    // Not ours to judge: show the entry with what is readable.
  }
  let stack: string | null = null;
  try {
    const list: unknown = JSON.parse(stacktrace ?? '[]');
    if (Array.isArray(list) && list.length > 0) stack = String(list[list.length - 1]);
  } catch {
    stack = null;
  }
  const lastFailedAt = Number(finishedOn) || ref.lastFailedAt;
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
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
    attempts: (Number(atm) || 0) + (typeof data['attemptOffset'] === 'number' ? data['attemptOffset'] : 0),
    reason: failedReason ?? '',
    stack,
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
  const prefix = bullPrefix(queuePrefix);
  const queues = new Map<string, Queue>();
  const queueFor = (queueName: string): Queue => {
    let q = queues.get(queueName);
    if (!q) {
      q =
        queueName === INTAKE_QUEUE
          ? (openIntakeQueue(settings) as unknown as Queue)
          : (openHandlerQueue(queueName.slice('handler-'.length), settings) as unknown as Queue);
      queues.set(queueName, q);
    }
    return q;
  };
  const jobKey = (queueName: string, jobId: string) => `${prefix}:${queueName}:${jobId}`;
  const failedKey = (queueName: string) => `${prefix}:${queueName}:failed`;

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
    (filter.eventId === undefined || entry.eventId === filter.eventId);

  const needsLoading = (filter: DeadLetterFilter): boolean => filter.eventType !== undefined || filter.eventId !== undefined;

  async function refs(filter: DeadLetterFilter): Promise<Ref[]> {
    const names = await queuesOf(filter);
    const candidate = mayBeOf(filter);
    const pipeline = redis.pipeline();
    for (const name of names) pipeline.zrevrangebyscore(failedKey(name), filter.until ?? '+inf', filter.since ?? '-inf', 'WITHSCORES');
    const results = (await pipeline.exec()) ?? [];
    const out: Ref[] = [];
    results.forEach(([err, value], i) => {
      if (err) throw err;
      const flat = value as string[];
      for (let j = 0; j + 1 < flat.length; j += 2) {
        if (candidate(flat[j]!)) out.push({ queueName: names[i]!, jobId: flat[j]!, lastFailedAt: Number(flat[j + 1]) });
      }
    });
    // Newest first across queues; ties in a stable order.
    return out.sort((a, b) => b.lastFailedAt - a.lastFailedAt || (a.queueName + a.jobId < b.queueName + b.jobId ? -1 : 1));
  }

  async function load(batch: readonly Ref[]): Promise<Array<DeadLetter | undefined>> {
    if (batch.length === 0) return [];
    const pipeline = redis.pipeline();
    for (const ref of batch) {
      pipeline.hmget(jobKey(ref.queueName, ref.jobId), ...JOB_FIELDS);
      pipeline.hget(firstFailureKey(queuePrefix, ref.queueName), ref.jobId);
    }
    const results = (await pipeline.exec()) ?? [];
    const entries = batch.map((ref, i) => {
      const [e1, fields] = results[2 * i] ?? [null, null];
      const [e2, first] = results[2 * i + 1] ?? [null, null];
      if (e1) throw e1;
      if (e2) throw e2;
      return {
        entry: toDeadLetter(ref, fields as Array<string | null>, first as string | null),
        rawData: (fields as Array<string | null>)[0],
      };
    });
    // A unit that died without running (it stalled too often) may hold only a
    // pointer to its intake job: show the delivery from there while it is kept.
    const missing = entries.flatMap(({ entry, rawData }) => {
      if (!entry || entry.delivery !== '' || !rawData) return [];
      const intakeJobId = (JSON.parse(rawData) as { intakeJobId?: unknown }).intakeJobId;
      return typeof intakeJobId === 'string' ? [{ entry, intakeJobId }] : [];
    });
    if (missing.length > 0) {
      const more = redis.pipeline();
      for (const { intakeJobId } of missing) more.hget(jobKey(INTAKE_QUEUE, intakeJobId), 'data');
      const found = (await more.exec()) ?? [];
      missing.forEach(({ entry }, i) => {
        const raw = found[i]?.[1];
        if (typeof raw === 'string') entry.delivery = (JSON.parse(raw) as { body?: string }).body ?? '';
      });
    }
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
    const score = await redis.zscore(failedKey(parsed.queueName), parsed.jobId);
    if (score === null) return undefined;
    const [entry] = await load([{ ...parsed, lastFailedAt: Number(score) }]);
    return entry;
  }

  async function retryRef(ref: { queueName: string; jobId: string }): Promise<boolean> {
    const queue = queueFor(ref.queueName);
    const job = await queue.getJob(ref.jobId);
    if (!job) return false;
    // A job dead-lettered for stalling keeps its stall count; fresh attempts mean a fresh count too.
    await redis.hdel(jobKey(ref.queueName, ref.jobId), 'stc');
    // A unit that failed for good before its job existed carries that failure; a retry runs it instead.
    const data = job.data as Record<string, unknown>;
    if (data['failed'] !== undefined) {
      const { failed: _failed, ...rest } = data;
      await job.updateData(rest);
    }
    try {
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    } catch {
      // Not in the failed set any more (retried or purged meanwhile).
      return false;
    }
    await redis.hdel(firstFailureKey(queuePrefix, ref.queueName), ref.jobId);
    return true;
  }

  async function purgeRef(ref: { queueName: string; jobId: string }): Promise<boolean> {
    // Only a job still dead: one retried meanwhile is running again and is not ours to delete.
    if ((await redis.zscore(failedKey(ref.queueName), ref.jobId)) === null) return false;
    const removed = await queueFor(ref.queueName).remove(ref.jobId);
    await redis.hdel(firstFailureKey(queuePrefix, ref.queueName), ref.jobId);
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
