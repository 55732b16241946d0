/*
 * The contract of the BullMQ seam against the pinned BullMQ: each function
 * that reaches into BullMQ's internals is compared with what BullMQ's public
 * API does or reads. An upgrade that changes a script, a key or a hash field
 * the seam relies on fails here, not in production.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { bullPrefix } from '@vouchflow/core';
import { deletePrefix, openQueueEvents, testRedisUrl, uniquePrefix, waitForEvent } from '@vouchflow/test-support';
import {
  checkBullmqSeam,
  delayedUntil,
  failedAt,
  failedJobIds,
  firstFailureKey,
  installedBullmqVersion,
  intakeJobOptions,
  openIntakeQueue,
  PINNED_BULLMQ_VERSION,
  publicBulkAdder,
  readFailedJobs,
  readJobData,
  recordFirstFailure,
  permanentFailureKey,
  recordPermanentFailure,
  retryFailedJob,
  scriptBulkAdder,
  type IntakeJobData,
} from '@vouchflow/pipeline';

const ROOT = resolve(import.meta.dirname, '../../..');
const prefix = uniquePrefix('seam');
let redis: Redis;
let queue: Queue<IntakeJobData>;
let n = 0;
const eventId = () => `evcus_seam_${process.pid}_${n++}`;
const data = (id: string): IntakeJobData => ({ body: `{"event":{"id":"${id}"}}`, eventId: id, eventType: 't', receivedAt: 1 });

beforeAll(async () => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  queue = openIntakeQueue({ connection: redis, queuePrefix: prefix });
  await queue.waitUntilReady();
});
afterAll(async () => {
  await queue.close();
  await deletePrefix(testRedisUrl(), prefix);
  await redis.quit();
});

/** Runs the queue's waiting jobs through a real worker that fails each for good; resolves when `count` have failed. */
async function failJobs(q: Queue, count: number, reason = 'boom'): Promise<void> {
  const events = await openQueueEvents(testRedisUrl(), bullPrefix(prefix), q.name);
  const failed = waitForEvent(events, 'failed', () => true, { count });
  const connection = redis.duplicate();
  const worker = new Worker(
    q.name,
    () => {
      throw new UnrecoverableError(reason);
    },
    { connection, prefix: bullPrefix(prefix) },
  );
  try {
    await failed;
  } finally {
    await worker.close();
    await events.close();
    await connection.quit();
  }
}

describe('the pin', () => {
  it('is the installed BullMQ, every package pins it exactly, and the seam says it matches', () => {
    expect(installedBullmqVersion()).toBe(PINNED_BULLMQ_VERSION);
    for (const pkg of [
      'package.json',
      'apps/ingress/package.json',
      'apps/ops/package.json',
      'apps/worker/package.json',
      'packages/pipeline/package.json',
      'packages/test-support/package.json',
    ]) {
      const json = JSON.parse(readFileSync(resolve(ROOT, pkg), 'utf8')) as {
        dependencies?: Record<string, string>;
        devDependencies?: Record<string, string>;
      };
      expect({ pkg, bullmq: json.dependencies?.['bullmq'] ?? json.devDependencies?.['bullmq'] }).toEqual({
        pkg,
        bullmq: PINNED_BULLMQ_VERSION,
      });
    }
    expect(checkBullmqSeam()).toEqual({ ok: true, version: PINNED_BULLMQ_VERSION });
  });
});

describe('bulk add (one command per batch)', () => {
  it('stores a job exactly as queue.add does: job hash, wait list, event, deduplication key', async () => {
    const [a, b] = [eventId(), eventId()];
    const viaAdd = await queue.add('delivery', data(a), intakeJobOptions(a, 'n1', 3_600_000));
    const [viaBulk] = await scriptBulkAdder(
      queue,
      redis,
    )([{ name: 'delivery', data: data(b), opts: intakeJobOptions(b, 'n2', 3_600_000) }]);
    expect(viaBulk).toEqual({ id: intakeJobOptions(b, 'n2', 1).jobId });
    const bulkId = (viaBulk as { id: string }).id;

    const hashA = await redis.hgetall(`{${prefix}}:intake:${viaAdd.id}`);
    const hashB = await redis.hgetall(`{${prefix}}:intake:${bulkId}`);
    expect(Object.keys(hashB).sort()).toEqual(Object.keys(hashA).sort());
    const same = (h: Record<string, string>) => ({ ...h, data: undefined, timestamp: undefined, deid: undefined, opts: undefined });
    expect(same(hashB)).toEqual(same(hashA));
    const opts = (h: Record<string, string>) => ({
      ...(JSON.parse(h['opts']!) as Record<string, unknown>),
      jobId: undefined,
      de: undefined,
    });
    expect(opts(hashB)).toEqual(opts(hashA));
    expect(hashB['deid']).toBe(b);

    const wait = await redis.lrange(`{${prefix}}:intake:wait`, 0, -1);
    expect(wait).toEqual(expect.arrayContaining([viaAdd.id, bulkId]));
    expect(await redis.pttl(`{${prefix}}:intake:de:${b}`)).toBeGreaterThan(3_500_000);
    const events = await redis.xrange(`{${prefix}}:intake:events`, '-', '+');
    const kinds = (id: string) => events.filter(([, f]) => f.includes(id)).map(([, f]) => f[1]);
    expect(kinds(bulkId)).toEqual(kinds(viaAdd.id!));
    expect(kinds(viaAdd.id!).length).toBeGreaterThan(0);

    const read = await Job.fromId(queue, bulkId);
    expect(read?.data).toEqual(data(b));
    expect(read?.deduplicationId).toBe(b);
  });

  it.each([
    ['the seam script', () => scriptBulkAdder(queue, redis)],
    ['the public fallback (queue.addBulk)', () => publicBulkAdder(queue, redis)],
  ])('%s answers the stored copy for a duplicate, added by queue.add or in the same batch', async (_name, adder) => {
    const [a, b] = [eventId(), eventId()];
    const first = await queue.add('delivery', data(a), intakeJobOptions(a, 'x1', 3_600_000));
    const results = await adder()([
      { name: 'delivery', data: data(a), opts: intakeJobOptions(a, 'x2', 3_600_000) },
      { name: 'delivery', data: data(b), opts: intakeJobOptions(b, 'x3', 3_600_000) },
      { name: 'delivery', data: data(b), opts: intakeJobOptions(b, 'x4', 3_600_000) },
    ]);
    expect(results).toEqual([{ id: first.id }, { id: intakeJobOptions(b, 'x3', 1).jobId }, { id: intakeJobOptions(b, 'x3', 1).jobId }]);
  });
});

describe('job hashes and failed sets', () => {
  it('reads what BullMQ loads: data, tries, reason, stack, finish time, failed-set score', async () => {
    const q = new Queue(`seam-read-${n++}`, { connection: redis, prefix: bullPrefix(prefix) });
    try {
      const job = await q.add('x', { hello: 'world' }, { jobId: 'j1', attempts: 3 });
      await failJobs(q, 1, 'broken for good');
      const loaded = (await Job.fromId(q, job.id!))!;
      expect(await readJobData(redis, prefix, q.name, 'j1')).toBe(JSON.stringify({ hello: 'world' }));
      expect(await readJobData(redis, prefix, q.name, 'nope')).toBeUndefined();
      const [fields] = await readFailedJobs(redis, prefix, [{ queueName: q.name, jobId: 'j1' }]);
      expect(fields).toEqual({
        data: JSON.stringify({ hello: 'world' }),
        attemptsMade: loaded.attemptsMade,
        failedReason: loaded.failedReason,
        lastStack: loaded.stacktrace?.at(-1) ?? null,
        finishedOn: loaded.finishedOn,
      });
      expect(fields!.lastStack).toContain('broken for good');
      const failed = await q.getFailed();
      const ids = await failedJobIds(redis, prefix, [q.name]);
      expect(ids.map((r) => r.jobId)).toEqual(failed.map((j) => j.id));
      expect(await failedAt(redis, prefix, q.name, 'j1')).toBe(ids[0]!.failedAt);
      expect(await failedAt(redis, prefix, q.name, 'nope')).toBeUndefined();
    } finally {
      await q.close();
    }
  });
});

describe('delayedUntil', () => {
  it('reads when a delayed job runs next, as BullMQ scores it: the add time plus the delay', async () => {
    const q = new Queue(`seam-delay-${n++}`, { connection: redis, prefix: bullPrefix(prefix) });
    try {
      const before = Date.now();
      const job = await q.add('x', {}, { jobId: 'd1', delay: 60_000 });
      await q.add('x', {}, { jobId: 'd2', delay: 60_000, timestamp: job.timestamp });
      expect(await q.getJobState('d1')).toBe('delayed');
      expect(await delayedUntil(redis, prefix, q.name, 'd1')).toBe(job.timestamp + 60_000);
      // Two jobs due in the same millisecond differ only in the low bits BullMQ orders them by.
      expect(await delayedUntil(redis, prefix, q.name, 'd2')).toBe(job.timestamp + 60_000);
      expect(job.timestamp).toBeGreaterThanOrEqual(before);
      await q.add('x', {}, { jobId: 'w1' });
      expect(await delayedUntil(redis, prefix, q.name, 'w1')).toBeUndefined();
    } finally {
      await q.close();
    }
  });
});

describe('retry with fresh attempts', () => {
  it('leaves a dead letter as job.retry does, drops the given data field and stall count, clears its first failure, in one script', async () => {
    const q = new Queue(`seam-retry-${n++}`, { connection: redis, prefix: bullPrefix(prefix) });
    try {
      await q.add('x', { keep: 1, failed: { reason: 'r' } }, { jobId: 'mine', attempts: 2 });
      await q.add('x', { keep: 1 }, { jobId: 'theirs', attempts: 2 });
      await failJobs(q, 2);
      await recordFirstFailure(redis, prefix, q.name, 'mine', 123);
      await recordPermanentFailure(redis, prefix, q.name, 'mine', 123);
      await redis.hset(`{${prefix}}:${q.name}:mine`, 'stc', '3');
      // BullMQ's own public retry of the other, for comparison.
      await (await Job.fromId(q, 'theirs'))!.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });

      expect(
        await retryFailedJob(q, redis, 'mine', {
          dropDataField: 'failed',
          firstFailureKey: firstFailureKey(prefix, q.name),
          permanentFailureKey: permanentFailureKey(prefix, q.name),
        }),
      ).toBe(true);
      const [mine, theirs] = [(await Job.fromId(q, 'mine'))!, (await Job.fromId(q, 'theirs'))!];
      expect(await mine.getState()).toBe(await theirs.getState());
      expect(await mine.getState()).toBe('waiting');
      expect(mine.data).toEqual({ keep: 1 });
      expect({ atm: mine.attemptsMade, ats: mine.attemptsStarted, finishedOn: mine.finishedOn, stc: mine.stalledCounter }).toEqual({
        atm: theirs.attemptsMade,
        ats: theirs.attemptsStarted,
        finishedOn: theirs.finishedOn,
        stc: 0,
      });
      expect(await redis.hget(firstFailureKey(prefix, q.name), 'mine')).toBeNull();
      // Failed for good no more: run again, it is judged afresh.
      expect(await redis.hget(permanentFailureKey(prefix, q.name), 'mine')).toBeNull();
      // No longer a dead letter: a second retry finds nothing to do and changes nothing.
      expect(await retryFailedJob(q, redis, 'mine', { dropDataField: 'failed', firstFailureKey: firstFailureKey(prefix, q.name) })).toBe(
        false,
      );
      expect(await retryFailedJob(q, redis, 'gone', { firstFailureKey: firstFailureKey(prefix, q.name) })).toBe(false);
    } finally {
      await q.close();
    }
  });

  it('lets exactly one of two concurrent retries of the same dead letter through', async () => {
    const q = new Queue(`seam-race-${n++}`, { connection: redis, prefix: bullPrefix(prefix) });
    try {
      await q.add('x', { v: 1 }, { jobId: 'r1', attempts: 1 });
      await failJobs(q, 1);
      const other = redis.duplicate();
      try {
        const results = await Promise.all([
          retryFailedJob(q, redis, 'r1', { firstFailureKey: firstFailureKey(prefix, q.name) }),
          retryFailedJob(q, other, 'r1', { firstFailureKey: firstFailureKey(prefix, q.name) }),
        ]);
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await q.getWaitingCount()).toBe(1);
      } finally {
        await other.quit();
      }
    } finally {
      await q.close();
    }
  });
});
