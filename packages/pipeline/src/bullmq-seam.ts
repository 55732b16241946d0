/*
 * The one place that knows BullMQ's private parts: its Lua script files, its
 * key suffixes and the fields of its job hashes. Everything else in the
 * repository goes through BullMQ's public API or through this module, and a
 * test (`packages/pipeline/test/seam-grep.test.ts`) fails when another file
 * names one of these internals.
 *
 * It is written against exactly one BullMQ version, pinned in every
 * package.json. `packages/pipeline/test/bullmq-seam.test.ts` checks each
 * function here against that version's public API (a job added in bulk is
 * stored field by field as `queue.add` stores it; a retried dead letter reads
 * back as `job.retry` leaves it). An upgrade that changes what is relied on
 * here fails those tests, and `checkBullmqSeam()` makes the ingress fall back
 * to `queue.addBulk` rather than run a script it does not know.
 */
import { createRequire } from 'node:module';
import { Job, QueueKeys, type JobsOptions, type Queue } from 'bullmq';
import { bullPrefix, INTAKE_QUEUE, type RedisClient } from '@vouchflow/core';
import { intakeDeduplicationId } from './intake.js';

/** The BullMQ version this module was written and contract-tested against; package.json files pin the same. */
export const PINNED_BULLMQ_VERSION = '6.7.0';

const require = createRequire(import.meta.url);

interface ScriptFile {
  name: string;
  content: string;
  keys: number;
}

/** The version of BullMQ installed beside this package. */
export function installedBullmqVersion(): string {
  return (require('bullmq/package.json') as { version: string }).version;
}

function loadScript(file: string, exportName: string): ScriptFile | undefined {
  try {
    const mod = require(`bullmq/dist/cjs/scripts/${file}.js`) as Record<string, ScriptFile | undefined>;
    const script = mod[exportName];
    return script && typeof script.content === 'string' ? script : undefined;
  } catch {
    return undefined;
  }
}

/** Whether this seam can use the installed BullMQ's internals; when it cannot, why (naming the version). */
export type SeamCheck = { ok: true; version: string } | { ok: false; version: string; reason: string };

/**
 * Checks, once at start, that the installed BullMQ is the pinned one and that
 * its scripts are where and what this seam expects.
 */
export function checkBullmqSeam(): SeamCheck {
  const version = installedBullmqVersion();
  if (version !== PINNED_BULLMQ_VERSION) {
    return { ok: false, version, reason: `BullMQ ${version} is installed; the seam was written for ${PINNED_BULLMQ_VERSION}` };
  }
  const add = loadScript('addStandardJob-9', 'addStandardJob');
  const retry = loadScript('reprocessJob-9', 'reprocessJob');
  if (!add || add.keys !== 9 || !retry || retry.keys !== 9) {
    return { ok: false, version, reason: `BullMQ ${version} does not ship the scripts the seam expects` };
  }
  return { ok: true, version };
}

// ---------------------------------------------------------------------------
// Keys and job hashes

/** A job's hash key. */
const jobKey = (queuePrefix: string, queueName: string, jobId: string): string => `${bullPrefix(queuePrefix)}:${queueName}:${jobId}`;
/** A queue's failed set (zset: job id → when it failed). */
const failedKey = (queuePrefix: string, queueName: string): string => `${bullPrefix(queuePrefix)}:${queueName}:failed`;

/** How long a queue's deduplication id is still remembered, in ms; undefined when it is not (any more). */
export async function deduplicationTtlMs(
  redis: RedisClient,
  queuePrefix: string,
  queueName: string,
  deduplicationId: string,
): Promise<number | undefined> {
  const ttl = await redis.pttl(`${bullPrefix(queuePrefix)}:${queueName}:de:${deduplicationId}`);
  return ttl < 0 ? undefined : ttl;
}

/** A job's `data` field as stored (JSON), without loading the job; undefined when the job is gone. */
export async function readJobData(redis: RedisClient, queuePrefix: string, queueName: string, jobId: string): Promise<string | undefined> {
  return (await redis.hget(jobKey(queuePrefix, queueName, jobId), 'data')) ?? undefined;
}

/** A failed job as the dead-letter store shows it. */
export interface FailedJobFields {
  /** The job's data as stored (JSON); undefined when the job is gone. */
  data: string | undefined;
  /** Tries BullMQ counted (not the ones made before the job existed). */
  attemptsMade: number;
  failedReason: string | undefined;
  /** The last stack BullMQ kept, if any. */
  lastStack: string | null;
  /** Epoch ms; undefined when not recorded. */
  finishedOn: number | undefined;
}

const FAILED_FIELDS = ['data', 'atm', 'failedReason', 'stacktrace', 'finishedOn'] as const;

function lastOf(stacktrace: string | null | undefined): string | null {
  try {
    const list: unknown = JSON.parse(stacktrace ?? '[]');
    return Array.isArray(list) && list.length > 0 ? String(list[list.length - 1]) : null;
  } catch {
    return null;
  }
}

/** Reads several failed jobs in one round trip, without loading them through BullMQ (which decodes more than we show). */
export async function readFailedJobs(
  redis: RedisClient,
  queuePrefix: string,
  refs: ReadonlyArray<{ queueName: string; jobId: string }>,
): Promise<FailedJobFields[]> {
  if (refs.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const ref of refs) pipeline.hmget(jobKey(queuePrefix, ref.queueName, ref.jobId), ...FAILED_FIELDS);
  const results = (await pipeline.exec()) ?? [];
  return refs.map((_ref, i) => {
    const [err, value] = results[i] ?? [null, null];
    if (err) throw err;
    const [data, atm, failedReason, stacktrace, finishedOn] = (value ?? []) as Array<string | null>;
    return {
      data: data ?? undefined,
      attemptsMade: Number(atm) || 0,
      failedReason: failedReason ?? undefined,
      lastStack: lastOf(stacktrace),
      finishedOn: Number(finishedOn) || undefined,
    };
  });
}

/** The ids in each queue's failed set that failed at or after `since`, newest first per queue, one round trip. */
export async function failedJobIds(
  redis: RedisClient,
  queuePrefix: string,
  queueNames: readonly string[],
  since?: number,
): Promise<Array<{ queueName: string; jobId: string; failedAt: number }>> {
  const pipeline = redis.pipeline();
  for (const name of queueNames) pipeline.zrevrangebyscore(failedKey(queuePrefix, name), '+inf', since ?? '-inf', 'WITHSCORES');
  const results = (await pipeline.exec()) ?? [];
  const out: Array<{ queueName: string; jobId: string; failedAt: number }> = [];
  results.forEach(([err, value], i) => {
    if (err) throw err;
    const flat = value as string[];
    for (let j = 0; j + 1 < flat.length; j += 2) out.push({ queueName: queueNames[i]!, jobId: flat[j]!, failedAt: Number(flat[j + 1]) });
  });
  return out;
}

/** When a job entered its queue's failed set; undefined when it is not there. */
export async function failedAt(redis: RedisClient, queuePrefix: string, queueName: string, jobId: string): Promise<number | undefined> {
  const score = await redis.zscore(failedKey(queuePrefix, queueName), jobId);
  return score === null ? undefined : Number(score);
}

/** A queue's delayed set (zset: job id → when it runs next, times 0x1000, plus an ordering counter). */
const delayedKey = (queuePrefix: string, queueName: string): string => `${bullPrefix(queuePrefix)}:${queueName}:delayed`;

/** Epoch ms at which a delayed job runs next (BullMQ keeps no such field on the job); undefined when it is not delayed. */
export async function delayedUntil(redis: RedisClient, queuePrefix: string, queueName: string, jobId: string): Promise<number | undefined> {
  const score = await redis.zscore(delayedKey(queuePrefix, queueName), jobId);
  // BullMQ's getDelayedScore: the timestamp times 0x1000, the low 12 bits ordering jobs due in the same millisecond.
  return score === null ? undefined : Math.floor(Number(score) / 0x1000);
}

// ---------------------------------------------------------------------------
// Retry with fresh attempts, atomically

/**
 * BullMQ's reprocessJob script as a function, run by a wrapper that first
 * checks the job is in the failed set and then, in the same script, forgets
 * its stall count, drops one field of its data and hands it to BullMQ's
 * script. Two operators retrying the same dead letter at once: one wins, the
 * other finds it gone from the failed set; nothing is changed for a job that
 * is not retried.
 *
 * KEYS: BullMQ's nine, then the first-failure hash, then the permanent-failure
 * hash. ARGV: BullMQ's six, then the data field to drop ('' for none).
 */
function retryWrapper(reprocess: ScriptFile): string {
  return `
local function reprocessJob(KEYS, ARGV)
${reprocess.content}
end
local jobKey, failed, firstFailed, permanent = KEYS[1], KEYS[3], KEYS[10], KEYS[11]
local jobId, drop = ARGV[1], ARGV[7]
if redis.call('EXISTS', jobKey) == 0 then return -1 end
if not redis.call('ZSCORE', failed, jobId) then return -3 end
redis.call('HDEL', jobKey, 'stc')
if drop ~= '' then
  local raw = redis.call('HGET', jobKey, 'data')
  if raw then
    local ok, data = pcall(cjson.decode, raw)
    if ok and type(data) == 'table' and data[drop] ~= nil then
      data[drop] = nil
      redis.call('HSET', jobKey, 'data', cjson.encode(data))
    end
  end
end
local result = reprocessJob({KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]},
  {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]})
if result == 1 then
  redis.call('HDEL', firstFailed, jobId)
  redis.call('HDEL', permanent, jobId)
end
return result
`;
}

const RETRY_COMMAND = 'vouchflowRetryFailedJob';

/**
 * Puts a dead letter (a job in its queue's failed set) back to wait with
 * fresh attempts and a fresh stall count, dropping `dropDataField` from its
 * data, and clears its entries in `firstFailureKey` and `permanentFailureKey`:
 * one script, so a concurrent retry or purge sees either all of it or none. Resolves false when the job is
 * not (or no longer) in the failed set.
 */
export async function retryFailedJob(
  queue: Queue,
  redis: RedisClient,
  jobId: string,
  {
    dropDataField,
    firstFailureKey,
    permanentFailureKey = firstFailureKey,
    lifo = false,
  }: { dropDataField?: string; firstFailureKey: string; permanentFailureKey?: string; lifo?: boolean },
): Promise<boolean> {
  const reprocess = loadScript('reprocessJob-9', 'reprocessJob');
  if (!reprocess) throw new Error(`BullMQ ${installedBullmqVersion()}: reprocessJob script not found (the seam needs updating)`);
  if (!(RETRY_COMMAND in redis)) redis.defineCommand(RETRY_COMMAND, { numberOfKeys: 11, lua: retryWrapper(reprocess) });
  const keys = [
    queue.toKey(jobId),
    queue.keys['events']!,
    queue.toKey('failed'),
    queue.keys['wait']!,
    queue.keys['meta']!,
    queue.keys['active']!,
    queue.keys['marker']!,
    queue.keys['prioritized']!,
    queue.keys['pc']!,
    firstFailureKey,
    permanentFailureKey,
  ];
  const args = [jobId, lifo ? 'RPUSH' : 'LPUSH', 'failedReason', 'failed', '1', '1', dropDataField ?? ''];
  const run = (redis as unknown as Record<string, (...a: string[]) => Promise<number>>)[RETRY_COMMAND]!.bind(redis);
  return (await run(...keys, ...args)) === 1;
}

// ---------------------------------------------------------------------------
// Many jobs in one command

const ADD_COMMAND = 'vouchflowAddStandardJobs';
const ARGS_PER_JOB = 3;

// The names BullMQ gives a queue's own keys (`failed`, `meta`, `wait`, …), from its public QueueKeys.
const QUEUE_KEY_NAMES = new Set(Object.keys(new QueueKeys('').getKeys('q')));

/**
 * Whether `id`, read as a job id (a user's input: a URL, a CLI argument),
 * would name one of the queue's own keys instead of a job: `failed` reads the
 * failed set, `meta` the queue's settings hash. BullMQ's own ids are numbers
 * or custom ids without `:`, so such an id is never a job.
 */
export function namesQueueKey(id: string): boolean {
  return id.includes(':') || QUEUE_KEY_NAMES.has(id);
}

/** The id a bulk add answers for a job that was a duplicate of a kept delivery (never an id a job asks for). */
export const ALREADY_KEPT = 'already-kept';

/**
 * BullMQ's deduplication key of a delivery. The worker removes it once the
 * delivery is kept (its kept record refuses duplicates from then on), so one
 * processed event holds one key, not two.
 */
export const deduplicationKey = (queuePrefix: string, eventId: string): string =>
  `${bullPrefix(queuePrefix)}:${INTAKE_QUEUE}:de:${intakeDeduplicationId(eventId)}`;

/**
 * BullMQ's add script as `local function addStandardJob(KEYS, ARGV)`. Its
 * helper functions (the `-- Includes` between its argument decoding and its
 * main part) are defined once, outside that function, instead of once per
 * job: creating their closures was most of Redis's time per job. Should a
 * helper use one of the per-job locals it would now read an undeclared global,
 * which Redis refuses with an error (never a silent change); if the script's
 * layout is not the expected one, the whole script is wrapped unchanged.
 */
function perJobFunction(content: string): string {
  const lines = content.split('\n');
  const includes = lines.findIndex((l) => l.startsWith('-- Includes'));
  const main = lines.findIndex((l, i) => i > includes && /^if parentKey ~= nil then/.test(l));
  if (includes < 0 || main < 0) return `local function addStandardJob(KEYS, ARGV)\n${content}\nend`;
  return [
    'local rcall = redis.call',
    ...lines.slice(includes, main),
    'local function addStandardJob(KEYS, ARGV)',
    ...lines.slice(0, includes),
    ...lines.slice(main),
    'end',
  ].join('\n');
}

/**
 * BullMQ's script as a Lua function (KEYS and ARGV become its parameters),
 * called once per job. The jobs' arguments arrive as ONE binary argument:
 * each argument a 4-byte big-endian length and its bytes. One Buffer lives
 * outside the JavaScript heap while the round trip lasts, where the same
 * arguments as strings would be copied by every young-generation collection.
 */
const addWrapper = (add: ScriptFile): string => `
${perJobFunction(add.content)}
local blob = ARGV[1]
local pos = 1
local results = {}
while pos <= #blob do
  local args = {}
  for k = 1, ${ARGS_PER_JOB + 1} do
    local b1, b2, b3, b4 = string.byte(blob, pos, pos + 3)
    local len = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    args[k] = string.sub(blob, pos + 4, pos + 3 + len)
    pos = pos + 4 + len
  end
  -- The last argument is not BullMQ's: a key that, if it exists, makes this job a duplicate.
  local duplicateIf = table.remove(args)
  local ok, result
  if duplicateIf ~= '' and rcall('EXISTS', duplicateIf) == 1 then
    ok, result = true, '${ALREADY_KEPT}'
  else
    ok, result = pcall(addStandardJob, KEYS, args)
  end
  if ok then
    results[#results + 1] = result
  else
    results[#results + 1] = redis.error_reply(type(result) == 'table' and result.err or tostring(result))
  end
end
return results
`;

/** The arguments of every job, each as a 4-byte big-endian length and its bytes. */
function frame(jobsArgs: unknown[][]): Buffer {
  const parts = jobsArgs.flatMap((args) =>
    args.map((arg) => (typeof arg === 'string' || Buffer.isBuffer(arg) ? arg : String(arg as string | number))),
  );
  let size = 0;
  for (const part of parts) size += 4 + (typeof part === 'string' ? Buffer.byteLength(part) : part.length);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const part of parts) {
    const length = typeof part === 'string' ? out.write(part, at + 4) : part.copy(out, at + 4);
    out.writeUInt32BE(length, at);
    at += 4 + length;
  }
  return out;
}

type Reply = string | number | Error;
type BatchCommand = (...args: unknown[]) => Promise<Reply[]>;

/** The part of BullMQ's Redis backend used here (public, outside its backend interface). */
interface RedisBackend {
  addJobToTransaction(
    client: { runCommand(name: string, args: unknown[]): Promise<unknown> },
    job: ReturnType<Job['asJSON']>,
    jobId: string | undefined,
    parentKeyOpts?: { parentKey?: string; parentDependenciesKey?: string },
  ): Promise<string>;
}

export interface BulkJob<T> {
  name: string;
  data: T;
  opts: JobsOptions & { jobId: string };
  /**
   * A key whose existence makes this job a duplicate (nothing is added; the
   * result's id is then {@link ALREADY_KEPT}): a processed delivery's kept
   * record, which takes over from BullMQ's deduplication key.
   */
  duplicateIf?: string;
}

/** What a bulk add resolves to for each job: the id BullMQ answered (the existing job's for a deduplicated one), or why it failed. */
export type BulkResult = { id: string } | { error: Error };

/** Stores jobs; resolves with one result per job, in order; rejects only when the round trip itself fails. */
export type AddBulk<T> = (jobs: BulkJob<T>[]) => Promise<BulkResult[]>;

/**
 * Adds many standard jobs (no delay, priority, parent or flow) with ONE Redis
 * command instead of one per job. `queue.addBulk` pipelines one EVALSHA per
 * job; on the ingress's hot path the client-side cost of those commands
 * (building, writing, parsing each reply) was larger than the rest of a
 * request. BullMQ itself still decides everything about each job: `Job`
 * builds it, the Redis backend's `addJobToTransaction` encodes its arguments
 * exactly as for `queue.add` (captured through a stand-in client instead of
 * being sent), and BullMQ's own add script stores it, run once per job inside
 * one wrapper script. Deduplication stays atomic per job, as with `queue.add`.
 *
 * Throws when the seam does not match the installed BullMQ (see
 * {@link checkBullmqSeam}); use {@link publicBulkAdder} then.
 */
export function scriptBulkAdder<T>(queue: Queue<T>, redis: RedisClient): AddBulk<T> {
  const add = loadScript('addStandardJob-9', 'addStandardJob');
  if (!add) throw new Error(`BullMQ ${installedBullmqVersion()}: addStandardJob script not found (the seam needs updating)`);
  if (!(ADD_COMMAND in redis)) redis.defineCommand(ADD_COMMAND, { numberOfKeys: add.keys, lua: addWrapper(add) });
  const send = (redis as unknown as Record<string, BatchCommand>)[ADD_COMMAND]!.bind(redis);
  const backend = (queue as unknown as { backend: RedisBackend }).backend;

  return async (jobs) => {
    // The same wait for the connection that queue.add does before writing.
    await queue.waitUntilReady();
    const captured: unknown[][] = [];
    // Answers at once: BullMQ's objects for each job are then garbage before the round trip
    // instead of surviving collections while it waits. The replies are read below.
    const stub = {
      runCommand: (name: string, args: unknown[]) => {
        if (!name.startsWith(`${add.name}:`)) throw new Error(`bulk add supports standard jobs only, got ${name}`);
        if (args.length !== add.keys + ARGS_PER_JOB) throw new Error(`bulk add expected ${ARGS_PER_JOB} arguments per job`);
        captured.push(args);
        return Promise.resolve('');
      },
    };
    for (const { name, data, opts } of jobs) {
      const job = new Job(queue, name, data, opts, opts.jobId);
      // Its result is the stub's; a failure would show as a missing capture below.
      backend.addJobToTransaction(stub, job.asJSON(), job.id, { parentKey: undefined, parentDependenciesKey: '' }).catch(() => {});
    }
    // addJobToTransaction calls runCommand synchronously, before its first await.
    if (captured.length !== jobs.length) throw new Error(`bulk add captured ${captured.length} of ${jobs.length} jobs`);

    const keys = captured[0]!.slice(0, add.keys);
    const blob = frame(captured.map((args, i) => [...args.slice(add.keys), jobs[i]!.duplicateIf ?? '']));
    const count = captured.length;
    captured.length = 0;
    const replies = await send(...keys, blob);
    return Array.from({ length: count }, (_unused, i): BulkResult => {
      const reply = replies[i];
      if (reply instanceof Error) return { error: reply };
      // BullMQ's add script answers a negative code for a parent problem (not used here).
      if (typeof reply === 'number' && reply < 0) return { error: new Error(`BullMQ ${add.name} answered ${reply}`) };
      if (reply === undefined) return { error: new Error('no reply for this job') };
      return { id: String(reply) };
    });
  };
}

/** The same contract through BullMQ's public `queue.addBulk`: one pipelined command per job, slower, valid for any version. */
export function publicBulkAdder<T>(queue: Queue<T>, redis: RedisClient): AddBulk<T> {
  return async (jobs) => {
    // Not atomic with the add, unlike the script: a duplicate racing its original's
    // processing may be stored a second time, and its effects are then skipped by the
    // once-only records.
    const kept = await Promise.all(jobs.map(async (j) => j.duplicateIf !== undefined && (await redis.exists(j.duplicateIf)) === 1));
    const toAdd = jobs.filter((_j, i) => !kept[i]);
    // addBulk is one MULTI: it fails or succeeds as a whole.
    const added = await queue.addBulk(
      toAdd.map((j) => ({ name: j.name, data: j.data, opts: j.opts })) as Parameters<Queue<T>['addBulk']>[0],
    );
    let next = 0;
    return jobs.map((_j, i): BulkResult => {
      if (kept[i]) return { id: ALREADY_KEPT };
      const job = added[next++];
      return job?.id === undefined ? { error: new Error('no id for this job') } : { id: job.id };
    });
  };
}
