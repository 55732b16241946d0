import { randomBytes } from 'node:crypto';
import type { JobsOptions } from 'bullmq';
import { projectKey, type RedisClient } from '@vouchflow/core';
import type { HandlerJobData } from './handler-jobs.js';

/** An owner as a record stores it: `~<event segment>` for the unit's own job id. */
function compactOwner(owner: string, handler: string): string {
  if (!owner.endsWith(`-${handler}`) || !owner.startsWith('ev-')) return owner;
  return `~${owner.slice(3, owner.length - handler.length - 1)}`;
}

/** An owner as stored, expanded back to the job id. */
function expandOwner(stored: string, handler: string): string {
  return stored.startsWith('~') ? `ev-${stored.slice(1)}-${handler}` : stored;
}

/*
 * A unit of work is one handler's effect for one business fact (a loyalty
 * transaction, else an event). The once-only records of a business fact are
 * one Redis hash, a field per handler, so a fact handled by two handlers costs
 * one key (and one TTL), not two:
 *
 *   {prefix}:once:<business key>   <handler> → r:<owner>:<token>:<attempt>:<lease end, epoch s>   a run holds the claim
 *                                             d:<owner>:<at, epoch ms base 36>:<attempts>       the effect happened
 *
 * An owner that is the unit's own job id for that handler (`ev-<event>-<handler>`,
 * nearly always) is written `~<event>`. Short values matter: Redis keeps a
 * hash whose values all fit in 64 bytes as one compact listpack, and turns it
 * into a table several times its size for good once one value is longer.
 *
 * `owner` is the unit's job id (the same for its inline first try and the job
 * that may follow it), `token` is one run's own. A claim is a lease: its run
 * renews it (every third of the lease, all claims of a process in one round
 * trip) for as long as the run lives, like BullMQ's job locks, so no fixed TTL
 * can run out under a slow handler, and a claim whose process died lapses
 * after one lease. The lease's end is in the value (Redis's own clock), since
 * a hash field has no TTL of its own; the key lives as long as the once-only
 * window from its last claim or done record. `done` and
 * `release` are written only by the claim's holder: a run that finds another
 * token in the record has lost its claim and writes nothing (the caller counts
 * it).
 *
 * A unit is in doubt when its claim is taken over from an `r:` record whose
 * lease ran out: that run started and never ended (its process died or
 * froze), so its effect may or may not have happened. The claim that takes it
 * over says so, naming that run (owner and attempt), at no extra round trip.
 * That is why a claim keeps its key for the once-only window, not one lease:
 * the retry of a unit whose process died may come long after the lease (a
 * stalled job, a backoff), and must still find the record that puts it in
 * doubt. A run that gives a claim back still in doubt (it could not settle the
 * doubt) writes the earlier run's record back, lapsed.
 *
 * Only this module writes or parses these strings: everyone else reads the
 * decoded {@link UnitRecord}.
 *
 * Every operation of a process goes into one batch per event-loop turn: the
 * claims, renewals and records of concurrent deliveries (and their kept
 * delivery records) cost one Lua call, as the ingress batches its adds.
 */

/** The done-totals field counting deliveries kept (processed by intake); no handler name holds ':'. */
export const INTAKE_TOTAL = ':intake';

/** Key of the hash counting, per handler, the units recorded done since the deployment began (and deliveries processed). */
const doneTotalsKey = (queuePrefix: string): string => projectKey(queuePrefix, 'once-done-total');

/** Key of the once-only records (a field per handler) of a business fact. */
export const onceKey = (queuePrefix: string, businessKey: string): string => projectKey(queuePrefix, 'once', businessKey);

/** A unit's once-only record, decoded. */
export type UnitRecord =
  | {
      state: 'running';
      /** The unit (handler job id) whose run holds the claim. */
      owner: string;
      /** The try that runs. */
      attempt: number | undefined;
      /** Epoch ms (Redis's clock, to the second) the claim lapses unless renewed. */
      leaseEnds: number;
    }
  | {
      /**
       * A run started and never ended (its process died or froze past its
       * lease): its effect may or may not have happened. The claim is free:
       * the next run takes it over and is told it is in doubt (it asks the
       * handler's `wasDone`, if any, before running again).
       */
      state: 'in-doubt';
      /** The unit (handler job id) whose run it was. */
      owner: string;
      /** That run's try. */
      attempt: number | undefined;
      /**
       * Epoch ms (Redis's clock, to the second) its lease ended, unrenewed;
       * undefined when a later run failed before it could settle the doubt
       * and gave the claim back still in doubt (that record keeps no time).
       */
      leaseEnded: number | undefined;
    }
  | {
      state: 'done';
      /** The unit (or replay) that did the effect. */
      owner: string;
      /** Epoch ms it was recorded. */
      at: number | undefined;
      /** Tries it took. */
      attempts: number | undefined;
    };

const num = (s: string | undefined): number | undefined => (s === undefined || s === '' ? undefined : Number(s));

/**
 * Decodes the record of `handler`; undefined for anything else. A claim
 * whose lease ended before `now` is `in-doubt`, as the next claim will find
 * it: its claim is free, but not as if nothing had run.
 */
export function decodeUnitRecord(value: string | null | undefined, handler: string, now = Date.now()): UnitRecord | undefined {
  if (!value) return undefined;
  const [state, stored = '', a, b, c] = value.split(':');
  const owner = expandOwner(stored, handler);
  if (state === 'd') return { state: 'done', owner, at: a ? parseInt(a, 36) : undefined, attempts: num(b) };
  if (state !== 'r') return undefined;
  // The claim script reads a lease it cannot parse as 0, as `release` writes for a claim given back in doubt.
  const leaseEnds = (Number(c) || 0) * 1000;
  if (leaseEnds >= now) return { state: 'running', owner, attempt: num(b), leaseEnds };
  return { state: 'in-doubt', owner, attempt: num(b), leaseEnded: leaseEnds > 0 ? leaseEnds : undefined };
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
 * done-totals hash. ARGV[1]: the operations as JSON, an array of seven
 * strings each ([op, handler, owner, token, ms, a, b]); one argument rather
 * than seven per operation, because building each argument of a command costs
 * the client more than its bytes, and JSON because Redis decodes it in C
 * (cjson), where matching a Lua pattern per field cost the script more than
 * its Redis commands. ARGV[2…]: binary values, which cannot travel in that
 * text. Owners and tokens go into records separated by ':': owners are job
 * ids (event ids with anything unsafe percent-encoded), tokens hex, handlers
 * `[a-z0-9_-]`. Times of leases are Redis's (TIME), so processes whose clocks
 * differ agree on when a claim lapses.
 *   claim   a = ms to keep the key, b = attempt → {'claimed'} | {'claimed', owner, attempt} (taken over
 *           from a lapsed run: in doubt) | {'done', owner} | {'busy', owner, ms left}
 *   renew                            → {'ok'} | {'lost'}
 *   done    a = at:attempts, token '' for a replay (no claim) → {'ok'} | {'lost'}
 *   release a = '' (the field goes), or owner:token:attempt of the run to leave in doubt (written
 *           back lapsed) → {'ok'} | {'lost'}
 *   set     a = index of the value in ARGV; a new key counts one for `handler`'s total if given → {'ok'}
 *   handover  deletes the key if it lapses within ms anyway (or never would) → {'ok'}
 *   index   owner = member, a = score, b = most members kept → {'ok'}: a sorted set entry (the
 *           event index), members scored more than ms before the batch's newest dropped, then the
 *           lowest beyond b; the key expires ms after its newest write
 * Owners arrive and leave as stored (see compactOwner).
 *
 * Each `redis.call` from Lua costs Redis a few microseconds beyond the
 * command, so what the operations on one key share is done once per batch,
 * after them all: a record's TTL (a delivery's units share one key), an index
 * key's trimming (a busy customer's deliveries share one), the totals.
 * Counted with callgrind on redis-server, per delivery of two units (claims,
 * kept record, index, done records): 431k instructions before, 385k with
 * this and the JSON operations, in batches of 6 deliveries as the worker
 * makes them; about a third less in batches of 50 deliveries of one customer.
 */
const BATCH = `
local totals = KEYS[#KEYS]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Work on a key that the operations of a batch share is done once, after them all: a
-- delivery's units share their record's key, and a busy customer's deliveries an index key.
-- Numbers go to Redis as the text they came in: Lua would format each one with printf.
local ttls, ttlOrder = {}, {}
local function atLeast(key, ms, text)
  local had = ttls[key]
  if had == nil then ttlOrder[#ttlOrder + 1] = key end
  if had == nil or had[1] < ms then ttls[key] = {ms, text} end
end
local counts, countOrder = {}, {}
local function count(field)
  if counts[field] == nil then counts[field] = 0; countOrder[#countOrder + 1] = field end
  counts[field] = counts[field] + 1
end
local trims, trimOrder = {}, {}
-- A lease's end, in whole seconds, rounded up.
local function leaseEnd(ms)
  return math.floor((now + ms + 999) / 1000)
end
local out = {}
for i, o in ipairs(cjson.decode(ARGV[1])) do
  local op, field, owner, token, msText, a, b = o[1], o[2], o[3], o[4], o[5], o[6], o[7]
  local key = KEYS[i]
  local ms = tonumber(msText)
  if op == 'set' then
    -- Nearly always a new key: written only if it is, in one call, and written over otherwise.
    if field == '' or not redis.call('SET', key, ARGV[tonumber(a)], 'PX', msText, 'NX') then
      redis.call('SET', key, ARGV[tonumber(a)], 'PX', msText)
    else
      count(field)
    end
    out[i] = {'ok'}
  elseif op == 'index' then
    redis.call('ZADD', key, a, owner)
    local trim = trims[key]
    if trim == nil then
      trims[key] = {tonumber(a), ms, tonumber(b), msText}
      trimOrder[#trimOrder + 1] = key
    else
      trim[1] = math.max(trim[1], tonumber(a))
      trim[2] = ms
      trim[3] = tonumber(b)
      trim[4] = msText
    end
    out[i] = {'ok'}
  elseif op == 'handover' then
    local left = redis.call('PTTL', key)
    if left == -1 or (left > 0 and left <= ms) then redis.call('DEL', key) end
    out[i] = {'ok'}
  elseif op == 'claim' then
    local v = redis.call('HGET', key, field)
    local state, holder, lease
    if v then
      state, holder = string.match(v, '^(%a+):([^:]*)')
      lease = (tonumber(string.match(v, ':(%d+)$')) or 0) * 1000
    end
    if state == 'd' then
      out[i] = {'done', holder or ''}
    elseif state == 'r' and lease > now then
      out[i] = {'busy', holder or '', lease - now}
    else
      redis.call('HSET', key, field, 'r:' .. owner .. ':' .. token .. ':' .. b .. ':' .. leaseEnd(ms))
      atLeast(key, tonumber(a), a)
      if state == 'r' then
        out[i] = {'claimed', holder or '', tonumber(string.match(v, '^r:[^:]*:[^:]*:(%d+):')) or 0}
      else
        out[i] = {'claimed'}
      end
    end
  else
    local v = false
    local mine = false
    if token == '' then
      mine = true
    else
      v = redis.call('HGET', key, field)
      local prefix = 'r:' .. owner .. ':' .. token .. ':'
      mine = v ~= false and string.sub(v, 1, #prefix) == prefix
    end
    if not mine then
      out[i] = {'lost'}
    elseif op == 'renew' then
      redis.call('HSET', key, field, string.match(v, '^(.*:)%d+$') .. leaseEnd(ms))
      atLeast(key, ms, msText)
      out[i] = {'ok'}
    elseif op == 'release' then
      if a == '' then
        redis.call('HDEL', key, field)
      else
        redis.call('HSET', key, field, 'r:' .. a .. ':0')
      end
      out[i] = {'ok'}
    else
      redis.call('HSET', key, field, 'd:' .. owner .. ':' .. a)
      atLeast(key, ms, msText)
      count(field)
      out[i] = {'ok'}
    end
  end
end
for _, key in ipairs(ttlOrder) do
  local ttl = ttls[key]
  if redis.call('PTTL', key) < ttl[1] then redis.call('PEXPIRE', key, ttl[2]) end
end
for _, field in ipairs(countOrder) do
  redis.call('HINCRBY', totals, field, counts[field])
end
for _, key in ipairs(trimOrder) do
  local newest, ms, most, msText = trims[key][1], trims[key][2], trims[key][3], trims[key][4]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (newest - ms))
  local extra = redis.call('ZCARD', key) - most
  if extra > 0 then redis.call('ZREMRANGEBYRANK', key, 0, extra - 1) end
  redis.call('PEXPIRE', key, msText)
end
return out
`;

const COMMAND = 'vouchflowUnitBatch';

type Reply = [string, string?, number?];

interface Op {
  key: string;
  /** op, handler (the record's field), owner, token, ms, a, b */
  args: [string, string, string, string, string, string, string];
  /** A binary value (`set`). */
  value?: Buffer;
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
}

/** What a claim that was not granted says. */
export type ClaimRefusal =
  /** The effect already happened, by unit `by`. */
  | { status: 'done'; by: string }
  /** Another run (a twin, or an earlier run of this unit still going) holds the claim, for `retryInMs` more unless renewed. */
  | { status: 'busy'; by: string; retryInMs: number };

/** A run that started and never ended (its process died or froze): its effect may or may not have happened. */
export interface UnitInDoubt {
  /** The unit (handler job id) whose run it was. */
  owner: string;
  /** That run's try. */
  attempt: number;
}

/** A claim held by one run. Its lease is renewed until {@link Claim.done} or {@link Claim.release}. */
export interface Claim {
  readonly key: string;
  readonly owner: string;
  /** Set when this claim took over from a run whose lease ran out: the unit is in doubt. */
  readonly inDoubt?: UnitInDoubt;
  /** Set once a renewal or a record found that another run holds the record: this run must not record anything. */
  readonly lost: boolean;
  /** Records the effect (only if this run still holds the claim); resolves false when the claim was lost. */
  done(attempts: number): Promise<boolean>;
  /**
   * Gives the claim back so another run may take it; resolves false when it
   * was lost already. `{ inDoubt: true }` on a claim that is in doubt keeps
   * the doubt: the next claim is told of the same earlier run, as this one was.
   */
  release(options?: { inDoubt?: boolean }): Promise<boolean>;
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
  /** Writes a plain key in the same batch (a kept delivery); if the key is new, counts one in `countAs`'s total. */
  set(key: string, value: Buffer, ttlMs: number, countAs?: string): Promise<void>;
  /** Deletes `key` in the same batch unless it would outlive `ttlMs` (a key another one takes over from). */
  handover(key: string, ttlMs: number): Promise<void>;
  /**
   * Adds `member` to the sorted set `key` with `score` in the same batch (the
   * event index): members scored more than `ttlMs` before it go, then the
   * lowest beyond `max`; the key expires `ttlMs` after its newest write.
   */
  index(key: string, member: string, score: number, max: number, ttlMs: number): Promise<void>;
  /** Claims held by runs of this process. */
  readonly held: number;
  /** Stops renewing (claims held lapse after one lease). Pending operations are still sent. */
  close(): Promise<void>;
}

/**
 * A string cjson can decode: JSON.stringify writes a lone surrogate (which an
 * event id from a delivery may hold) as a `\uD800`-style escape that cjson refuses,
 * failing the whole batch. It becomes U+FFFD, as it would in any UTF-8 argument.
 */
const wellFormed = (s: string): string => (s as string & { toWellFormed(): string }).toWellFormed();

const ms = (n: number): string => String(Math.max(1, Math.round(n)));

/** The unit records of the deployment whose keys start with `queuePrefix`, for one process. */
export function unitRecords(redis: RedisClient, queuePrefix: string, options: UnitRecordsOptions): UnitRecords {
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { lua: BATCH });
  const send = (redis as unknown as Record<string, (...a: Array<string | Buffer>) => Promise<Reply[]>>)[COMMAND]!.bind(redis);
  const totals = doneTotalsKey(queuePrefix);
  // With the owner, tells this run from any other: short, because it is stored (see the record's 64-byte budget).
  const processTag = randomBytes(3).toString('hex');
  let runs = 0;
  let pending: Op[] = [];
  let scheduled = false;
  const inFlight = new Set<Promise<void>>();

  async function flush(batch: Op[]): Promise<void> {
    try {
      const values: Buffer[] = [];
      const ops = JSON.stringify(
        batch.map((o) => {
          if (o.value) {
            values.push(o.value);
            // ARGV[1] is the operations; the values follow.
            o.args[5] = String(values.length + 1);
          }
          return o.args.map(wellFormed);
        }),
      );
      const replies = await send(String(batch.length + 1), ...batch.map((o) => o.key), totals, ops, ...values);
      batch.forEach((o, i) => o.resolve(replies[i] ?? ['lost']));
    } catch (err) {
      for (const o of batch) o.reject(err as Error);
    }
  }

  const run = (key: string, args: Op['args'], value?: Buffer): Promise<Reply> =>
    new Promise<Reply>((resolve, reject) => {
      pending.push({ key, args, value, resolve, reject });
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
    options.onLost?.({ key: h.key, owner: expandOwner(h.owner, h.handler), handler: h.handler });
  };

  const renewer = setInterval(
    () => {
      for (const h of held) {
        run(h.key, ['renew', h.handler, h.owner, h.token, ms(options.leaseMs), '', '']).then(
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
      const stored = compactOwner(owner, handler);
      const [status, by = '', n = 0] = await run(key, [
        'claim',
        handler,
        stored,
        token,
        ms(options.leaseMs),
        ms(options.keepMs),
        String(attempt),
      ]);
      if (status === 'done') return { status: 'done', by: expandOwner(by, handler) };
      if (status === 'busy') return { status: 'busy', by: expandOwner(by, handler), retryInMs: Math.max(0, Number(n)) };
      // Taken over from a run whose lease ran out: the stored owner and attempt, to write back if the doubt stays.
      const doubt = by === '' ? undefined : { stored: by, attempt: Number(n) };
      const h: Held = { key, owner: stored, token, handler, lost: false };
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
        ...(doubt ? { inDoubt: { owner: expandOwner(doubt.stored, handler), attempt: doubt.attempt } } : {}),
        get lost() {
          return h.lost;
        },
        done: (attempts) => end(['done', handler, stored, token, ms(options.keepMs), `${Date.now().toString(36)}:${attempts}`, '']),
        release: ({ inDoubt = false } = {}) =>
          end(['release', handler, stored, token, '', inDoubt && doubt ? `${doubt.stored}:-:${doubt.attempt}` : '', '']),
      };
    },
    async recordReplay({ key, owner, handler, attempts }) {
      await run(key, ['done', handler, compactOwner(owner, handler), '', ms(options.keepMs), `${Date.now().toString(36)}:${attempts}`, '']);
    },
    async set(key, value, ttlMs, countAs = '') {
      await run(key, ['set', countAs, '', '', ms(ttlMs), '', ''], value);
    },
    async handover(key, ttlMs) {
      await run(key, ['handover', '', '', '', ms(ttlMs), '', '']);
    },
    async index(key, member, score, max, ttlMs) {
      await run(key, ['index', '', member, '', ms(ttlMs), String(Math.round(score)), String(Math.max(1, Math.floor(max)))]);
    },
    async close() {
      clearInterval(renewer);
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** Reading the records, for operator tools. */
export interface UnitRecordReader {
  /** The record of `handler` for a business fact. */
  read(businessKey: string, handler: string): Promise<UnitRecord | undefined>;
  /** Per handler, the units recorded done since the deployment began (inline or from a job); {@link INTAKE_TOTAL}: deliveries processed. */
  doneTotals(): Promise<Record<string, number>>;
}

export function unitRecordReader(redis: RedisClient, queuePrefix: string): UnitRecordReader {
  return {
    async read(businessKey, handler) {
      return decodeUnitRecord(await redis.hget(onceKey(queuePrefix, businessKey), handler), handler);
    },
    async doneTotals() {
      const raw = await redis.hgetall(doneTotalsKey(queuePrefix));
      return Object.fromEntries(Object.entries(raw).map(([handler, n]) => [handler, Number(n)]));
    },
  };
}
