import { projectKey, type RedisClient } from '@vouchflow/core';

/*
 * Once-only records: one key per (handler, business fact), holding either
 * `run:<jobId>` (a run holds the claim; expires after the run's longest
 * possible duration, so a crashed run's claim frees itself) or `done:<jobId>`
 * (the effect happened; kept for the dedup window). Claiming is one Lua
 * script, so two twins starting at the same moment cannot both run.
 *
 * Recording a unit done also counts it in one hash per deployment (field: the
 * handler), in the same script: first tries that succeed inline leave no job
 * behind, so BullMQ's completed counts cannot say how much work was done.
 */

/** Key of the hash counting, per handler, the units recorded done since the deployment began. */
const doneTotalsKey = (queuePrefix: string): string => projectKey(queuePrefix, 'once-done-total');

/** Key of the once-only record of a handler and a business fact. */
export const onceKey = (queuePrefix: string, handler: string, businessKey: string): string =>
  projectKey(queuePrefix, 'once', handler, businessKey);

export type ClaimResult =
  | { status: 'claimed' }
  /** The effect already happened, by job `by`. */
  | { status: 'done'; by: string }
  /** Another job (a twin) holds the claim for `retryInMs` more at most. */
  | { status: 'busy'; by: string; retryInMs: number };

const CLAIM = `
local v = redis.call('GET', KEYS[1])
if v then
  local state, owner = string.match(v, '^(%a+):(.*)$')
  if state == 'done' then return {'done', owner or ''} end
  if state == 'run' and owner ~= ARGV[1] then return {'busy', owner or '', redis.call('PTTL', KEYS[1])} end
end
redis.call('SET', KEYS[1], 'run:' .. ARGV[1], 'PX', ARGV[2])
return {'claimed'}
`;

// Releases only our own claim: a twin may have claimed since ours expired.
const RELEASE = `
if redis.call('GET', KEYS[1]) == 'run:' .. ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

// Claims the once-only records of several units of one delivery at once,
// and optionally writes one more key (the delivery index) in the same trip.
// KEYS: n record keys, then the extra key (or none). ARGV: n, then per unit
// (unitId, ttlMs), then the extra value and its ttl when KEYS has n + 1.
const CLAIM_MANY = `
local n = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  local id, ttl = ARGV[2 * i], ARGV[2 * i + 1]
  local v = redis.call('GET', KEYS[i])
  local state, owner
  if v then state, owner = string.match(v, '^(%a+):(.*)$') end
  if state == 'done' then
    out[i] = {'done', owner or ''}
  elseif state == 'run' and owner ~= id then
    out[i] = {'busy', owner or '', redis.call('PTTL', KEYS[i])}
  else
    redis.call('SET', KEYS[i], 'run:' .. id, 'PX', ttl)
    out[i] = {'claimed'}
  end
end
if #KEYS > n then redis.call('SET', KEYS[n + 1], ARGV[2 * n + 2], 'PX', ARGV[2 * n + 3]) end
return out
`;

// Ends several claims at once. KEYS: the records, then the done-totals hash.
// ARGV: keepMs, then per record (unitId, 'done' | 'release', handler).
const FINISH_MANY = `
local totals = KEYS[#KEYS]
for i = 1, #KEYS - 1 do
  local id, op, handler = ARGV[3 * i - 1], ARGV[3 * i], ARGV[3 * i + 1]
  if op == 'done' then
    redis.call('SET', KEYS[i], 'done:' .. id, 'PX', ARGV[1])
    redis.call('HINCRBY', totals, handler, 1)
  elseif redis.call('GET', KEYS[i]) == 'run:' .. id then
    redis.call('DEL', KEYS[i])
  end
end
return #KEYS - 1
`;

type OnceCommands = {
  vouchflowOnceClaimMany(...args: Array<string | number>): Promise<Array<[string, string?, number?]>>;
  vouchflowOnceFinishMany(...args: Array<string | number>): Promise<number>;
  vouchflowOnceClaim(key: string, jobId: string, ttlMs: number): Promise<[string, string?, number?]>;
  vouchflowOnceRelease(key: string, jobId: string): Promise<number>;
};

function commands(redis: RedisClient): OnceCommands {
  const r = redis as RedisClient & Partial<OnceCommands>;
  if (!r.vouchflowOnceClaim) {
    redis.defineCommand('vouchflowOnceClaim', { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand('vouchflowOnceRelease', { numberOfKeys: 1, lua: RELEASE });
    redis.defineCommand('vouchflowOnceClaimMany', { lua: CLAIM_MANY });
    redis.defineCommand('vouchflowOnceFinishMany', { lua: FINISH_MANY });
  }
  return redis as RedisClient & OnceCommands;
}

/** The once-only bookkeeping of one deployment. */
export interface OnceRecords {
  /** Claims `key` for `jobId` for `ttlMs`, unless the effect already happened or a twin holds it. */
  claim(key: string, jobId: string, ttlMs: number): Promise<ClaimResult>;
  /** Records the effect as done, for `keepMs`, and counts it for `handler`. */
  complete(key: string, jobId: string, keepMs: number, handler: string): Promise<void>;
  /** Gives a claim back after a failed try, so a twin may run meanwhile. */
  release(key: string, jobId: string): Promise<void>;
  /**
   * {@link OnceRecords.claim} for several units in one round trip, and
   * optionally one more key written alongside (`also`).
   */
  claimMany(
    units: ReadonlyArray<{ key: string; jobId: string; ttlMs: number }>,
    also?: { key: string; value: string; ttlMs: number },
  ): Promise<ClaimResult[]>;
  /**
   * Ends several claims in one round trip: `done` records the effect for
   * `keepMs` and counts it for its handler, `release` gives the claim back.
   */
  finishMany(units: ReadonlyArray<{ key: string; jobId: string; op: 'done' | 'release'; handler: string }>, keepMs: number): Promise<void>;
  /** `done:<jobId>`, `run:<jobId>` or undefined; for operator tools. */
  read(key: string): Promise<string | undefined>;
  /** Per handler, the units recorded done since the deployment began (inline or from a job); for operator tools. */
  doneTotals(): Promise<Record<string, number>>;
}

/** The once-only records of the deployment whose keys start with `queuePrefix`. */
export function onceRecords(redis: RedisClient, queuePrefix: string): OnceRecords {
  const cmd = commands(redis);
  const totals = doneTotalsKey(queuePrefix);
  return {
    async claim(key, jobId, ttlMs) {
      const [status, by = '', pttl = 0] = await cmd.vouchflowOnceClaim(key, jobId, Math.max(1, Math.round(ttlMs)));
      if (status === 'done') return { status, by };
      if (status === 'busy') return { status, by, retryInMs: Math.max(0, Number(pttl)) };
      return { status: 'claimed' };
    },
    async complete(key, jobId, keepMs, handler) {
      await cmd.vouchflowOnceFinishMany(2, key, totals, Math.max(1, Math.round(keepMs)), jobId, 'done', handler);
    },
    async release(key, jobId) {
      await cmd.vouchflowOnceRelease(key, jobId);
    },
    async claimMany(units, also) {
      const keys = units.map((u) => u.key);
      if (also) keys.push(also.key);
      const args = units.flatMap((u) => [u.jobId, Math.max(1, Math.round(u.ttlMs))]);
      if (also) args.push(also.value, Math.max(1, Math.round(also.ttlMs)));
      if (keys.length === 0) return [];
      const raw = await cmd.vouchflowOnceClaimMany(keys.length, ...keys, units.length, ...args);
      return raw.map(([status, by = '', pttl = 0]) =>
        status === 'done'
          ? { status, by }
          : status === 'busy'
            ? { status, by, retryInMs: Math.max(0, Number(pttl)) }
            : { status: 'claimed' as const },
      );
    },
    async finishMany(units, keepMs) {
      if (units.length === 0) return;
      await cmd.vouchflowOnceFinishMany(
        units.length + 1,
        ...units.map((u) => u.key),
        totals,
        Math.max(1, Math.round(keepMs)),
        ...units.flatMap((u) => [u.jobId, u.op, u.handler]),
      );
    },
    async read(key) {
      return (await redis.get(key)) ?? undefined;
    },
    async doneTotals() {
      const raw = await redis.hgetall(totals);
      return Object.fromEntries(Object.entries(raw).map(([handler, n]) => [handler, Number(n)]));
    },
  };
}
