import { randomBytes } from 'node:crypto';
import type { JobsOptions } from 'bullmq';
import { projectKey, type RedisClient } from '@vouchflow/core';
import type { HandlerJobData } from './handler-jobs.js';

/*
 * A unit of work is one handler's effect for one business fact (a loyalty
 * transaction, else an event). Its once-only record is one Redis key per
 * (handler, business fact):
 *
 *   run:<owner>:<token>:<since>:<attempt>   a run holds the claim
 *   done:<owner>:<at>:<attempts>            the effect happened (kept for the once-only window)
 *
 * `owner` is the unit's job id (the same for its inline first try and the job
 * that may follow it), `token` is one run's own. A claim is a lease: its run
 * renews it (every third of the lease, all claims of a process in one round
 * trip) for as long as the run lives, like BullMQ's job locks, so no fixed TTL
 * can run out under a slow handler, and a claim whose process died lapses
 * after one lease. `done` and `release` are written only by the claim's
 * holder: a run that finds another token in the record has lost its claim and
 * writes nothing (the caller counts it).
 *
 * Only this module writes or parses these strings: everyone else reads the
 * decoded {@link UnitRecord}.
 *
 * Every operation of a process goes into one batch per event-loop turn: the
 * claims, renewals and records of concurrent deliveries (and their delivery
 * index entries) cost one Lua call, as the ingress batches its adds.
 */

/** Key of the hash counting, per handler, the units recorded done since the deployment began. */
const doneTotalsKey = (queuePrefix: string): string => projectKey(queuePrefix, 'once-done-total');

/** Key of the once-only record of a handler and a business fact. */
export const onceKey = (queuePrefix: string, handler: string, businessKey: string): string =>
  projectKey(queuePrefix, 'once', handler, businessKey);

/** A unit's once-only record, decoded. */
export type UnitRecord =
  | {
      state: 'running';
      /** The unit (handler job id) whose run holds the claim. */
      owner: string;
      /** Epoch ms the run claimed it; undefined in records written before it was kept. */
      since: number | undefined;
      /** The try that runs. */
      attempt: number | undefined;
    }
  | {
      state: 'done';
      /** The unit (or replay) that did the effect. */
      owner: string;
      /** Epoch ms it was recorded; undefined in records written before it was kept. */
      at: number | undefined;
      /** Tries it took. */
      attempts: number | undefined;
    };

const num = (s: string | undefined): number | undefined => (s === undefined || s === '' ? undefined : Number(s));

/** Decodes a record's value; undefined for anything else. Accepts the older `run:<owner>` and `done:<owner>`. */
export function decodeUnitRecord(value: string | null | undefined): UnitRecord | undefined {
  if (!value) return undefined;
  const [state, owner = '', a, b, c] = value.split(':');
  if (state === 'done') return { state: 'done', owner, at: num(a), attempts: num(b) };
  if (state === 'run') return { state: 'running', owner, since: num(b), attempt: num(c) };
  return undefined;
}

// ---------------------------------------------------------------------------
// Attempts: a unit's tries, inline (before its job existed) and from its job

/** Tries a unit made before its job existed (its inline first try). */
export const triesBeforeJob = (data: Pick<HandlerJobData, 'attemptOffset'>): number => data.attemptOffset ?? 0;

/** Tries a unit has made, given BullMQ's count for its job. */
export const unitAttemptsMade = (jobAttemptsMade: number, data: Pick<HandlerJobData, 'attemptOffset'>): number =>
  jobAttemptsMade + triesBeforeJob(data);

/** All the tries a unit gets, given its job's `attempts` option. */
export const unitMaxAttempts = (jobAttempts: number | undefined, data: Pick<HandlerJobData, 'attemptOffset'>): number | undefined =>
  jobAttempts === undefined ? undefined : jobAttempts + triesBeforeJob(data);

/** A unit that goes on as a job after `made` tries inline: its data and options, with the tries it has left. */
export function continuedAsJob(
  data: HandlerJobData,
  opts: JobsOptions,
  made: number,
  maxAttempts: number,
): { data: HandlerJobData; opts: JobsOptions } {
  return { data: { ...data, attemptOffset: made }, opts: { ...opts, attempts: Math.max(1, maxAttempts - made) } };
}

// ---------------------------------------------------------------------------
// The protocol, batched

/*
 * One call for a batch of operations. KEYS: one key per operation, then the
 * done-totals hash. ARGV[1]: the operations, one per line, each six fields
 * separated by '|' (op|owner|token|ms|a|b); one argument rather than six per
 * operation, because building each argument of a command costs the client
 * more than its bytes. No field can hold '|' or a newline: owners are job ids
 * (event ids with anything unsafe percent-encoded), tokens hex, handlers
 * `[a-z0-9_-]`, the rest digits and ':'.
 *   claim   a = now, b = attempt     → {'claimed'} | {'done', owner} | {'busy', owner, pttl}
 *   renew                            → {'ok'} | {'lost'}
 *   done    a = now, b = handler, token '' for a replay (no claim) → {'ok'} | {'lost'}
 *   release                          → {'ok'} | {'lost'}
 *   set     owner = value            → {'ok'}
 *   index   owner = member, a = score, b = most members kept → {'ok'}: a sorted set
 *           entry (the event index), the oldest trimmed, older than `ms` dropped, the key expiring after `ms`
 * `attempts` of a done record travels in the owner field as owner:attempts.
 */
const BATCH = `
local totals = KEYS[#KEYS]
local out = {}
local i = 0
for line in string.gmatch(ARGV[1], '[^\\n]+') do
  i = i + 1
  local op, owner, token, ms, a, b = string.match(line, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  local key = KEYS[i]
  if op == 'set' then
    redis.call('SET', key, owner, 'PX', ms)
    out[i] = {'ok'}
  elseif op == 'index' then
    redis.call('ZADD', key, a, owner)
    redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (tonumber(a) - tonumber(ms)))
    local extra = redis.call('ZCARD', key) - tonumber(b)
    if extra > 0 then redis.call('ZREMRANGEBYRANK', key, 0, extra - 1) end
    redis.call('PEXPIRE', key, ms)
    out[i] = {'ok'}
  elseif op == 'claim' then
    local v = redis.call('GET', key)
    local state, holder
    if v then state, holder = string.match(v, '^(%a+):([^:]*)') end
    if state == 'done' then
      out[i] = {'done', holder or ''}
    elseif state == 'run' then
      out[i] = {'busy', holder or '', redis.call('PTTL', key)}
    else
      redis.call('SET', key, 'run:' .. owner .. ':' .. token .. ':' .. a .. ':' .. b, 'PX', ms)
      out[i] = {'claimed'}
    end
  else
    local mine = false
    if token == '' then
      mine = true
    else
      local v = redis.call('GET', key)
      local prefix = 'run:' .. owner .. ':' .. token .. ':'
      mine = v ~= false and string.sub(v, 1, #prefix) == prefix
    end
    if not mine then
      out[i] = {'lost'}
    elseif op == 'renew' then
      redis.call('PEXPIRE', key, ms)
      out[i] = {'ok'}
    elseif op == 'release' then
      redis.call('DEL', key)
      out[i] = {'ok'}
    else
      redis.call('SET', key, 'done:' .. owner .. ':' .. a, 'PX', ms)
      redis.call('HINCRBY', totals, b, 1)
      out[i] = {'ok'}
    end
  end
end
return out
`;

const COMMAND = 'vouchflowUnitBatch';

type Reply = [string, string?, number?];

interface Op {
  key: string;
  args: [string, string, string, string, string, string];
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
}

/** What a claim that was not granted says. */
export type ClaimRefusal =
  /** The effect already happened, by unit `by`. */
  | { status: 'done'; by: string }
  /** Another run (a twin, or an earlier run of this unit still going) holds the claim, for `retryInMs` more unless renewed. */
  | { status: 'busy'; by: string; retryInMs: number };

/** A claim held by one run. Its lease is renewed until {@link Claim.done} or {@link Claim.release}. */
export interface Claim {
  readonly key: string;
  readonly owner: string;
  /** Set once a renewal or a record found that another run holds the record: this run must not record anything. */
  readonly lost: boolean;
  /** Records the effect (only if this run still holds the claim); resolves false when the claim was lost. */
  done(attempts: number): Promise<boolean>;
  /** Gives the claim back so another run may take it; resolves false when it was lost already. */
  release(): Promise<boolean>;
}

export interface UnitRecordsOptions {
  /** A claim's lease: renewed every third of it while its run lives; a dead process's claims lapse after it. */
  leaseMs: number;
  /** How long a done record is kept (the once-only window). */
  keepMs: number;
  /** Told, once per claim, that a run lost its claim (at a renewal or at its record). */
  onLost?: (claim: { key: string; owner: string; handler: string }) => void;
}

/** The once-only records of one deployment, as a worker process uses them. */
export interface UnitRecords {
  /** Claims a unit's record for one run of it; a refusal says why not. */
  claim(unit: { key: string; owner: string; handler: string; attempt: number }): Promise<Claim | ClaimRefusal>;
  /** Records an operator's replay done: it ran without a claim (replay overrides the once-only rule). */
  recordReplay(unit: { key: string; owner: string; handler: string; attempts: number }): Promise<void>;
  /** Writes a plain key in the same batch (the delivery index). */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Adds `member` to the sorted set `key` with `score` in the same batch (the
   * event index): members scored more than `ttlMs` before it go, then the
   * lowest beyond `max`; the key expires `ttlMs` after its newest write.
   * `member` must not hold '|' or a newline.
   */
  index(key: string, member: string, score: number, max: number, ttlMs: number): Promise<void>;
  /** Claims held by runs of this process. */
  readonly held: number;
  /** Stops renewing (claims held lapse after one lease). Pending operations are still sent. */
  close(): Promise<void>;
}

const ms = (n: number): string => String(Math.max(1, Math.round(n)));

/** The unit records of the deployment whose keys start with `queuePrefix`, for one process. */
export function unitRecords(redis: RedisClient, queuePrefix: string, options: UnitRecordsOptions): UnitRecords {
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { lua: BATCH });
  const send = (redis as unknown as Record<string, (...a: string[]) => Promise<Reply[]>>)[COMMAND]!.bind(redis);
  const totals = doneTotalsKey(queuePrefix);
  const processTag = randomBytes(4).toString('hex');
  let runs = 0;
  let pending: Op[] = [];
  let scheduled = false;
  const inFlight = new Set<Promise<void>>();

  async function flush(batch: Op[]): Promise<void> {
    try {
      const ops = batch.map((o) => o.args.join('|')).join('\n');
      const replies = await send(String(batch.length + 1), ...batch.map((o) => o.key), totals, ops);
      batch.forEach((o, i) => o.resolve(replies[i] ?? ['lost']));
    } catch (err) {
      for (const o of batch) o.reject(err as Error);
    }
  }

  const run = (key: string, args: Op['args']): Promise<Reply> =>
    new Promise<Reply>((resolve, reject) => {
      pending.push({ key, args, resolve, reject });
      if (scheduled) return;
      scheduled = true;
      // After this turn's I/O callbacks: every unit that settled in this turn joins the batch.
      setImmediate(() => {
        scheduled = false;
        const batch = pending;
        pending = [];
        const sent: Promise<void> = flush(batch).finally(() => inFlight.delete(sent));
        inFlight.add(sent);
      });
    });

  interface Held {
    key: string;
    owner: string;
    token: string;
    handler: string;
    lost: boolean;
  }
  const held = new Set<Held>();
  const markLost = (h: Held) => {
    if (h.lost) return;
    h.lost = true;
    held.delete(h);
    options.onLost?.({ key: h.key, owner: h.owner, handler: h.handler });
  };

  const renewer = setInterval(
    () => {
      for (const h of held) {
        run(h.key, ['renew', h.owner, h.token, ms(options.leaseMs), '', '']).then(
          ([status]) => {
            if (status === 'lost' && held.has(h)) markLost(h);
          },
          // A renewal Redis did not answer: the next one tries again; the lease outlasts two of them.
          () => {},
        );
      }
    },
    Math.max(10, Math.floor(options.leaseMs / 3)),
  );
  renewer.unref();

  return {
    get held() {
      return held.size;
    },
    async claim({ key, owner, handler, attempt }) {
      const token = `${processTag}${(runs++).toString(36)}`;
      const [status, by = '', pttl = 0] = await run(key, ['claim', owner, token, ms(options.leaseMs), String(Date.now()), String(attempt)]);
      if (status === 'done') return { status: 'done', by };
      if (status === 'busy') return { status: 'busy', by, retryInMs: Math.max(0, Number(pttl)) };
      const h: Held = { key, owner, token, handler, lost: false };
      held.add(h);
      const end = async (args: Op['args']): Promise<boolean> => {
        if (h.lost) return false;
        held.delete(h);
        const [result] = await run(key, args);
        if (result === 'lost') markLost(h);
        return result === 'ok';
      };
      return {
        key,
        owner,
        get lost() {
          return h.lost;
        },
        done: (attempts) => end(['done', `${owner}`, token, ms(options.keepMs), `${Date.now()}:${attempts}`, handler]),
        release: () => end(['release', owner, token, '', '', '']),
      };
    },
    async recordReplay({ key, owner, handler, attempts }) {
      await run(key, ['done', owner, '', ms(options.keepMs), `${Date.now()}:${attempts}`, handler]);
    },
    async set(key, value, ttlMs) {
      await run(key, ['set', value, '', ms(ttlMs), '', '']);
    },
    async index(key, member, score, max, ttlMs) {
      await run(key, ['index', member, '', ms(ttlMs), String(Math.round(score)), String(Math.max(1, Math.floor(max)))]);
    },
    async close() {
      clearInterval(renewer);
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** Reading the records, for operator tools. */
export interface UnitRecordReader {
  read(key: string): Promise<UnitRecord | undefined>;
  /** Per handler, the units recorded done since the deployment began (inline or from a job). */
  doneTotals(): Promise<Record<string, number>>;
}

export function unitRecordReader(redis: RedisClient, queuePrefix: string): UnitRecordReader {
  return {
    async read(key) {
      return decodeUnitRecord(await redis.get(key));
    },
    async doneTotals() {
      const raw = await redis.hgetall(doneTotalsKey(queuePrefix));
      return Object.fromEntries(Object.entries(raw).map(([handler, n]) => [handler, Number(n)]));
    },
  };
}
