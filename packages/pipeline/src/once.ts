import { projectKey, type RedisClient } from '@vouchflow/core';

/*
 * Once-only records: one key per (handler, business fact), holding either
 * `run:<jobId>` (a run holds the claim; expires after the run's longest
 * possible duration, so a crashed run's claim frees itself) or `done:<jobId>`
 * (the effect happened; kept for the dedup window). Claiming is one Lua
 * script, so two twins starting at the same moment cannot both run.
 */

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

type OnceCommands = {
  vouchflowOnceClaim(key: string, jobId: string, ttlMs: number): Promise<[string, string?, number?]>;
  vouchflowOnceRelease(key: string, jobId: string): Promise<number>;
};

function commands(redis: RedisClient): OnceCommands {
  const r = redis as RedisClient & Partial<OnceCommands>;
  if (!r.vouchflowOnceClaim) {
    redis.defineCommand('vouchflowOnceClaim', { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand('vouchflowOnceRelease', { numberOfKeys: 1, lua: RELEASE });
  }
  return redis as RedisClient & OnceCommands;
}

/** The once-only bookkeeping of one deployment. */
export interface OnceRecords {
  /** Claims `key` for `jobId` for `ttlMs`, unless the effect already happened or a twin holds it. */
  claim(key: string, jobId: string, ttlMs: number): Promise<ClaimResult>;
  /** Records the effect as done, for `keepMs`. */
  complete(key: string, jobId: string, keepMs: number): Promise<void>;
  /** Gives a claim back after a failed try, so a twin may run meanwhile. */
  release(key: string, jobId: string): Promise<void>;
  /** `done:<jobId>`, `run:<jobId>` or undefined; for operator tools. */
  read(key: string): Promise<string | undefined>;
}

export function onceRecords(redis: RedisClient): OnceRecords {
  const cmd = commands(redis);
  return {
    async claim(key, jobId, ttlMs) {
      const [status, by = '', pttl = 0] = await cmd.vouchflowOnceClaim(key, jobId, Math.max(1, Math.round(ttlMs)));
      if (status === 'done') return { status, by };
      if (status === 'busy') return { status, by, retryInMs: Math.max(0, Number(pttl)) };
      return { status: 'claimed' };
    },
    async complete(key, jobId, keepMs) {
      await redis.set(key, `done:${jobId}`, 'PX', Math.max(1, Math.round(keepMs)));
    },
    async release(key, jobId) {
      await cmd.vouchflowOnceRelease(key, jobId);
    },
    async read(key) {
      return (await redis.get(key)) ?? undefined;
    },
  };
}
