import { createRequire } from 'node:module';
import { Job, type JobsOptions, type Queue } from 'bullmq';
import type { RedisClient } from '@vouchflow/core';

/*
 * Adds many jobs with ONE Redis command instead of one command per job.
 *
 * `queue.addBulk` pipelines one EVALSHA per job; on the ingress's hot path the
 * client-side cost of those commands (building, writing, parsing each reply)
 * was larger than the rest of a request. Here BullMQ itself still decides
 * everything about each job: `Job` builds it, the Redis backend's
 * `addJobToTransaction` encodes its arguments exactly as for `queue.add`
 * (captured through a stand-in client instead of being sent), and BullMQ's own
 * `addStandardJob` Lua script stores it, run once per job inside one wrapper
 * script. Deduplication therefore stays atomic per job, as with `queue.add`.
 *
 * Only standard jobs (no delay, priority, parent or flow) are supported; that
 * is all the intake queue needs. The test "bulk-add stores jobs exactly as
 * queue.add does" compares the Redis state field by field, so a BullMQ upgrade
 * that changes this seam fails loudly.
 */

const require = createRequire(import.meta.url);
const { addStandardJob } = require('bullmq/dist/cjs/scripts/addStandardJob-9.js') as {
  addStandardJob: { name: string; content: string; keys: number };
};

const COMMAND = 'vouchflowAddStandardJobs';
const ARGS_PER_JOB = 3;

/**
 * BullMQ's script as `local function addStandardJob(KEYS, ARGV)`. Its helper
 * functions (the `-- Includes` between its argument decoding and its main
 * part) are defined once, outside that function, instead of once per job:
 * creating their closures was most of Redis's time per job. Should a helper
 * use one of the per-job locals it would now read an undeclared global, which
 * Redis refuses with an error (never a silent change); if the script's layout
 * is not the expected one, the whole script is wrapped unchanged.
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
const WRAPPER = `
${perJobFunction(addStandardJob.content)}
local blob = ARGV[1]
local pos = 1
local results = {}
while pos <= #blob do
  local args = {}
  for k = 1, ${ARGS_PER_JOB} do
    local b1, b2, b3, b4 = string.byte(blob, pos, pos + 3)
    local len = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    args[k] = string.sub(blob, pos + 4, pos + 3 + len)
    pos = pos + 4 + len
  end
  local ok, result = pcall(addStandardJob, KEYS, args)
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
}

/** What `addBulk` resolves to for each job: the id BullMQ answered (the existing job's for a deduplicated one), or why it failed. */
export type BulkResult = { id: string } | { error: Error };

/**
 * Returns `addBulk(jobs)`: stores `jobs` in `queue` in one round trip. Resolves
 * with one result per job, in order; rejects only when the round trip itself fails.
 */
export function bulkAdder<T>(queue: Queue<T>, redis: RedisClient): (jobs: BulkJob<T>[]) => Promise<BulkResult[]> {
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: addStandardJob.keys, lua: WRAPPER });
  const send = (redis as unknown as Record<string, BatchCommand>)[COMMAND]!.bind(redis);
  const backend = (queue as unknown as { backend: RedisBackend }).backend;

  return async (jobs) => {
    // The same wait for the connection that queue.add does before writing.
    await queue.waitUntilReady();
    const captured: unknown[][] = [];
    // Answers at once: BullMQ's objects for each job are then garbage before the round trip
    // instead of surviving collections while it waits. The replies are read below.
    const stub = {
      runCommand: (name: string, args: unknown[]) => {
        if (!name.startsWith(`${addStandardJob.name}:`)) throw new Error(`bulk-add supports standard jobs only, got ${name}`);
        if (args.length !== addStandardJob.keys + ARGS_PER_JOB) throw new Error(`bulk-add expected ${ARGS_PER_JOB} arguments per job`);
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
    if (captured.length !== jobs.length) throw new Error(`bulk-add captured ${captured.length} of ${jobs.length} jobs`);

    const keys = captured[0]!.slice(0, addStandardJob.keys);
    const blob = frame(captured.map((args) => args.slice(addStandardJob.keys)));
    const count = captured.length;
    captured.length = 0;
    const replies = await send(...keys, blob);
    return Array.from({ length: count }, (_unused, i): BulkResult => {
      const reply = replies[i];
      if (reply instanceof Error) return { error: reply };
      // BullMQ's add script answers a negative code for a parent problem (not used here).
      if (typeof reply === 'number' && reply < 0) return { error: new Error(`BullMQ ${addStandardJob.name} answered ${reply}`) };
      if (reply === undefined) return { error: new Error('no reply for this job') };
      return { id: String(reply) };
    });
  };
}
